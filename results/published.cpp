#include "results/published.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <utility>

#include "harness/foundation/config.h"
#include "harness/foundation/error.h"

namespace clbench {
namespace {

const std::set<std::string> kEntryKeys = {"benchmark", "scenario", "method", "label",
                                          "metric",    "value",    "spread", "spread_kind",
                                          "tolerance", "protocol", "source"};
const std::set<std::string> kSourceKeys = {"paper", "table", "row"};
const std::set<std::string> kScenarios = {"class-il", "task-il", "domain-il"};
const std::set<std::string> kSpreadKinds = {"std", "sem", "ci95", "unstated"};

std::string listed(const std::set<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : ", ") + w;
  return out;
}

std::string number_text(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

// One entry of one file, read key by key; every error names the file, the entry and the key.
class EntryReader {
 public:
  EntryReader(const nlohmann::json& entry, std::string file, size_t index)
      : entry_(entry), file_(std::move(file)), index_(index) {}

  [[noreturn]] void fail(const std::string& key, const std::string& why) const {
    throw Error("published numbers " + file_ + ": entry " + std::to_string(index_) + ", key \"" +
                key + "\": " + why);
  }

  // No key outside `known`; `prefix` names the object ("source.") in errors.
  void only(const nlohmann::json& object, const std::set<std::string>& known,
            const std::string& prefix) const {
    for (const auto& [key, value] : object.items()) {
      if (known.count(key) == 0) fail(prefix + key, "unknown key (known: " + listed(known) + ")");
    }
  }

  // A string that is not empty (absent and not required: "").
  std::string text(const nlohmann::json& object, const std::string& key, bool required,
                   const std::string& prefix = "") const {
    if (!object.contains(key)) {
      if (required) fail(prefix + key, "missing");
      return "";
    }
    const auto& v = object[key];
    if (!v.is_string() || v.get<std::string>().empty())
      fail(prefix + key, "must be a non-empty string");
    return v.get<std::string>();
  }

  std::string word(const std::string& key, const std::set<std::string>& allowed) const {
    const std::string w = text(entry_, key, true);
    if (allowed.count(w) == 0) fail(key, "'" + w + "' is not one of " + listed(allowed));
    return w;
  }

  // A finite number (>= 0 when `non_negative`); absent or null: none, unless required.
  std::optional<double> number(const std::string& key, bool required, bool non_negative) const {
    if (!entry_.contains(key) || entry_[key].is_null()) {
      if (required) fail(key, "missing");
      return std::nullopt;
    }
    const auto& v = entry_[key];
    if (!v.is_number()) fail(key, "must be a number, not " + v.dump());
    const double x = v.get<double>();
    if (!std::isfinite(x)) fail(key, "must be finite, not " + number_text(x));
    if (non_negative && x < 0) fail(key, "must be >= 0, not " + number_text(x));
    return x;
  }

  PublishedNumber read() const {
    if (!entry_.is_object()) fail("", "an entry must be a JSON object, not " + entry_.dump());
    only(entry_, kEntryKeys, "");
    PublishedNumber n;
    n.benchmark = text(entry_, "benchmark", true);
    n.scenario = word("scenario", kScenarios);
    n.method = text(entry_, "method", true);
    n.label = entry_.contains("label") ? text(entry_, "label", true) : n.method;
    std::set<std::string> metrics;
    for (const auto& s : accuracy_statistics()) metrics.insert(s.name);
    n.metric = word("metric", metrics);
    n.value = *number("value", true, false);
    n.spread = number("spread", false, true);
    const bool has_kind = entry_.contains("spread_kind") && !entry_["spread_kind"].is_null();
    if (n.spread && !has_kind) fail("spread_kind", "missing (a spread needs its kind)");
    if (!n.spread && has_kind) fail("spread_kind", "given without a spread");
    if (n.spread) n.spread_kind = word("spread_kind", kSpreadKinds);
    n.tolerance = number("tolerance", false, true);
    if (entry_.contains("protocol")) {
      if (!entry_["protocol"].is_object()) fail("protocol", "must be a JSON object");
      n.protocol = Config::flatten(entry_["protocol"]);
      for (const auto& [key, value] : n.protocol.items()) {
        if (!value.is_string() && !value.is_number() && !value.is_boolean())
          fail("protocol." + key, "must be a string, number or boolean, not " + value.dump());
      }
    }
    if (!entry_.contains("source")) fail("source", "missing");
    const auto& source = entry_["source"];
    if (!source.is_object()) fail("source", "must be a JSON object");
    only(source, kSourceKeys, "source.");
    n.source = {text(source, "paper", true, "source."), text(source, "table", true, "source."),
                text(source, "row", true, "source.")};
    n.file = file_;
    n.index = index_;
    return n;
  }

 private:
  const nlohmann::json& entry_;
  std::string file_;
  size_t index_;
};

// Two numbers for the same cell under the same protocol (its numbers compared as numbers).
bool same_number(const PublishedNumber& a, const PublishedNumber& b) {
  return a.benchmark == b.benchmark && a.scenario == b.scenario && a.method == b.method &&
         a.label == b.label && a.metric == b.metric && a.protocol == b.protocol;
}

// Whether the row's configuration has every protocol value (json's == compares numbers as
// numbers, strings and booleans exactly, and a number never equals a string).
bool matches(const LeaderboardEntry& e, const nlohmann::json& config, const PublishedNumber& n) {
  if (e.benchmark != n.benchmark || e.scenario != n.scenario || e.method != n.method ||
      e.label != n.label)
    return false;
  for (const auto& [key, value] : n.protocol.items()) {
    if (!config.contains(key) || config[key] != value) return false;
  }
  return true;
}

nlohmann::json configuration(const LeaderboardEntry& e) {
  if (e.config_json.empty()) return nlohmann::json::object();
  nlohmann::json config = nlohmann::json::parse(e.config_json, nullptr, false);
  return config.is_object() ? config : nlohmann::json::object();
}

nlohmann::json number_json(const PublishedNumber& n) {
  return {{"value", n.value},
          {"spread", n.spread ? nlohmann::json(*n.spread) : nlohmann::json(nullptr)},
          {"spread_kind", n.spread ? nlohmann::json(n.spread_kind) : nlohmann::json(nullptr)},
          {"tolerance", n.tolerance ? nlohmann::json(*n.tolerance) : nlohmann::json(nullptr)},
          {"protocol", n.protocol},
          {"source", {{"paper", n.source.paper}, {"table", n.source.table}, {"row", n.source.row}}},
          {"file", n.file},
          {"index", n.index}};
}

std::string paper_cell(const PublishedNumber& n) {
  char buf[96];
  if (!n.spread) {
    std::snprintf(buf, sizeof buf, "%.2f", n.value);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f ± %.2f%s", n.value, *n.spread,
                  n.spread_kind == "std" ? "" : (" (" + n.spread_kind + ")").c_str());
  }
  return buf;
}

std::string delta_cell(double delta) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.2f", delta);
  return buf;
}

