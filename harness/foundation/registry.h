#pragma once
// Name -> entry registries (methods, benchmarks, backbones): entries register themselves from their
// own file at start-up, each validated there as Google Benchmark's registry does: a name registered
// twice is an error naming both files, raised by the first lookup (so the command line reports it
// instead of aborting during start-up). Entries are kept sorted by name; an unknown name is an
// error listing the valid ones.
#include <algorithm>
#include <string>
#include <vector>

#include "harness/foundation/error.h"
#include "harness/foundation/text.h"

namespace clbench {

template <class Entry>
class Registry {
 public:
  // `file`: the registering source file (register_* pass the caller's __builtin_FILE()).
  static bool add(Entry entry, const std::string& file) {
    auto& s = store();
    const auto at =
        std::lower_bound(s.entries.begin(), s.entries.end(), entry.name,
                         [](const Entry& e, const std::string& n) { return e.name < n; });
    const auto index = at - s.entries.begin();
    if (at != s.entries.end() && at->name == entry.name) {
      s.errors += "\"" + entry.name + "\" is registered twice: by " + s.files[index] + " and by " +
                  file + "; rename one\n";
      return false;
    }
    s.entries.insert(at, std::move(entry));
    s.files.insert(s.files.begin() + index, file);
    return true;
  }
  // Records an entry refused at registration (its file and why): reported by the first lookup.
  static void refuse(const std::string& why) { store().errors += why + "\n"; }
  static const std::vector<Entry>& all() {
    const auto& s = store();
    if (!s.errors.empty()) throw Error(s.errors.substr(0, s.errors.size() - 1));
    return s.entries;
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
  // The file that registered `name` ("" if none).
  static std::string file_of(const std::string& name) {
    const auto& s = store();
    for (size_t i = 0; i < s.entries.size(); ++i) {
      if (s.entries[i].name == name) return s.files[i];
    }
    return "";
  }

 private:
  struct Store {
    std::vector<Entry> entries;      // sorted by name
    std::vector<std::string> files;  // files[i] registered entries[i]
    std::string errors;              // one line per refused duplicate
  };
  static Store& store() {
    static Store s;
    return s;
  }
};

}  // namespace clbench
