#include "results/leaderboard.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "harness/foundation/error.h"
#include "results/fingerprint.h"
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

// Text safe in a Markdown table cell: '|' escaped, line breaks and backticks made harmless.
std::string markdown_cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else if (c == '`') {
      out += '\'';
    } else {
      out += c;
    }
  }
  return out;
}

// A parameter count, mean over runs, with thousands separators; "—" when no run recorded it.
std::string count_cell(const Stat& s, int runs) {
  if (runs == 0) return "—";
  std::string digits = std::to_string(static_cast<int64_t>(std::llround(s.mean)));
  for (int i = static_cast<int>(digits.size()) - 3; i > 0 && digits[i - 1] != '-'; i -= 3)
    digits.insert(static_cast<size_t>(i), ",");
  return digits;
}

// The mean over runs in `unit`s (bytes: 1 MiB), rounded; "—" when no run recorded it.
std::string rounded_cell(const Stat& s, int runs, double unit = 1) {
  if (runs == 0) return "—";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", s.mean / unit);
  return buf;
}

constexpr double kMiB = 1024.0 * 1024.0;

std::string seconds_cell(const Stat& s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", s.mean);
  return buf;
}

}  // namespace

namespace {

// Why a file's numbers cannot be trusted ("" if they can): a value that is not finite or outside
// its range, or stored metrics other than the accuracy matrices give.
std::string inconsistency(const RunResult& r) {
  auto percent = [](double x) { return std::isfinite(x) && x >= 0 && x <= 100; };
  for (const auto* m : {&r.acc_class_il, &r.acc_task_il}) {
    for (size_t i = 0; i < m->size(); ++i) {
      for (size_t j = 0; j < (*m)[i].size(); ++j) {
        const double x = (*m)[i][j];
        if (j > i + 1 && std::isnan(x)) continue;  // a later task, not evaluated (eval_future)
        if (!percent(x)) return "an accuracy of " + std::to_string(x) + " is not in 0..100";
      }
    }
  }
  for (const auto* v : {&r.init_class_il, &r.init_task_il}) {
    for (double x : *v) {
      if (!percent(x)) return "an initial accuracy of " + std::to_string(x) + " is not in 0..100";
    }
  }
  Metrics class_il, task_il;
  try {
    class_il = compute_metrics(r.acc_class_il, r.init_class_il, r.test_counts);
    task_il = compute_metrics(r.acc_task_il, r.init_task_il, r.test_counts);
  } catch (const Error& e) {
    return e.what();
  }
  const std::pair<const char*, std::pair<double, double>> pairs[] = {
      {"final_acc", {r.class_il.final_acc, class_il.final_acc}},
      {"final_acc_weighted", {r.class_il.final_acc_weighted, class_il.final_acc_weighted}},
      {"aaa", {r.class_il.aaa, class_il.aaa}},
      {"forgetting", {r.class_il.forgetting, class_il.forgetting}},
      {"bwt", {r.class_il.bwt, class_il.bwt}},
      {"fwt", {r.class_il.fwt, class_il.fwt}},
      {"task_il/final_acc", {r.task_il.final_acc, task_il.final_acc}},
      {"task_il/aaa", {r.task_il.aaa, task_il.aaa}},
      {"task_il/forgetting", {r.task_il.forgetting, task_il.forgetting}}};
  for (const auto& [name, values] : pairs) {
    const auto [stored, recomputed] = values;
    if (!std::isfinite(stored) || std::fabs(stored - recomputed) > 1e-9) {
      return std::string("stored metric ") + name + " " + std::to_string(stored) +
             " is not what its accuracy matrix gives (" + std::to_string(recomputed) + ")";
    }
  }
  return "";
}

// Why a file's labels cannot be trusted ("" if they can): the fingerprint, method, benchmark,
// scenario, label or seed it is filed under differ from those of the configuration it stores.
std::string mislabelled(const RunResult& r) {
  if (r.config_json.empty()) return "";  // files before stored configurations
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(r.config_json);
  } catch (const nlohmann::json::exception& e) {
    return std::string("its stored configuration is not JSON: ") + e.what();
  }
  if (!config.is_object()) return "its stored configuration is not a JSON object";
  if (!r.fingerprint.empty() && r.fingerprint != result_fingerprint(config)) {
    return "its fingerprint " + r.fingerprint + " is not that of its configuration (" +
           result_fingerprint(config) + ")";
  }
  const std::pair<const char*, std::string> labels[] = {{"method", r.method},
                                                        {"benchmark", r.benchmark},
                                                        {"scenario", r.scenario},
                                                        {"name", r.label}};
  for (const auto& [key, value] : labels) {
    if (config.contains(key) && config[key] != value) {
      return std::string("it is filed under ") + key + " '" + value +
             "' but its configuration says " + config[key].dump();
    }
  }
  if (config.contains("seed") && config["seed"] != r.seed) {
    return "it is filed under seed " + std::to_string(r.seed) + " but its configuration says " +
           config["seed"].dump();
  }
  return "";
}

