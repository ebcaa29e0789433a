// Shared by the libFuzzer targets in tests/fuzz/: a scratch folder per process, the input split
// into files, and invariant checks. A reader may only fail with clbench::Error; the targets catch
// that and nothing else, so any other exception, a crash, a sanitizer report, a leak, a hang or a
// failed FUZZ_CHECK is a finding.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include "datasets/readers/image_list.h"

// Aborts (a libFuzzer crash, with the input saved) when an accepted input breaks an invariant.
#define FUZZ_CHECK(cond)                                                                  \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)

namespace clbench::fuzz {

namespace fs = std::filesystem;

// The files of the multi-file targets are separated by this byte in the fuzz input.
inline constexpr char kSeparator = '\x01';

// <$CLBENCH_FUZZ_TMP or /dev/shm or the temp folder>/clbench-fuzz-<pid>: created on first use,
// removed at exit.
class Scratch {
 public:
  static const Scratch& get() {
    static const Scratch scratch;
    return scratch;
  }
  const std::string& dir() const { return dir_; }
  // <dir>/<name>
  std::string path(const std::string& name) const { return (fs::path(dir_) / name).string(); }

  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

 private:
  Scratch() {
    const char* env = std::getenv("CLBENCH_FUZZ_TMP");
    fs::path base = env != nullptr && *env != '\0' ? fs::path(env)
                    : fs::is_directory("/dev/shm") ? fs::path("/dev/shm")
                                                   : fs::temp_directory_path();
    dir_ = (base / ("clbench-fuzz-" + std::to_string(::getpid()))).string();
    fs::create_directories(dir_);
  }
  std::string dir_;
};

// Writes `bytes` to <scratch>/<name> and returns the path.
inline std::string write_file(const std::string& name, const std::string& bytes) {
  const std::string path = Scratch::get().path(name);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
  return path;
}

// Removes <scratch>/<name> (a list the input leaves out) and returns the path.
inline std::string remove_file(const std::string& name) {
  const std::string path = Scratch::get().path(name);
  std::error_code ec;
  fs::remove(path, ec);
  return path;
}

// The input cut at the first n-1 separators: at most n parts, the last keeping any later
// separators. Fewer than n parts when the input has fewer separators.
inline std::vector<std::string> split_input(const uint8_t* data, size_t size, size_t n) {
  std::vector<std::string> parts(1);
  for (size_t i = 0; i < size; ++i) {
    const char c = static_cast<char>(data[i]);
    if (c == kSeparator && parts.size() < n) {
      parts.emplace_back();
    } else {
      parts.back().push_back(c);
    }
  }
  return parts;
}

// The files of a multi-file input, and the options part after them.
struct Parts {
  std::vector<std::string> paths;  // <scratch>/<name>, one per name
  std::string options;  // what follows the last file's separator: letters that switch options on
  bool option(char c) const { return options.find(c) != std::string::npos; }
};

// Writes the first names.size() parts of the input to <scratch>/<names[i]>; a file the input
// leaves out is removed (so the "missing list file" paths are fuzzed too). A further part, if
// any, is the options string.
inline Parts write_parts(const uint8_t* data, size_t size, const std::vector<std::string>& names) {
  const auto parts = split_input(data, size, names.size() + 1);
  Parts out;
  for (size_t i = 0; i < names.size(); ++i)
    out.paths.push_back(i < parts.size() ? write_file(names[i], parts[i]) : remove_file(names[i]));
  if (parts.size() > names.size()) out.options = parts.back();
  return out;
}

// `s` starts with `prefix`.
inline bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// What every caller of a list reader relies on: `classes` labels, each named, both splits
// non-empty, every label in range and every path below `prefix`.
inline void check_records(const SplitRecords& s, int64_t classes, const std::string& prefix) {
  FUZZ_CHECK(s.num_classes == classes);
  FUZZ_CHECK(static_cast<int64_t>(s.class_names.size()) == classes);
  FUZZ_CHECK(!s.train.empty() && !s.test.empty());
  for (const auto* split : {&s.train, &s.test}) {
    for (const auto& r : *split) {
      FUZZ_CHECK(r.label >= 0 && r.label < classes);
      FUZZ_CHECK(starts_with(r.path, prefix));
      FUZZ_CHECK(!s.class_names[static_cast<size_t>(r.label)].empty());
    }
  }
}

}  // namespace clbench::fuzz
