#pragma once
// Name -> entry registries (methods, benchmarks): entries register themselves from their own file
// at start-up; listing is sorted by name; an unknown name is an error listing the valid ones.
#include <algorithm>
#include <string>
#include <vector>

#include "harness/error.h"

namespace clbench {

template <class Entry>
class Registry {
 public:
  static bool add(Entry entry) {
    entries().push_back(std::move(entry));
    return true;
  }
  static const std::vector<Entry>& all() {
    auto& e = entries();
    std::sort(e.begin(), e.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
    return e;
  }
  // `kind` names the registry in the error, e.g. "method".
  static const Entry& find(const std::string& name, const std::string& kind) {
    for (const auto& e : all()) {
      if (e.name == name) return e;
    }
    std::string valid;
    for (const auto& e : all()) valid += (valid.empty() ? "" : ", ") + e.name;
    throw Error("unknown " + kind + " '" + name + "'; valid: " + valid);
  }

 private:
  static std::vector<Entry>& entries() {
    static std::vector<Entry> list;
    return list;
  }
};

}  // namespace clbench
