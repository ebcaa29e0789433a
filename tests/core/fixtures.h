// Helpers shared by the core tests: a temp folder per test, an error-message check and small
// file writers/readers. Header-only; include it from tests/core/*.cpp.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "datasets/readers/jpeg.h"
#include "harness/foundation/error.h"

namespace clbench {
namespace testing {

using Bytes = std::vector<uint8_t>;

// A fresh folder per test, removed afterwards: <tmp>/clbench-<suite>-<test>-<pid>.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    static int count = 0;  // several folders in one test
    std::string name = std::string(info->test_suite_name()) + "-" + info->name();
    for (auto& c : name) {
      if (c == '/') c = '_';  // parameterised tests
    }
    dir_ = std::filesystem::temp_directory_path() /
           ("clbench-" + name + "-" + std::to_string(::getpid()) + "-" + std::to_string(count++));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~TempDir() { std::filesystem::remove_all(dir_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // `name` (may contain '/') inside the folder.
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  // The folder itself.
  std::string root() const { return dir_.string(); }
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path operator/(const std::string& name) const { return dir_ / name; }

 private:
  std::filesystem::path dir_;
};

// A test fixture owning a TempDir, for TEST_F suites.
class TempDirTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return dir_.path(name); }
  std::string root() const { return dir_.root(); }

 private:
  TempDir dir_;
};

// Expects `fn` to throw clbench::Error whose message contains every one of `parts`.
template <typename Fn>
void expect_error(Fn fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "expected clbench::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

inline void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

inline Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

// Each line followed by "\n".
inline void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path);
  for (const auto& l : lines) out << l << "\n";
  ASSERT_TRUE(out.good()) << path;
}

// A tiny 8x8 JPEG at `path` (parent folders created); `seed` varies the pixels.
inline void write_jpeg(const std::string& path, int seed) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  Bytes rgb(8 * 8 * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(seed * 40 + i);
  encode_jpeg(path, rgb, 8, 8, 90);
}

}  // namespace testing
}  // namespace clbench
