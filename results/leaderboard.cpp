#include "results/leaderboard.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "harness/foundation/error.h"
#include "results/result_file.h"

namespace clbench {
namespace {

namespace fs = std::filesystem;

bool is_result_file(const fs::path& p) {
  return p.extension() == ".h5" && p.filename().string().find(".tmp.") == std::string::npos;
}

Stat stat_of(const std::vector<double>& xs) {
  Stat s;
  for (double x : xs) s.mean += x;
  s.mean /= static_cast<double>(xs.size());
  if (xs.size() > 1) {
    double ss = 0;
    for (double x : xs) ss += (x - s.mean) * (x - s.mean);
    s.std = std::sqrt(ss / static_cast<double>(xs.size() - 1));
  }
  return s;
}

LeaderboardEntry summarise(const std::vector<RunResult>& runs) {
  LeaderboardEntry e;
  e.benchmark = runs[0].benchmark;
  e.method = runs[0].method;
  e.label = runs[0].label;
  e.scenario = runs[0].scenario;
  e.runs = static_cast<int>(runs.size());
  auto over = [&](auto field) {
    std::vector<double> xs;
    for (const auto& r : runs) xs.push_back(field(r));
    return stat_of(xs);
  };
  e.final_acc = over([](const RunResult& r) { return r.class_il.final_acc; });
  e.final_acc_weighted = over([](const RunResult& r) { return r.class_il.final_acc_weighted; });
  e.aaa = over([](const RunResult& r) { return r.class_il.aaa; });
  e.forgetting = over([](const RunResult& r) { return r.class_il.forgetting; });
  e.bwt = over([](const RunResult& r) { return r.class_il.bwt; });
  e.fwt = over([](const RunResult& r) { return r.class_il.fwt; });
  e.task_il_final_acc = over([](const RunResult& r) { return r.task_il.final_acc; });
  std::vector<double> final_stored, per_task;
  for (const auto& r : runs) {
    if (r.stored_params.empty()) continue;
    const auto& s = r.stored_params;
    final_stored.push_back(static_cast<double>(s.back()));
    per_task.push_back(s.size() > 1 ? static_cast<double>(s.back() - s.front()) /
                                          static_cast<double>(s.size() - 1)
                                    : 0.0);
  }
  e.stored_runs = static_cast<int>(final_stored.size());
  if (e.stored_runs > 0) {
    e.stored_final = stat_of(final_stored);
    e.stored_per_task = stat_of(per_task);
  }
  for (const auto& r : runs) e.seeds.push_back(r.seed);
  std::sort(e.seeds.begin(), e.seeds.end());
  return e;
}

nlohmann::json stat_json(const Stat& s) {
  return {{"mean", s.mean}, {"std", s.std}};
}

std::string cell(const Stat& s, int runs) {
  char buf[64];
  if (runs > 1) {
    std::snprintf(buf, sizeof buf, "%.2f ± %.2f", s.mean, s.std);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f", s.mean);
  }
  return buf;
}

// A parameter count, mean over runs, with thousands separators; "—" when no run recorded it.
std::string count_cell(const Stat& s, int runs) {
  if (runs == 0) return "—";
  std::string digits = std::to_string(static_cast<int64_t>(std::llround(s.mean)));
  for (int i = static_cast<int>(digits.size()) - 3; i > 0 && digits[i - 1] != '-'; i -= 3)
    digits.insert(static_cast<size_t>(i), ",");
  return digits;
}

}  // namespace

Leaderboard gather_leaderboard(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error("leaderboard: no such folder: " + dir);
  std::vector<std::string> files;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file() && is_result_file(it->path())) files.push_back(it->path().string());
  }
  if (ec) throw Error("leaderboard: cannot list " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end());

  Leaderboard board;
  std::map<std::pair<std::string, std::string>, std::vector<RunResult>> groups;
  for (const auto& f : files) {
    try {
      RunResult r = read_result(f);
      if (r.status != "complete") {
        board.skipped.push_back({f, "status is '" + r.status + "', not 'complete'"});
        continue;
      }
      groups[{r.benchmark, r.label}].push_back(std::move(r));
    } catch (const Error& e) {
      board.skipped.push_back({f, e.what()});
    }
  }
  for (const auto& [key, runs] : groups) board.entries.push_back(summarise(runs));
  std::sort(board.entries.begin(), board.entries.end(), [](const auto& a, const auto& b) {
    if (a.benchmark != b.benchmark) return a.benchmark < b.benchmark;
    if (a.final_acc.mean != b.final_acc.mean) return a.final_acc.mean > b.final_acc.mean;
    return a.label < b.label;
  });
  return board;
}

nlohmann::json to_json(const Leaderboard& board) {
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& e : board.entries) {
    entries.push_back(
        {{"benchmark", e.benchmark},
         {"method", e.method},
         {"label", e.label},
         {"scenario", e.scenario},
         {"runs", e.runs},
         {"seeds", e.seeds},
         {"final_acc", stat_json(e.final_acc)},
         {"final_acc_weighted", stat_json(e.final_acc_weighted)},
         {"aaa", stat_json(e.aaa)},
         {"forgetting", stat_json(e.forgetting)},
         {"bwt", stat_json(e.bwt)},
         {"fwt", stat_json(e.fwt)},
         {"task_il_final_acc", stat_json(e.task_il_final_acc)},
         {"stored_params_final", e.stored_runs ? stat_json(e.stored_final) : nullptr},
         {"stored_params_per_task", e.stored_runs ? stat_json(e.stored_per_task) : nullptr}});
  }
  nlohmann::json skipped = nlohmann::json::array();
  for (const auto& s : board.skipped) skipped.push_back({{"path", s.path}, {"reason", s.reason}});
  return {{"entries", entries}, {"skipped", skipped}};
}

std::string to_markdown(const Leaderboard& board) {
  std::ostringstream md;
  std::string current;
  for (const auto& e : board.entries) {
    if (e.benchmark != current || &e == &board.entries.front()) {
      current = e.benchmark;
      md << (&e == &board.entries.front() ? "" : "\n") << "### " << current << "\n\n"
         << "| Label | Method | Runs | Acc (class-IL) | Acc weighted | AAA | Forgetting | BWT | "
            "FWT | "
            "Acc (task-IL) | Stored params | Stored per task |\n"
         << "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    }
    md << "| " << e.label << " | " << e.method << " | " << e.runs << " | "
       << cell(e.final_acc, e.runs) << " | " << cell(e.final_acc_weighted, e.runs) << " | "
       << cell(e.aaa, e.runs) << " | " << cell(e.forgetting, e.runs) << " | " << cell(e.bwt, e.runs)
       << " | " << cell(e.fwt, e.runs) << " | " << cell(e.task_il_final_acc, e.runs) << " | "
       << count_cell(e.stored_final, e.stored_runs) << " | "
       << count_cell(e.stored_per_task, e.stored_runs) << " |\n";
  }
  if (!board.skipped.empty()) {
    md << "\nSkipped files:\n";
    for (const auto& s : board.skipped) md << "- `" << s.path << "`: " << s.reason << "\n";
  }
  return md.str();
}

}  // namespace clbench
