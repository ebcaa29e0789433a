#pragma once
// Gathers every result file under a folder into one schema, then prints it as JSON or Markdown
// (and, from the same gather, as an HTML report and CSV: results/report_html.h, report_csv.h).
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "results/result_file.h"

namespace clbench {

struct Stat {
  double mean = 0;
  double std = 0;  // sample standard deviation over seeds; 0 for one run
};

// One run of an entry, kept when gather_leaderboard is asked to (GatherOptions::keep_runs): the
// file and what it holds, less its configuration, other predictions and class lists.
struct LeaderboardRun {
  std::string path;
  RunResult result;
};

struct LeaderboardEntry {
  std::string benchmark, method, label, scenario;
  std::string fingerprint;  // results/fingerprint.h: entries differ in it when their settings do
  int runs = 0;
  std::vector<int64_t> seeds;
  Stat final_acc, final_acc_weighted, aaa, forgetting, bwt, fwt;  // class-IL
  Stat task_il_final_acc, task_il_aaa, task_il_forgetting;
  // /params/stored: after the last task, and added per task after the first (runs without the
  // dataset, written by older versions, are left out; stored_runs = how many had it).
  Stat stored_final, stored_per_task;
  int stored_runs = 0;
  // /memory after the last task (memory_runs = how many runs recorded it), and the mean wall time
  // of a task (/time/task_seconds).
  Stat memory_samples, memory_bytes;
  int memory_runs = 0;
  Stat seconds_per_task;
  // /cost: the largest peak of a run's tasks (host RSS; GPU allocated, GPU runs only) and its
  // mean training images per second over tasks (cost_runs, device_runs: how many runs had them).
  Stat peak_host_bytes, peak_device_bytes, images_per_second;
  int cost_runs = 0, device_runs = 0;
  int64_t forward_passes = 1;  // backbone passes per test image (the first run's)
  // The resolved configuration (JSON) of the group's first file, "" for files before stored
  // configurations; its runs share every setting the fingerprint covers (results/published.h).
  std::string config_json;
  std::vector<LeaderboardRun> run_list;  // by seed; empty unless GatherOptions::keep_runs
};

// The statistics of one group's runs (the names are the first run's): a leaderboard row, or with
// one run that run's own numbers (std 0).
LeaderboardEntry summarise_runs(const std::vector<RunResult>& runs);

// The accuracy statistics, by the names to_json gives them, in the order of the Markdown columns:
// `header` names the column, which only those `shown` have unless columns are added after them.
struct AccuracyStatistic {
  const char* name;
  Stat LeaderboardEntry::*stat;
  const char* header;
  bool shown;
};
const std::vector<AccuracyStatistic>& accuracy_statistics();

// The parameter, memory and cost statistics, by the names to_json gives them; `runs` counts the
// runs that recorded it (none where every run does): with none of them it is null in the JSON.
struct CostStatistic {
  const char* name;
  Stat LeaderboardEntry::*stat;
  int LeaderboardEntry::*runs;
};
const std::vector<CostStatistic>& cost_statistics();

struct SkippedFile {
  std::string path, reason;
};

struct Leaderboard {
  std::vector<LeaderboardEntry> entries;  // sorted by benchmark, then final_acc descending
  // Never counted: unreadable, incomplete or inconsistent files, second copies of a seed, and the
  // links that were not followed, each with the reason.
  std::vector<SkippedFile> skipped;
  std::vector<std::string> files;  // every result file read
};

struct GatherOptions {
  bool keep_runs = false;  // fill LeaderboardEntry::run_list (the report's curves and heat maps)
};

// Every *.h5 below dir, grouped by (benchmark, scenario, label, fingerprint), each seed counted
// once. A file whose values are not finite or outside their range, or whose stored metrics differ
// from those its accuracy matrices give, is skipped. Throws clbench::Error if dir is missing.
Leaderboard gather_leaderboard(const std::string& dir, const GatherOptions& options = {});
nlohmann::json to_json(const Leaderboard& board);

// Columns added after an accuracy statistic's column in the Markdown tables
// (results/published.h): a benchmark's table gets `headers` after statistic s when one of its rows
// has cells[{row, s}] (row: index into board.entries; the other rows get empty cells), and a
// statistic that is not `shown` gets its own column before them. Empty: the tables as they were.
struct MarkdownAddition {
  std::vector<std::string> headers;
  std::map<std::pair<size_t, std::string>, std::vector<std::string>> cells;
};

// A benchmark's table as text cells (not escaped), the Markdown's and the HTML report's.
struct LeaderboardTable {
  std::string benchmark;
  std::vector<std::string> headers;
  std::vector<std::vector<std::string>> rows;  // a cell a header
  std::vector<size_t> entries;                 // each row's index into board.entries
};
std::vector<LeaderboardTable> leaderboard_tables(const Leaderboard& board,
                                                 const MarkdownAddition& addition = {});
std::string to_markdown(const Leaderboard& board, const MarkdownAddition& addition = {});

}  // namespace clbench
