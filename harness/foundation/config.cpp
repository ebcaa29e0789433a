#include "harness/foundation/config.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "harness/foundation/error.h"
#include "harness/foundation/files.h"
#include "harness/foundation/text.h"

namespace clbench {
namespace {

void flatten_into(const nlohmann::json& node, const std::string& prefix, nlohmann::json& out) {
  for (const auto& [key, value] : node.items()) {
    const std::string full = prefix.empty() ? key : prefix + "." + key;
    if (value.is_object()) {
      flatten_into(value, full, out);
    } else {
      out[full] = value;
    }
  }
}

bool in_range(const Range& range, double x) {
  return (range.above_min ? x > range.min : x >= range.min) && x <= range.max;
}

template <class Bad>
void check_range(const OptionSpec& spec, double x, const Bad& bad) {
  if (in_range(spec.range, x)) return;
  throw bad("must be " + describe_range(spec.range));
}

// One number of a list, from its text or JSON form.
nlohmann::json list_number(const Range& range, const nlohmann::json& item, bool integer) {
  nlohmann::json number = item;
  if (item.is_string()) {
    const std::string text = item.get<std::string>();
    size_t used = 0;
    try {
      number = integer ? nlohmann::json(static_cast<int64_t>(std::stoll(text, &used)))
                       : nlohmann::json(std::stod(text, &used));
    } catch (const std::exception&) {
      used = 0;
    }
    if (text.empty() || used != text.size()) number = nullptr;
  }
  const bool ok = integer ? number.is_number_integer() : number.is_number();
  if (!ok || !std::isfinite(number.get<double>())) {
    throw Error("'" + (item.is_string() ? item.get<std::string>() : item.dump()) + "' is not " +
                (integer ? "an integer" : "a number"));
  }
  if (!in_range(range, number.get<double>())) {
    throw Error("'" + number.dump() + "' is not " + describe_range(range));
  }
  return number;
}

std::string element_text(const nlohmann::json& e) {
  if (e.is_string()) return e.get<std::string>();
  if (e.is_array()) return e[0].dump() + ":" + e[1].dump();
  return e.dump();
}

std::string type_name(const nlohmann::json& v) {
  if (v.is_boolean()) return "a boolean (true/false)";
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  return "a " + std::string(v.type_name());
}

}  // namespace

std::string describe_range(const Range& range) {
  const bool low = !std::isinf(range.min), high = !std::isinf(range.max);
  std::ostringstream text;
  if (range.above_min) {
    text << "> " << range.min;
    if (high) text << " and <= " << range.max;
  } else if (low && high) {
    text << "in " << range.min << ".." << range.max;
  } else if (low) {
    text << ">= " << range.min;
  } else if (high) {
    text << "<= " << range.max;
  }
  return text.str();
}

nlohmann::json Config::flatten(const nlohmann::json& nested) {
  nlohmann::json out = nlohmann::json::object();
  flatten_into(nested, "", out);
  return out;
}

nlohmann::json Config::read_file(const std::string& path) {
  return flatten(read_object(path, "config file"));
}

namespace {

// JSON no deeper than kMaxConfigDepth and without a key twice in one object (the parser would
// keep the last silently); `what` names the text in errors.
nlohmann::json parse_bounded(std::istream& in, const std::string& what) {
  std::vector<std::set<std::string>> keys;  // of each object being parsed
  const nlohmann::json::parser_callback_t check = [&](int depth,
                                                      nlohmann::json::parse_event_t event,
                                                      nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (depth > kMaxConfigDepth) {
      throw Error(what + " nests deeper than " + std::to_string(kMaxConfigDepth) + " levels");
    }
    if (event == Event::object_start) keys.emplace_back();
    if (event == Event::object_end && !keys.empty()) keys.pop_back();
    if (event == Event::key && !keys.empty() &&
        !keys.back().insert(parsed.get<std::string>()).second) {
      throw Error(what + " has the key \"" + parsed.get<std::string>() + "\" twice in one object");
    }
    return true;
  };
  try {
    return nlohmann::json::parse(in, check);
  } catch (const nlohmann::json::exception& e) {  // syntax, or a number beyond double (1e400)
    throw Error(what + " is not valid JSON: " + e.what());
  }
}

}  // namespace

nlohmann::json Config::read_object(const std::string& path, const std::string& what) {
  std::string why;
  if (!is_regular_file(path, &why)) {
    throw Error("cannot read " + what + " " + path + ": not a file" + why);
  }
  std::ifstream in(path);
  if (!in) throw Error("cannot read " + what + " " + path);
  const nlohmann::json parsed = parse_bounded(in, what + " " + path);
  if (!parsed.is_object()) throw Error(what + " " + path + " must hold a JSON object");
  return parsed;
}

std::pair<std::string, nlohmann::json> Config::parse_assignment(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw Error("--set expects key=value, got '" + text + "'");
  }
  const std::string key = text.substr(0, eq);
  const std::string raw = text.substr(eq + 1);
  nlohmann::json value;
  try {
    std::istringstream in(raw);
    value = parse_bounded(in, "--set " + key);
  } catch (const Error& e) {
    // Not JSON (a plain word such as cpu): the text itself. Too deep is still an error.
    if (std::string(e.what()).find("nests deeper") != std::string::npos) throw;
    value = raw;
  }
  if (value.is_null()) value = raw;
  return {key, value};
}

