#pragma once
// Suites: benchmarks x methods x seeds from one JSON file, run one after the other (or one entry
// per Slurm array task), skipping complete results and resuming checkpoints.
//   {"source": "the table it regenerates", "defaults": {...},
//    "benchmarks": [name | {"benchmark": name, "set": {...}, "source": "..."}],
//    "methods": [name | {"method": name, "name": label, "set": {...}, "grid": {key: [values]},
//                        "benchmarks": [names it runs on], "source": "owner/repo@commit:path"}],
//    "scenarios": [...], "seeds": [...]}
// Settings: defaults < the benchmark's set < the method's set < its grid values < --set. A grid
// expands an entry into one variant per combination, labelled "<label>@<key>=<value>,...".
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/run/execute.h"

namespace clbench {

// One run of a suite: its flat user settings and the sources its entries cite.
struct SuiteRun {
  nlohmann::json user;
  std::string source;
};

// Every run of the suite file, `overrides` applied last.
std::vector<SuiteRun> expand_suite_runs(const std::string& path, const nlohmann::json& overrides);
std::vector<nlohmann::json> expand_suite(const std::string& path, const nlohmann::json& overrides);

struct SuiteOptions {
  int64_t index = -1;  // run only this entry (0-based); -1: all
  bool force = false;  // recompute complete results too
  RunOptions run;      // resume is always on
};

// Plans every entry first (a bad entry fails before anything runs), then runs them. An entry that
// is refused, or fails on one rank (diverged, a data error), is reported and the others still run;
// the suite ends with a table of every entry's outcome and an Error when any was refused or
// failed. Returns the plans' count.
size_t run_suite(const std::string& path, const nlohmann::json& overrides,
                 const SuiteOptions& options, Communicator& comm);

// The number of runs of a suite (validating every entry; pretrained weights need not exist yet).
size_t count_suite(const std::string& path, const nlohmann::json& overrides);

// One entry of a suite and where it stands: "to run", "checkpoint", "complete", "incomplete",
// "unreadable" (list_suite), or what running it did: "done", "already complete", "refused",
// "failed" (run_suite's closing table).
struct SuiteEntry {
  std::string benchmark, label;
  int64_t seed = 0;
  std::string scenario, result_path, status;
  std::string needs;   // list_suite: the files it reads, "(missing)" after those not there
  std::string source;  // list_suite: the config files its suite entry cites
};

// Every entry with its result path and status, from the files alone (no data or weights read):
// what a Slurm array needs to size itself and map --index to runs.
std::vector<SuiteEntry> list_suite(const std::string& path, const nlohmann::json& overrides);

// The entries as a Markdown table, one row per entry that has a status:
// | # | benchmark | label | scenario | seed | status | result |, with details also | needs | source
// |.
void print_suite_table(const std::vector<SuiteEntry>& entries, bool details = false);

}  // namespace clbench
