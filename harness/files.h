#pragma once
// File checks that report instead of throwing std::filesystem::filesystem_error.
#include <filesystem>
#include <string>
#include <system_error>

namespace clbench {

// std::filesystem::is_regular_file without its filesystem_error: a path the check itself fails on
// (longer than PATH_MAX, a loop of links, no permission) is not a usable file either. `why`
// receives " (<reason>)" for such a failure, "" otherwise, for the caller's clbench::Error.
inline bool is_regular_file(const std::string& path, std::string* why) {
  std::error_code ec;
  const bool regular = std::filesystem::is_regular_file(path, ec);
  const bool absent =
      ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory;
  *why = ec && !absent ? " (" + ec.message() + ")" : "";
  return regular;
}

}  // namespace clbench