// The result files below `dir` (sorted); links are not followed but listed in `skipped`.
std::vector<std::string> result_files(const std::string& dir, std::vector<SkippedFile>& skipped) {
  std::vector<std::string> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_symlink()) {
      skipped.push_back({it->path().string(), "a link: not followed"});
    } else if (it->is_regular_file() && is_result_file(it->path())) {
      files.push_back(it->path().string());
    }
  }
  if (ec) throw Error("leaderboard: cannot list " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  return files;
}

// A group's runs with their files, by seed, without what no output of a run shows.
std::vector<LeaderboardRun> kept_runs(std::vector<RunResult> runs,
                                      const std::vector<std::string>& paths) {
  std::vector<LeaderboardRun> kept;
  for (size_t i = 0; i < runs.size(); ++i) {
    RunResult& r = runs[i];
    r.config_json.clear();
    r.other_predictions.clear();
    r.task_classes.clear();
    r.class_order.clear();
    kept.push_back({paths[i], std::move(r)});
  }
  std::sort(kept.begin(), kept.end(),
            [](const auto& a, const auto& b) { return a.result.seed < b.result.seed; });
  return kept;
}

}  // namespace

LeaderboardEntry summarise_runs(const std::vector<RunResult>& runs) {
  LeaderboardEntry e;
  e.benchmark = runs[0].benchmark;
  e.method = runs[0].method;
  e.label = runs[0].label;
  e.scenario = runs[0].scenario;
  e.fingerprint = runs[0].fingerprint;
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
  e.task_il_aaa = over([](const RunResult& r) { return r.task_il.aaa; });
  e.task_il_forgetting = over([](const RunResult& r) { return r.task_il.forgetting; });
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
  std::vector<double> samples, bytes;
  for (const auto& r : runs) {
    if (r.memory_samples.empty()) continue;
    samples.push_back(static_cast<double>(r.memory_samples.back()));
    bytes.push_back(static_cast<double>(r.memory_bytes.back()));
  }
  e.memory_runs = static_cast<int>(samples.size());
  if (e.memory_runs > 0) {
    e.memory_samples = stat_of(samples);
    e.memory_bytes = stat_of(bytes);
  }
  e.seconds_per_task = over([](const RunResult& r) { return stat_of(r.task_seconds).mean; });
  const auto largest = [](const std::vector<int64_t>& per_task) {
    return static_cast<double>(*std::max_element(per_task.begin(), per_task.end()));
  };
  std::vector<double> host, device, rate;
  for (const auto& r : runs) {
    if (r.train_images_per_second.empty()) continue;
    host.push_back(largest(r.peak_host_bytes));
    rate.push_back(stat_of(r.train_images_per_second).mean);
    if (!r.peak_device_bytes.empty()) device.push_back(largest(r.peak_device_bytes));
  }
  e.cost_runs = static_cast<int>(rate.size());
  e.device_runs = static_cast<int>(device.size());
  if (e.cost_runs > 0) {
    e.peak_host_bytes = stat_of(host);
    e.images_per_second = stat_of(rate);
  }
  if (e.device_runs > 0) e.peak_device_bytes = stat_of(device);
  e.forward_passes = runs[0].forward_passes;
  e.config_json = runs[0].config_json;
  for (const auto& r : runs) e.seeds.push_back(r.seed);
  std::sort(e.seeds.begin(), e.seeds.end());
  return e;
}

