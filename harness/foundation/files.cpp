#include "harness/foundation/files.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "harness/foundation/error.h"

namespace clbench {

namespace fs = std::filesystem;

namespace {

std::string system_reason() {
  return std::strerror(errno);
}

// fsync of a file or folder; false when it cannot be opened or synced.
bool sync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

std::string folder_of(const std::string& path) {
  const fs::path p(path);
  return p.has_parent_path() ? p.parent_path().string() : ".";
}

}  // namespace

bool is_regular_file(const std::string& path, std::string* why) {
  std::error_code ec;
  const bool regular = fs::is_regular_file(path, ec);
  const bool absent =
      ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory;
  *why = ec && !absent ? " (" + ec.message() + ")" : "";
  return regular;
}

bool is_system_failure(int code) {
  return code == EMFILE || code == ENFILE || code == ENOMEM || code == EIO;
}

void check_readable(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::close(fd);
    return;
  }
  const int why = errno;
  const std::string message = "cannot open " + path + ": " + std::strerror(why);
  if (is_system_failure(why)) throw SystemError(message);
  throw Error(message);
}

void check_output(const std::string& path, const std::vector<std::string>& inputs) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (!ec && fs::exists(status) && !fs::is_regular_file(status)) {
    const char* what = fs::is_directory(status)        ? "a folder"
                       : fs::is_character_file(status) ? "a device"
                       : fs::is_block_file(status)     ? "a device"
                       : fs::is_fifo(status)           ? "a FIFO"
                       : fs::is_socket(status)         ? "a socket"
                                                       : "not a regular file";
    throw Error("refusing to write " + path + ": it exists and is " + what);
  }
  for (const auto& input : inputs) {
    if (!input.empty() && fs::exists(path, ec) && fs::equivalent(path, input, ec) && !ec) {
      throw Error("refusing to write " + path + ": it is an input of this command (" + input + ")");
    }
  }
}

FileWriter::FileWriter(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error("cannot create " + path + ": " + system_reason());
}

FileWriter::~FileWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void FileWriter::write(const void* data, size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error("cannot write " + path_ + ": " + system_reason());
    p += n;
    size -= static_cast<size_t>(n);
  }
}

void FileWriter::close() {
  if (fd_ < 0) return;
  const int fd = fd_;
  fd_ = -1;
  if (::fsync(fd) != 0) {
    const std::string why = system_reason();
    ::close(fd);
    throw Error("cannot write " + path_ + ": " + why);
  }
  if (::close(fd) != 0) throw Error("cannot write " + path_ + ": " + system_reason());
}

void write_atomically(const std::string& path, const std::function<void(const std::string&)>& write,
                      const std::vector<std::string>& inputs) {
  check_output(path, inputs);
  const std::string folder = folder_of(path);
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) {
    throw Error("cannot write " + path + ": cannot create folder " + folder + " (" + ec.message() +
                ")");
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
  if (!sync_path(tmp, O_RDONLY)) throw fail("cannot flush " + tmp + " to disk: " + system_reason());
  fs::rename(tmp, path, ec);
  if (ec) throw fail(ec.message());
  sync_path(folder, O_RDONLY | O_DIRECTORY);  // the rename itself, where the folder allows
}

void write_bytes_atomically(const std::string& path, const std::string& bytes,
                            const std::vector<std::string>& inputs) {
  write_atomically(
      path,
      [&](const std::string& tmp) {
        FileWriter out(tmp);
        out.write(bytes);
        out.close();
      },
      inputs);
}

void remove_stale_temporaries(const std::string& path) {
  const fs::path target(path);
  const std::string prefix = target.filename().string() + ".tmp.";
  std::error_code ec;
  for (auto it = fs::directory_iterator(folder_of(path), ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string pid_text = name.substr(prefix.size());
    if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stoll(pid_text));
    if (::kill(pid, 0) != 0 && errno == ESRCH) {
      std::error_code ignored;
      fs::remove(it->path(), ignored);
    }
  }
}

void require_writable_folder(const std::string& folder) {
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) throw Error("cannot write to " + folder + ": cannot create it (" + ec.message() + ")");
  const std::string probe =
      (fs::path(folder) / (".clbench-probe." + std::to_string(::getpid()))).string();
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error("cannot write to " + folder + ": " + system_reason());
  ::close(fd);
  ::unlink(probe.c_str());
}

FileLock::FileLock(const std::string& path) : lock_(path + ".lock") {
  // The holder removes the file when done; a process that opened it just before may then lock the
  // removed file, so a lock counts only while the name still leads to the locked file.
  for (int attempt = 0; attempt < 100; ++attempt) {
    fd_ = ::open(lock_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error("cannot create the lock file " + lock_ + ": " + system_reason());
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const bool held = errno == EWOULDBLOCK;
      const std::string why = system_reason();
      ::close(fd_);
      fd_ = -1;
      throw Error(held ? "another clbench process is running " + path + " (it holds " + lock_ + ")"
                       : "cannot lock " + lock_ + ": " + why);
    }
    struct stat locked {
    }, named{};
    if (::fstat(fd_, &locked) == 0 && ::stat(lock_.c_str(), &named) == 0 &&
        locked.st_dev == named.st_dev && locked.st_ino == named.st_ino) {
      return;
    }
    ::close(fd_);
    fd_ = -1;
  }
  throw Error("cannot lock " + lock_ + ": it keeps being replaced");
}

FileLock::~FileLock() {
  if (fd_ < 0) return;
  ::unlink(lock_.c_str());  // while still holding it (see the constructor)
  ::close(fd_);
}

}  // namespace clbench