nlohmann::json list_elements(const ListSpec& list, const Range& range,
                             const nlohmann::json& value) {
  using Element = ListSpec::Element;
  std::vector<nlohmann::json> items;
  if (value.is_array()) {
    items.assign(value.begin(), value.end());
  } else if (value.is_string()) {
    for (const auto& item : split_list(value.get<std::string>())) items.emplace_back(item);
  } else if (value.is_number()) {
    items.push_back(value);  // --set m.ranks=8: a list of one
  } else {
    throw Error("expected a comma list in a string or a JSON array");
  }
  nlohmann::json out = nlohmann::json::array();
  for (const auto& item : items) {
    if (list.element == Element::kWord) {
      if (!item.is_string() || item.get<std::string>().empty())
        throw Error("'" + element_text(item) + "' is not a word");
      const auto word = item.get<std::string>();
      if (!list.words.empty() &&
          std::find(list.words.begin(), list.words.end(), word) == list.words.end()) {
        throw Error("'" + word + "' is not one of " + join(list.words));
      }
      out.push_back(word);
    } else if (list.element == Element::kIntegerPair) {
      std::vector<nlohmann::json> two;
      if (item.is_string()) {
        for (const auto& part : split_list(item.get<std::string>(), ':')) two.emplace_back(part);
      } else if (item.is_array()) {
        two.assign(item.begin(), item.end());
      }
      if (two.size() != 2) throw Error("'" + element_text(item) + "' is not a pair a:b");
      out.push_back({list_number(range, two[0], true), list_number(range, two[1], true)});
    } else {
      out.push_back(list_number(range, item, list.element == Element::kInteger));
    }
  }
  if (out.size() < list.min_size) {
    throw Error("needs at least " + std::to_string(list.min_size) + " element" +
                (list.min_size == 1 ? "" : "s"));
  }
  for (size_t i = 1; i < out.size(); ++i) {
    const auto& a = list.element == Element::kIntegerPair ? out[i - 1][0] : out[i - 1];
    const auto& b = list.element == Element::kIntegerPair ? out[i][0] : out[i];
    if (list.increasing && !(a < b)) {
      throw Error("'" + element_text(out[i]) + "' does not increase after '" +
                  element_text(out[i - 1]) + "'");
    }
    if (list.distinct && std::find(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(i),
                                   out[i]) != out.begin() + static_cast<std::ptrdiff_t>(i)) {
      throw Error("'" + element_text(out[i]) + "' is there twice");
    }
  }
  return out;
}

