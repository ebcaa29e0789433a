#pragma once
// A run's plan: its configuration resolved against the keys every run has, the benchmark's and
// the method's, with the method's requirements checked, before any data is read.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/foundation/config.h"

namespace clbench {

// Keys every run has (benchmark, method, seed, epochs, lr, ...).
std::vector<OptionSpec> common_specs();

// The most CPU threads a run may ask for (4 per hardware thread of this machine).
double max_threads();

struct RunPlan {
  Config config;  // every declared key, resolved
  std::string benchmark, method, label;
  int64_t seed = 0;
  std::string result_path;  // <out>/<benchmark>/<label>/seed-<seed>.h5
};

// `user`: flat keys from the config file, flags and --set. Errors name the key and value.
// Without `read_inputs` the pretrained weights are not hashed (they may not exist yet: a suite
// listed or counted before its backbone is pretrained); such a plan names a run but cannot run it.
RunPlan plan_run(const nlohmann::json& user, bool read_inputs = true);

// Checkpoint file of a run: next to its result, <...>/seed-<seed>.ckpt.
std::string checkpoint_path(const RunPlan& plan);

}  // namespace clbench
