#pragma once
// Errors a user can act on: each message names the file, key or value at fault.
#include <stdexcept>
#include <string>

namespace clbench {

struct Error : std::runtime_error {
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// The system failed, not the input (out of file descriptors or memory, an I/O error): never read
// as "this file is bad", so a reader that skips bad files stops at it instead.
struct SystemError : Error {
  using Error::Error;
};

}  // namespace clbench
