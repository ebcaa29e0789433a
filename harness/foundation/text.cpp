#include "harness/foundation/text.h"

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

}  // namespace clbench