std::string describe_list(const ListSpec& list, const Range& range) {
  using Element = ListSpec::Element;
  std::string text = "comma list of ";
  if (list.element == Element::kWord) {
    text += list.words.empty() ? "words" : join(list.words);
  } else {
    text += list.element == Element::kNumber    ? "numbers"
            : list.element == Element::kInteger ? "integers"
                                                : "pairs a:b of integers";
    const std::string bounds = describe_range(range);
    if (!bounds.empty()) text += " " + bounds;
  }
  if (list.min_size > 0) text += ", at least " + std::to_string(list.min_size);
  if (list.distinct) text += ", each once";
  if (list.increasing) text += ", increasing";
  return text;
}

std::string list_text(const nlohmann::json& elements) {
  std::vector<std::string> items;
  for (const auto& e : elements) items.push_back(element_text(e));
  return join(items, ",");
}

nlohmann::json checked_value(const OptionSpec& spec, const nlohmann::json& value) {
  const nlohmann::json& def = spec.default_value;
  auto bad = [&](const std::string& why) {
    return Error("bad value " + value.dump() + " for key '" + spec.key + "': " + why);
  };
  if (spec.list.is_list()) {
    try {
      return list_text(list_elements(spec.list, spec.range, value));
    } catch (const Error& e) {
      throw bad(e.what());
    }
  }
  if (def.is_boolean()) {
    if (!value.is_boolean()) throw bad("expected " + type_name(def));
    return value;
  }
  if (def.is_number_integer()) {
    if (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      throw bad("integer out of range");
    }
    nlohmann::json out;
    if (value.is_number_integer()) {
      out = value;
    } else if (value.is_number_float()) {
      const double x = value.get<double>();
      if (std::isfinite(x) && std::floor(x) == x && x >= -9223372036854775808.0 &&
          x < 9223372036854775808.0) {
        out = static_cast<int64_t>(x);
      }
    }
    if (out.is_null()) throw bad("expected an integer");
    check_range(spec, out.get<double>(), bad);
    return out;
  }
  if (def.is_number()) {
    if (!value.is_number()) throw bad("expected a number");
    const double x = value.get<double>();
    if (!std::isfinite(x)) throw bad("expected a finite number");
    check_range(spec, x, bad);
    return x;
  }
  if (def.is_string()) {
    if (!value.is_string()) throw bad("expected a string");
    if (!spec.choices.empty()) {
      for (const auto& c : spec.choices) {
        if (c == value.get<std::string>()) return value;
      }
      throw bad("valid values: " + join(spec.choices));
    }
    return value;
  }
  return value;
}

Config Config::resolve(const std::vector<OptionSpec>& specs, const nlohmann::json& user,
                       const std::string& scope) {
  Config cfg;
  for (const auto& spec : specs) cfg.values_[spec.key] = spec.default_value;
  for (const auto& [key, value] : user.items()) {
    const OptionSpec* spec = nullptr;
    for (const auto& s : specs) {
      if (s.key == key) spec = &s;
    }
    if (spec == nullptr) {
      std::ostringstream valid;
      for (const auto& s : specs) {
        if (s.key.find('.') != std::string::npos)
          valid << "\n  " << s.key << " (default " << s.default_value.dump() << ")";
      }
      std::string msg = "unknown config key '" + key + "' for " + scope + ".";
      const std::string keys = valid.str();
      msg += keys.empty() ? " It has no keys of its own." : " Its keys:" + keys;
      msg += "\n(run 'clbench list --keys' for every key)";
      throw Error(msg);
    }
    cfg.values_[key] = checked_value(*spec, value);
  }
  return cfg;
}

const nlohmann::json& Config::at(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) throw Error("internal: config key '" + key + "' was never declared");
  return *it;
}

}  // namespace clbench
