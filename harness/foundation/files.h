#pragma once
// Files: checks that report instead of throwing std::filesystem::filesystem_error, the one atomic
// write every output of clbench goes through, and the guards around a run's files (stale
// temporaries, a lock, a writable folder).
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace clbench {

// std::filesystem::is_regular_file without its filesystem_error: a path the check itself fails on
// (longer than PATH_MAX, a loop of links, no permission) is not a usable file either. `why`
// receives " (<reason>)" for such a failure, "" otherwise, for the caller's clbench::Error.
bool is_regular_file(const std::string& path, std::string* why);

// Whether errno `code` is the system's failure rather than the file's: out of descriptors
// (EMFILE, ENFILE) or memory, an I/O error.
bool is_system_failure(int code);

// Opens `path` for reading and closes it again: a SystemError when the system cannot (see
// is_system_failure), an Error naming the path and the reason when the file cannot be read.
void check_readable(const std::string& path);

// Refuses (an Error naming the path) an output that exists and is not a regular file (a folder,
// a device node, a FIFO, a socket), or that is one of `inputs` (the same file, by any path).
void check_output(const std::string& path, const std::vector<std::string>& inputs = {});

// A file written with POSIX calls: every failure is an Error naming the file and the system's
// reason ("No space left on device"). close() flushes it to disk; the destructor closes quietly.
class FileWriter {
 public:
  explicit FileWriter(const std::string& path);
  ~FileWriter();
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;
  void write(const void* data, size_t size);
  void write(const std::string& bytes) { write(bytes.data(), bytes.size()); }
  void close();

 private:
  std::string path_;
  int fd_ = -1;
};

// Writes `path` so that a reader only ever sees the old file or the complete new one: checks the
// target (check_output), creates the folder if missing, lets `write` fill a temporary file in that
// folder (its path is the argument: `path`.tmp.<pid>), flushes it to disk, renames it over `path`
// and flushes the folder. Any failure, an exception thrown by `write` included, becomes an Error
// "cannot write <path>: <reason>"; the temporary file is removed and the previous file kept.
void write_atomically(const std::string& path, const std::function<void(const std::string&)>& write,
                      const std::vector<std::string>& inputs = {});

// write_atomically of bytes already in memory (a text, a serialised archive).
void write_bytes_atomically(const std::string& path, const std::string& bytes,
                            const std::vector<std::string>& inputs = {});

// Removes the `path`.tmp.<pid> files that processes which no longer run left next to `path`.
void remove_stale_temporaries(const std::string& path);

// Creates `folder` if missing and checks that a file can be created in it (a probe file, removed
// at once). An Error names the folder and the reason.
void require_writable_folder(const std::string& folder);

// An advisory lock (flock) on `path`.lock while the object lives, the file removed when it ends;
// another process holding it is an Error naming the file.
class FileLock {
 public:
  explicit FileLock(const std::string& path);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  std::string lock_;
  int fd_ = -1;
};

}  // namespace clbench