Leaderboard gather_leaderboard(const std::string& dir, const GatherOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error("leaderboard: no such folder: " + dir);
  Leaderboard board;
  board.files = result_files(dir, board.skipped);
  using Key = std::tuple<std::string, std::string, std::string, std::string>;
  std::map<Key, std::vector<RunResult>> groups;
  std::map<Key, std::vector<std::string>> paths;  // each run's file, as in groups
  std::map<std::pair<Key, int64_t>, std::string> first_of_seed;
  for (const auto& f : board.files) {
    try {
      RunResult r = read_result(f);
      if (r.status != "complete") {
        board.skipped.push_back({f, "status is '" + r.status + "', not 'complete'"});
        continue;
      }
      std::string why = inconsistency(r);
      if (why.empty()) why = mislabelled(r);
      if (!why.empty()) {
        board.skipped.push_back({f, why});
        continue;
      }
      if (r.fingerprint.empty()) {  // files before fingerprints: from their stored configuration
        r.fingerprint =
            result_fingerprint(r.config_json.empty() ? nlohmann::json::object()
                                                     : nlohmann::json::parse(r.config_json));
      }
      const Key key{r.benchmark, r.scenario, r.label, r.fingerprint};
      const auto [it, first] = first_of_seed.emplace(std::make_pair(key, r.seed), f);
      if (!first) {
        board.skipped.push_back({f, "seed " + std::to_string(r.seed) +
                                        " again (counted once, from " + it->second + ")"});
        continue;
      }
      groups[key].push_back(std::move(r));
      paths[key].push_back(f);
    } catch (const SystemError&) {
      throw;  // the system's failure, not the file's: never a silently shorter board
    } catch (const std::exception& e) {
      board.skipped.push_back({f, e.what()});
    }
  }
  for (auto& [key, runs] : groups) {
    board.entries.push_back(summarise_runs(runs));
    if (options.keep_runs) board.entries.back().run_list = kept_runs(std::move(runs), paths[key]);
  }
  std::sort(board.entries.begin(), board.entries.end(), [](const auto& a, const auto& b) {
    if (a.benchmark != b.benchmark) return a.benchmark < b.benchmark;
    if (a.final_acc.mean != b.final_acc.mean) return a.final_acc.mean > b.final_acc.mean;
    return a.label < b.label;
  });
  return board;
}

const std::vector<AccuracyStatistic>& accuracy_statistics() {
  using E = LeaderboardEntry;
  static const std::vector<AccuracyStatistic> statistics = {
      {"final_acc", &E::final_acc, "Acc (class-IL)", true},
      {"final_acc_weighted", &E::final_acc_weighted, "Acc weighted", true},
      {"aaa", &E::aaa, "AAA", true},
      {"forgetting", &E::forgetting, "Forgetting", true},
      {"bwt", &E::bwt, "BWT", true},
      {"fwt", &E::fwt, "FWT", true},
      {"task_il_final_acc", &E::task_il_final_acc, "Acc (task-IL)", true},
      {"task_il_aaa", &E::task_il_aaa, "AAA (task-IL)", false},
      {"task_il_forgetting", &E::task_il_forgetting, "Forgetting (task-IL)", false}};
  return statistics;
}

const std::vector<CostStatistic>& cost_statistics() {
  using E = LeaderboardEntry;
  static const std::vector<CostStatistic> statistics = {
      {"stored_params_final", &E::stored_final, &E::stored_runs},
      {"stored_params_per_task", &E::stored_per_task, &E::stored_runs},
      {"memory_samples", &E::memory_samples, &E::memory_runs},
      {"memory_bytes", &E::memory_bytes, &E::memory_runs},
      {"seconds_per_task", &E::seconds_per_task, nullptr},
      {"peak_host_bytes", &E::peak_host_bytes, &E::cost_runs},
      {"peak_device_bytes", &E::peak_device_bytes, &E::device_runs},
      {"train_images_per_second", &E::images_per_second, &E::cost_runs}};
  return statistics;
}

nlohmann::json to_json(const Leaderboard& board) {
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& e : board.entries) {
    nlohmann::json entry = {{"benchmark", e.benchmark},
                            {"method", e.method},
                            {"label", e.label},
                            {"scenario", e.scenario},
                            {"fingerprint", e.fingerprint},
                            {"runs", e.runs},
                            {"seeds", e.seeds},
                            {"forward_passes_per_test_image", e.forward_passes}};
    for (const auto& s : cost_statistics()) {
      entry[s.name] = (s.runs && e.*s.runs == 0) ? nlohmann::json(nullptr) : stat_json(e.*s.stat);
    }
    for (const auto& s : accuracy_statistics()) entry[s.name] = stat_json(e.*s.stat);
    entries.push_back(std::move(entry));
  }
  nlohmann::json skipped = nlohmann::json::array();
  for (const auto& s : board.skipped) skipped.push_back({{"path", s.path}, {"reason", s.reason}});
  return {{"entries", entries}, {"skipped", skipped}};
}

