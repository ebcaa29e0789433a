#include "harness/run/suite.h"

#include <cstdio>
#include <map>

#include "harness/distributed/communicator.h"
#include "harness/foundation/config.h"
#include "harness/foundation/error.h"
#include "results/fingerprint.h"

namespace clbench {
namespace {

// One method entry of a suite applied to `user`.
void apply_method(nlohmann::json& user, const nlohmann::json& m, const std::string& path) {
  if (m.is_string()) {
    user["method"] = m;
    return;
  }
  if (!m.is_object() || !m.contains("method")) {
    throw Error("suite file " + path +
                ": a method entry must be a name or an object with \"method\", got " + m.dump());
  }
  user["method"] = m["method"];
  if (m.contains("name")) user["name"] = m["name"];
  if (m.contains("set")) {
    const nlohmann::json sets = Config::flatten(m["set"]);  // alive for the whole loop
    for (const auto& [k, v] : sets.items()) user[k] = v;
  }
}

std::vector<RunPlan> plan_suite(const std::string& path, const nlohmann::json& overrides) {
  std::vector<RunPlan> plans;
  for (const auto& user : expand_suite(path, overrides)) plans.push_back(plan_run(user));
  std::map<std::string, size_t> writer;  // result file -> the first entry writing it
  for (size_t i = 0; i < plans.size(); ++i) {
    const auto& p = plans[i];
    if (p.config.str("cpu_kernels") != plans.front().config.str("cpu_kernels")) {
      throw Error("suite " + path +
                  ": every run needs the same cpu_kernels (chosen once per process)");
    }
    const auto [it, first] = writer.emplace(p.result_path, i);
    if (first) continue;
    const std::string differences =
        config_differences(plans[it->second].config.values(), p.config.values(),
                           "entry " + std::to_string(it->second), "entry " + std::to_string(i));
    if (!differences.empty()) {
      throw Error("suite " + path + ": entries " + std::to_string(it->second) + " and " +
                  std::to_string(i) + " would both write " + p.result_path +
                  " with different settings:" + differences +
                  "\n(give them different names: {\"method\": ..., \"name\": ...})");
    }
  }
  return plans;
}

}  // namespace

std::vector<nlohmann::json> expand_suite(const std::string& path, const nlohmann::json& overrides) {
  const nlohmann::json suite = Config::read_object(path, "suite file");
  auto list = [&](const char* key) {
    if (!suite.contains(key) || !suite[key].is_array() || suite[key].empty()) {
      throw Error("suite file " + path + ": '" + key + "' must be a non-empty list");
    }
    return suite[key];
  };
  const nlohmann::json defaults =
      suite.contains("defaults") ? Config::flatten(suite["defaults"]) : nlohmann::json::object();
  // Optional axis: every run once per scenario (otherwise the defaults' or each run's own), its
  // results under <out>/<scenario>.
  const nlohmann::json scenarios =
      suite.contains("scenarios") ? list("scenarios") : nlohmann::json::array({nullptr});
  for (const auto& s : scenarios) {
    if (!s.is_null() && !s.is_string()) {
      throw Error("suite file " + path +
                  ": 'scenarios' must list names such as \"class-il\", got " + s.dump());
    }
  }
  std::vector<nlohmann::json> runs;
  for (const auto& bench : list("benchmarks")) {
    for (const auto& scenario : scenarios) {
      for (const auto& m : list("methods")) {
        for (const auto& seed : list("seeds")) {
          nlohmann::json user = defaults;
          user["benchmark"] = bench;
          if (!scenario.is_null()) user["scenario"] = scenario;
          apply_method(user, m, path);
          user["seed"] = seed;
          for (const auto& [k, v] : overrides.items()) user[k] = v;
          // Each scenario's results in a folder of their own: <out>/<scenario>/<benchmark>/...
          if (!scenario.is_null()) {
            const std::string out = user.contains("out") ? user["out"].get<std::string>() : "runs";
            user["out"] = out + "/" + scenario.get<std::string>();
          }
          runs.push_back(user);
        }
      }
    }
  }
  return runs;
}

size_t count_suite(const std::string& path, const nlohmann::json& overrides) {
  return plan_suite(path, overrides).size();
}

size_t run_suite(const std::string& path, const nlohmann::json& overrides,
                 const SuiteOptions& options, Communicator& comm) {
  const auto plans = plan_suite(path, overrides);
  if (options.index < -1 || options.index >= static_cast<int64_t>(plans.size())) {
    throw Error("suite " + path + " has " + std::to_string(plans.size()) + " runs; --index " +
                std::to_string(options.index) + " is out of range (0.." +
                std::to_string(plans.size() - 1) + ")");
  }
  RunOptions run = options.run;
  run.resume = true;
  int done = 0, skipped = 0, refused = 0;
  for (size_t i = 0; i < plans.size(); ++i) {
    if (options.index >= 0 && static_cast<int64_t>(i) != options.index) continue;
    try {
      (run_one(plans[i], comm, run, options.force) ? done : skipped)++;
    } catch (const RunRefused& e) {  // every rank refused it: the others can still run
      ++refused;
      if (comm.is_root()) {
        std::fprintf(stderr, "clbench: suite entry %zu (%s): %s\n", i, plans[i].result_path.c_str(),
                     e.what());
      }
    }
  }
  if (comm.is_root()) {
    std::printf("suite %s: %d run, %d already complete, %d refused\n", path.c_str(), done, skipped,
                refused);
  }
  if (refused > 0) {
    throw Error("suite " + path + ": " + std::to_string(refused) + " of its runs were refused");
  }
  return plans.size();
}

}  // namespace clbench
