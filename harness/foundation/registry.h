#pragma once
// Name -> entry registries (methods, benchmarks, backbones): entries register themselves from their
// own file at start-up; listing is sorted by name; an unknown name is an error listing the valid
// ones.
#include <algorithm>
#include <string>
#include <vector>

#include "harness/foundation/error.h"
#include "harness/foundation/text.h"

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
  static std::vector<std::string> names() {
    std::vector<std::string> out;
    for (const auto& e : all()) out.push_back(e.name);
    return out;
  }
  // `kind` names the registry in the error, e.g. "method".
  static const Entry& find(const std::string& name, const std::string& kind) {
    for (const auto& e : all()) {
      if (e.name == name) return e;
    }
    throw Error(unknown_name(kind, name, names()));
  }

 private:
  static std::vector<Entry>& entries() {
    static std::vector<Entry> list;
    return list;
  }
};

}  // namespace clbench