std::vector<LeaderboardTable> leaderboard_tables(const Leaderboard& board,
                                                 const MarkdownAddition& addition) {
  std::vector<LeaderboardTable> tables;
  const auto& statistics = accuracy_statistics();
  const auto& entries = board.entries;
  for (size_t begin = 0, end = 0; begin < entries.size(); begin = end) {  // a table a benchmark
    while (end < entries.size() && entries[end].benchmark == entries[begin].benchmark) ++end;
    std::vector<bool> added(statistics.size(), false);  // the statistics with added columns
    for (const auto& [at, cells] : addition.cells) {
      if (at.first < begin || at.first >= end) continue;
      for (size_t s = 0; s < statistics.size(); ++s)
        added[s] = added[s] || at.second == statistics[s].name;
    }
    LeaderboardTable table;
    table.benchmark = entries[begin].benchmark;
    table.headers = {"Label", "Method", "Scenario", "Runs"};
    for (size_t s = 0; s < statistics.size(); ++s) {
      if (statistics[s].shown || added[s]) table.headers.push_back(statistics[s].header);
      if (added[s])
        table.headers.insert(table.headers.end(), addition.headers.begin(), addition.headers.end());
    }
    table.headers.insert(table.headers.end(),
                         {"Stored params", "Stored per task", "Memory (samples)", "Memory (bytes)",
                          "Passes per test image", "s per task", "Images/s", "Peak host MiB",
                          "Peak GPU MiB", "Config"});
    for (size_t i = begin; i < end; ++i) {
      const auto& e = entries[i];
      std::vector<std::string> row = {e.label, e.method, e.scenario, std::to_string(e.runs)};
      for (size_t s = 0; s < statistics.size(); ++s) {
        if (statistics[s].shown || added[s]) row.push_back(cell(e.*statistics[s].stat, e.runs));
        if (!added[s]) continue;
        const auto found = addition.cells.find({i, statistics[s].name});
        for (size_t h = 0; h < addition.headers.size(); ++h) {
          const bool has = found != addition.cells.end() && h < found->second.size();
          row.push_back(has ? found->second[h] : "");
        }
      }
      row.insert(
          row.end(),
          {count_cell(e.stored_final, e.stored_runs), count_cell(e.stored_per_task, e.stored_runs),
           count_cell(e.memory_samples, e.memory_runs), count_cell(e.memory_bytes, e.memory_runs),
           std::to_string(e.forward_passes), seconds_cell(e.seconds_per_task),
           rounded_cell(e.images_per_second, e.cost_runs),
           rounded_cell(e.peak_host_bytes, e.cost_runs, kMiB),
           rounded_cell(e.peak_device_bytes, e.device_runs, kMiB), e.fingerprint.substr(0, 8)});
      table.rows.push_back(std::move(row));
      table.entries.push_back(i);
    }
    tables.push_back(std::move(table));
  }
  return tables;
}

std::string to_markdown(const Leaderboard& board, const MarkdownAddition& addition) {
  std::ostringstream md;
  auto line = [&md](const std::vector<std::string>& cells) {
    md << "|";
    for (const auto& c : cells) md << " " << markdown_cell(c) << " |";
    md << "\n";
  };
  const auto tables = leaderboard_tables(board, addition);
  for (size_t t = 0; t < tables.size(); ++t) {
    md << (t == 0 ? "" : "\n") << "### " << markdown_cell(tables[t].benchmark) << "\n\n";
    line(tables[t].headers);
    for (size_t c = tables[t].headers.size(); c > 0; --c) md << "|---";
    md << "|\n";
    for (const auto& row : tables[t].rows) line(row);
  }
  if (!board.skipped.empty()) {
    md << "\nSkipped files:\n";
    for (const auto& s : board.skipped)
      md << "- " << markdown_cell(s.path) << ": " << markdown_cell(s.reason) << "\n";
  }
  return md.str();
}

}  // namespace clbench
