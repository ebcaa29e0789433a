#pragma once
// File checks that report instead of throwing std::filesystem::filesystem_error, and the one
// atomic file write every output of clbench goes through.
#include <functional>
#include <string>

namespace clbench {

// std::filesystem::is_regular_file without its filesystem_error: a path the check itself fails on
// (longer than PATH_MAX, a loop of links, no permission) is not a usable file either. `why`
// receives " (<reason>)" for such a failure, "" otherwise, for the caller's clbench::Error.
bool is_regular_file(const std::string& path, std::string* why);

// Writes `path` so that a reader only ever sees the old file or the complete new one: creates the
// folder if missing, lets `write` fill a temporary file in that folder (its path is the argument:
// `path`.tmp.<pid>), flushes it to disk and renames it over `path`. Any failure, an exception
// thrown by `write` included, becomes a clbench::Error "cannot write <path>: <reason>" and the
// temporary file is removed.
void write_atomically(const std::string& path,
                      const std::function<void(const std::string&)>& write);

// write_atomically of a text.
void write_text_atomically(const std::string& path, const std::string& text);

}  // namespace clbench