std::string source_text(const PublishedSource& s) {
  return s.paper + ", " + s.table + ", row " + s.row;
}

// "benchmark / scenario / label", and the method where the label is another name.
std::string row_text(const std::string& benchmark, const std::string& scenario,
                     const std::string& label, const std::string& method) {
  return benchmark + " / " + scenario + " / " + label +
         (label == method ? "" : " (" + method + ")");
}

// The number, its protocol and its source, in one line.
std::string describe(const PublishedNumber& n) {
  std::string out =
      row_text(n.benchmark, n.scenario, n.label, n.method) + ": " + n.metric + " " + paper_cell(n);
  if (!n.protocol.empty()) {
    std::string keys;
    for (const auto& [key, value] : n.protocol.items())
      keys += (keys.empty() ? "" : ", ") + key + "=" + value.dump();
    out += " [" + keys + "]";
  }
  return out + "; " + source_text(n.source);
}

}  // namespace

std::vector<PublishedNumber> parse_published(const nlohmann::json& doc, const std::string& file,
                                             const std::vector<PublishedNumber>& before) {
  if (!doc.is_object()) throw Error("published numbers " + file + " must hold a JSON object");
  for (const auto& [key, value] : doc.items()) {
    if (key != "numbers")
      throw Error("published numbers " + file + ": unknown key \"" + key + "\" (known: numbers)");
  }
  if (!doc.contains("numbers") || !doc["numbers"].is_array())
    throw Error("published numbers " + file + ": key \"numbers\" must be a JSON array");
  std::vector<PublishedNumber> numbers;
  numbers.reserve(doc["numbers"].size());  // `seen` points into it
  std::vector<const PublishedNumber*> seen;
  for (const auto& m : before) seen.push_back(&m);
  for (size_t i = 0; i < doc["numbers"].size(); ++i) {
    const EntryReader reader(doc["numbers"][i], file, i);
    PublishedNumber n = reader.read();
    for (const auto* m : seen) {
      if (same_number(*m, n)) {
        reader.fail("protocol",
                    "the same benchmark, scenario, method, label, metric and protocol "
                    "as entry " +
                        std::to_string(m->index) + " of " + m->file);
      }
    }
    numbers.push_back(std::move(n));
    seen.push_back(&numbers.back());
  }
  return numbers;
}

std::vector<PublishedNumber> read_published(const std::vector<std::string>& files) {
  std::vector<PublishedNumber> numbers;
  for (const auto& file : files) {
    for (auto& n : parse_published(Config::read_object(file, "published numbers"), file, numbers))
      numbers.push_back(std::move(n));
  }
  return numbers;
}

