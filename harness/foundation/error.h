#pragma once
// Errors a user can act on: each message names the file, key or value at fault.
#include <stdexcept>
#include <string>

namespace clbench {

struct Error : std::runtime_error {
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace clbench
