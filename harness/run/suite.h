#pragma once
// Suites: benchmarks x methods x seeds from one JSON file, run one after the other (or one entry
// per Slurm array task), skipping complete results and resuming checkpoints.
//   {"defaults": {...}, "benchmarks": [...],
//    "methods": [name | {"method": name, "name": label, "set": {...}}], "seeds": [...]}
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/run/execute.h"

namespace clbench {

// Every run of the suite file as flat user settings, `overrides` applied last.
std::vector<nlohmann::json> expand_suite(const std::string& path, const nlohmann::json& overrides);

struct SuiteOptions {
  int64_t index = -1;  // run only this entry (0-based); -1: all
  bool force = false;  // recompute complete results too
  RunOptions run;      // resume is always on
};

// Plans every entry first (a bad entry fails before anything runs), then runs them. Returns the
// plans' count; prints what was run and skipped on rank 0.
size_t run_suite(const std::string& path, const nlohmann::json& overrides,
                 const SuiteOptions& options, Communicator& comm);

// The number of runs of a suite (validating every entry).
size_t count_suite(const std::string& path, const nlohmann::json& overrides);

}  // namespace clbench
