#include "harness/foundation/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <system_error>

#include "harness/foundation/error.h"

namespace clbench {

namespace fs = std::filesystem;

bool is_regular_file(const std::string& path, std::string* why) {
  std::error_code ec;
  const bool regular = fs::is_regular_file(path, ec);
  const bool absent =
      ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory;
  *why = ec && !absent ? " (" + ec.message() + ")" : "";
  return regular;
}

namespace {

// fsync of a file or folder; false when it cannot be opened or synced.
bool sync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

void write_atomically(const std::string& path,
                      const std::function<void(const std::string&)>& write) {
  const fs::path target(path);
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) {
    throw Error("cannot write " + path + ": cannot create folder " + folder.string() + " (" +
                ec.message() + ")");
  }
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  auto fail = [&](const std::string& why) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    return Error("cannot write " + path + ": " + why);
  };
  try {
    write(tmp);
  } catch (const std::exception& e) {
    throw fail(e.what());
  }
  if (!sync_path(tmp, O_RDONLY)) throw fail("cannot flush " + tmp + " to disk");
  fs::rename(tmp, target, ec);
  if (ec) throw fail(ec.message());
  sync_path(folder.string(), O_RDONLY | O_DIRECTORY);  // the rename itself, where the folder allows
}

void write_text_atomically(const std::string& path, const std::string& text) {
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw Error("write failed");
  });
}

}  // namespace clbench
