#include "harness/foundation/text.h"

#include <stdexcept>

#include "harness/foundation/error.h"

namespace clbench {

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

std::string unknown_name(const std::string& kind, const std::string& name,
                         const std::vector<std::string>& valid) {
  return "unknown " + kind + " '" + name + "'; valid: " + join(valid);
}

std::vector<std::string> split_list(const std::string& text, char separator) {
  std::vector<std::string> items;
  if (text.empty()) return items;
  size_t begin = 0;
  for (;;) {
    const size_t end = text.find(separator, begin);
    items.push_back(text.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
    if (end == std::string::npos) return items;
    begin = end + 1;
  }
}

namespace {

template <class T, class Parse>
std::vector<T> parse_list(const std::string& text, const std::string& key, const char* what,
                          Parse parse) {
  std::vector<T> out;
  for (const auto& item : split_list(text)) {
    try {
      size_t used = 0;
      out.push_back(parse(item, &used));
      if (used != item.size()) throw std::invalid_argument("trailing characters");
    } catch (const std::exception&) {
      throw Error("invalid value '" + text + "' for " + key + ": '" + item + "' is not " + what);
    }
  }
  return out;
}

}  // namespace

std::vector<double> parse_numbers(const std::string& text, const std::string& key) {
  return parse_list<double>(text, key, "a number",
                            [](const std::string& s, size_t* used) { return std::stod(s, used); });
}

std::vector<int64_t> parse_integers(const std::string& text, const std::string& key) {
  return parse_list<int64_t>(text, key, "an integer", [](const std::string& s, size_t* used) {
    return static_cast<int64_t>(std::stoll(s, used));
  });
}

}  // namespace clbench
