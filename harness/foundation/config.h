#pragma once
// A run's configuration: a flat map of dotted keys ("epochs", "ewc.lambda") to JSON values.
// Sources, later wins: built-in defaults < benchmark defaults < method defaults < --config file <
// command-line flags < --set key=value. Every key is declared (OptionSpec) and type-checked once.
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace clbench {

// The values a number may take (inclusive; above_min: min itself excluded).
struct Range {
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool above_min = false;
};

// A key whose value is a list, written as a comma list in a string ("q,v", "2,4,8", pairs
// "4:8,8:6") or as a JSON array of the same elements (["q", "v"], [[4, 8], [8, 6]]). It is checked
// element by element when the run or suite is planned, and kept in the config as the comma string.
struct ListSpec {
  enum class Element { kNone, kWord, kInteger, kNumber, kIntegerPair };
  Element element = Element::kNone;  // kNone: not a list key
  std::vector<std::string> words;    // kWord: the allowed words (empty: any)
  size_t min_size = 0;
  bool distinct = false;    // no element twice
  bool increasing = false;  // strictly increasing (pairs: by their first number)
  bool is_list() const { return element != Element::kNone; }
};

// "in 1..64", ">= 0", "<= 1" ("" for a number without bounds): how errors and `list --keys` say it.
std::string describe_range(const Range& range);

struct OptionSpec {
  std::string key;
  nlohmann::json default_value;  // also fixes the type: number (integer or float), bool, string
  std::string help;
  std::vector<std::string> choices = {};  // for strings; empty = any
  Range range = {};                       // for numbers (and each number of a list)
  ListSpec list = {};
};

// A list key's value as a JSON array of its elements: ["q", "v"], [2, 4, 8], [[4, 8], [8, 6]].
// An Error says which element breaks which rule (the caller names the key).
nlohmann::json list_elements(const ListSpec& list, const Range& range, const nlohmann::json& value);
// "comma list of integers in 1..4096, increasing": how errors and `list --keys` describe a list.
std::string describe_list(const ListSpec& list, const Range& range);
// The comma string of a list's elements (the config's form): "q,v", "2,4,8", "4:8,8:6".
std::string list_text(const nlohmann::json& elements);

// The deepest nesting a config or suite file may have (deeper: an Error, not a stack overflow).
inline constexpr int kMaxConfigDepth = 64;

class Config {
 public:
  Config() = default;

  // Flattens nested objects to dotted keys: {"ewc": {"lambda": 1}} -> {"ewc.lambda": 1}.
  static nlohmann::json flatten(const nlohmann::json& nested);
  // Reads a JSON object file, flattened. Errors name the file (and the parse position).
  static nlohmann::json read_file(const std::string& path);
  // Reads a JSON object file as it is; `what` names it in errors ("config file", "suite file").
  static nlohmann::json read_object(const std::string& path, const std::string& what);
  // "key=value": value parsed as a JSON literal when it is one (5, 1e-3, true, "x"), else a string.
  static std::pair<std::string, nlohmann::json> parse_assignment(const std::string& text);

  // Resolves user values (flat) against the declared specs: unknown key -> error listing the
  // dotted (method and benchmark) keys of `scope` and pointing to 'clbench list --keys';
  // wrong type or choice -> error naming key and value.
  static Config resolve(const std::vector<OptionSpec>& specs, const nlohmann::json& user,
                        const std::string& scope);

  bool has(const std::string& key) const { return values_.contains(key); }
  const nlohmann::json& at(const std::string& key) const;
  std::string str(const std::string& key) const { return at(key).get<std::string>(); }
  double num(const std::string& key) const { return at(key).get<double>(); }
  int64_t integer(const std::string& key) const { return at(key).get<int64_t>(); }
  bool flag(const std::string& key) const { return at(key).get<bool>(); }
  void set(const std::string& key, nlohmann::json value) { values_[key] = std::move(value); }
  const nlohmann::json& values() const { return values_; }

 private:
  nlohmann::json values_ = nlohmann::json::object();
};

// Checks `value` against `spec`'s type, choices and range; returns it converted (an integral float
// for an integer key becomes an integer). Throws clbench::Error naming the key and the value.
nlohmann::json checked_value(const OptionSpec& spec, const nlohmann::json& value);

}  // namespace clbench
