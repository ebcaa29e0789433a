#include "results/report_csv.h"

#include <cstdio>
#include <map>
#include <utility>
#include <vector>

namespace clbench {
namespace {

using Row = std::vector<std::string>;
// A matched statistic's paper value and Δ, by (entry, statistic name).
using PaperCells = std::map<std::pair<size_t, std::string>, std::pair<double, double>>;

std::string exact(double x) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

Row header(bool published) {
  Row h = {"kind",        "benchmark", "scenario", "method", "label",
           "fingerprint", "seed",      "runs",     "file"};
  for (const auto& s : accuracy_statistics()) {
    h.push_back(s.name);
    h.push_back(std::string(s.name) + "_std");
    if (!published) continue;
    h.push_back(std::string(s.name) + "_paper");
    h.push_back(std::string(s.name) + "_delta");
  }
  h.push_back("forward_passes_per_test_image");
  for (const auto& s : cost_statistics()) {
    h.push_back(s.name);
    h.push_back(std::string(s.name) + "_std");
  }
  return h;
}

// An entry's row: `run` is null for the aggregate, else the run whose statistics `e` holds alone.
Row row(const LeaderboardEntry& e, const LeaderboardRun* run, bool published,
        const PaperCells& paper, size_t index) {
  const bool aggregate = run == nullptr;
  Row r = {aggregate ? "aggregate" : "run",
           e.benchmark,
           e.scenario,
           e.method,
           e.label,
           e.fingerprint,
           aggregate ? "" : std::to_string(run->result.seed),
           std::to_string(e.runs),
           aggregate ? "" : run->path};
  for (const auto& s : accuracy_statistics()) {
    r.push_back(exact((e.*s.stat).mean));
    r.push_back(aggregate ? exact((e.*s.stat).std) : "");
    if (!published) continue;
    const auto found = aggregate ? paper.find({index, s.name}) : paper.end();
    r.push_back(found == paper.end() ? "" : exact(found->second.first));
    r.push_back(found == paper.end() ? "" : exact(found->second.second));
  }
  r.push_back(std::to_string(e.forward_passes));
  for (const auto& s : cost_statistics()) {
    const bool recorded = !s.runs || e.*s.runs > 0;
    r.push_back(recorded ? exact((e.*s.stat).mean) : "");
    r.push_back(recorded && aggregate ? exact((e.*s.stat).std) : "");
  }
  return r;
}

std::string line(const Row& fields) {
  std::string out;
  for (size_t i = 0; i < fields.size(); ++i) out += (i ? "," : "") + csv_field(fields[i]);
  return out + "\r\n";
}

}  // namespace

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string report_csv(const Leaderboard& board, const PublishedJoin* join) {
  PaperCells paper;
  if (join) {
    for (const auto& c : join->cells) {
      const PublishedNumber& n = join->numbers[c.number];
      paper[{c.entry, n.metric}] = {n.value, c.delta};
    }
  }
  std::string out = line(header(join != nullptr));
  for (size_t i = 0; i < board.entries.size(); ++i) {
    const LeaderboardEntry& e = board.entries[i];
    out += line(row(e, nullptr, join != nullptr, paper, i));
    for (const auto& run : e.run_list)
      out += line(row(summarise_runs({run.result}), &run, join != nullptr, paper, i));
  }
  return out;
}

}  // namespace clbench
