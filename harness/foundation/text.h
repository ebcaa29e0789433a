#pragma once
// Small text helpers shared by error messages and config parsing.
#include <string>
#include <vector>

namespace clbench {

// "a, b, c" (or with another separator).
std::string join(const std::vector<std::string>& items, const std::string& separator = ", ");

// The error for a name that is not one of `valid`: "unknown <kind> '<name>'; valid: a, b".
std::string unknown_name(const std::string& kind, const std::string& name,
                         const std::vector<std::string>& valid);

// "a,b,c" -> {"a", "b", "c"}; "" -> {}. Items are kept as written (an empty item stays empty).
std::vector<std::string> split_list(const std::string& text, char separator = ',');

}  // namespace clbench