PublishedJoin join_published(const Leaderboard& board, std::vector<PublishedNumber> numbers) {
  PublishedJoin join;
  join.numbers = std::move(numbers);
  std::vector<bool> matched(join.numbers.size(), false);
  for (size_t i = 0; i < board.entries.size(); ++i) {
    const LeaderboardEntry& e = board.entries[i];
    const nlohmann::json config = configuration(e);
    std::map<std::string, std::vector<size_t>> matching;  // metric -> the numbers matching
    for (size_t k = 0; k < join.numbers.size(); ++k) {
      if (!matches(e, config, join.numbers[k])) continue;
      matched[k] = true;
      matching[join.numbers[k].metric].push_back(k);
    }
    std::map<std::string, size_t> shown;  // metric -> the one with the most protocol keys
    for (const auto& [metric, candidates] : matching) {
      size_t best = candidates[0];
      for (size_t k : candidates) {
        if (join.numbers[k].protocol.size() > join.numbers[best].protocol.size()) best = k;
      }
      for (size_t k : candidates) {
        const PublishedNumber& a = join.numbers[best];
        const PublishedNumber& b = join.numbers[k];
        if (k == best || a.protocol.size() != b.protocol.size()) continue;
        throw Error("published numbers: entry " + std::to_string(a.index) + " of " + a.file +
                    " and entry " + std::to_string(b.index) + " of " + b.file + " both match " +
                    row_text(e.benchmark, e.scenario, e.label, e.method) + " [" + e.fingerprint +
                    "] for " + metric +
                    ", with as many protocol keys: give one of them a key that tells them apart");
      }
      shown[metric] = best;
    }
    for (const auto& s : accuracy_statistics()) {
      const auto found = shown.find(s.name);
      if (found == shown.end()) continue;
      const double measured = (e.*s.stat).mean;
      join.cells.push_back(
          {i, found->second, measured, measured - join.numbers[found->second].value});
    }
  }
  for (size_t k = 0; k < join.numbers.size(); ++k) {
    if (!matched[k]) join.unmatched.push_back(k);
  }
  return join;
}

nlohmann::json published_json(const Leaderboard& board, const PublishedJoin& join) {
  nlohmann::json j = to_json(board);
  for (const auto& c : join.cells) {
    const PublishedNumber& n = join.numbers[c.number];
    nlohmann::json paper = number_json(n);
    paper["delta"] = c.delta;
    j["entries"][c.entry][n.metric]["paper"] = std::move(paper);
  }
  nlohmann::json unmatched = nlohmann::json::array();
  for (size_t k : join.unmatched) {
    const PublishedNumber& n = join.numbers[k];
    nlohmann::json number = {{"benchmark", n.benchmark},
                             {"scenario", n.scenario},
                             {"method", n.method},
                             {"label", n.label},
                             {"metric", n.metric}};
    number.update(number_json(n));
    unmatched.push_back(std::move(number));
  }
  j["published_unmatched"] = std::move(unmatched);
  return j;
}

MarkdownAddition published_addition(const PublishedJoin& join) {
  MarkdownAddition addition;
  addition.headers = {"paper", "Δ"};
  for (const auto& c : join.cells) {
    const PublishedNumber& n = join.numbers[c.number];
    addition.cells[{c.entry, n.metric}] = {paper_cell(n), delta_cell(c.delta)};
  }
  return addition;
}

std::string published_markdown(const Leaderboard& board, const PublishedJoin& join) {
  std::string md = to_markdown(board, published_addition(join));
  if (!join.unmatched.empty()) {
    md += "\nPublished numbers without a matching run:\n";
    for (size_t k : join.unmatched) md += "- " + describe(join.numbers[k]) + "\n";
  }
  return md;
}

PublishedCheck check_published(const Leaderboard& board, const PublishedJoin& join,
                               double tolerance) {
  if (!std::isfinite(tolerance) || tolerance < 0) {
    throw Error("--check: the tolerance must be a finite number of points >= 0, not " +
                number_text(tolerance));
  }
  PublishedCheck check;
  check.matched = join.cells.size();
  std::string lines;
  for (const auto& c : join.cells) {
    const PublishedNumber& n = join.numbers[c.number];
    const double allowed = n.tolerance.value_or(tolerance);
    if (!(std::fabs(c.delta) > allowed)) continue;
    check.over.push_back(c);
    const LeaderboardEntry& e = board.entries[c.entry];
    char numbers[160];
    std::snprintf(numbers, sizeof numbers, "measured %.2f, paper %.2f, Δ %+.2f (tolerance %g)",
                  c.measured, n.value, c.delta, allowed);
    lines += "- " + row_text(e.benchmark, e.scenario, e.label, e.method) + " [" +
             e.fingerprint.substr(0, 8) + "] " + n.metric + ": " + numbers + "; " +
             source_text(n.source) + "\n";
  }
  if (check.over.empty()) {
    check.report = "all " + std::to_string(check.matched) + " matched numbers within " +
                   number_text(tolerance) + " points\n";
  } else {
    check.report = std::to_string(check.over.size()) + " of " + std::to_string(check.matched) +
                   " matched numbers differ from the paper by more than " + number_text(tolerance) +
                   " points:\n" + lines;
  }
  return check;
}

}  // namespace clbench
