#include "harness/run/suite.h"

#include <cstdio>
#include <filesystem>
#include <map>

#include "harness/distributed/communicator.h"
#include "harness/foundation/config.h"
#include "harness/foundation/error.h"
#include "results/fingerprint.h"
#include "results/result_file.h"

namespace clbench {
namespace {

// Keys a suite sets by its axes: set anywhere else they would silently override every entry.
std::vector<std::string> axis_keys(bool scenario_axis) {
  std::vector<std::string> keys = {"benchmark", "method", "seed"};
  if (scenario_axis) keys.push_back("scenario");
  return keys;
}

// Refuses settings (`where`: "defaults", "--set", an entry's "set") that contradict an axis.
void check_no_axis_key(const nlohmann::json& settings, bool scenario_axis, const std::string& path,
                       const std::string& where) {
  for (const auto& key : axis_keys(scenario_axis)) {
    if (settings.contains(key)) {
      throw Error("suite " + path + ": " + where + " sets '" + key + "', which the suite's '" +
                  (key == "scenario" ? std::string("scenarios") : key + "s") +
                  "' list decides for every run; change that list instead");
    }
  }
}

// One method entry of a suite applied to `user`.
void apply_method(nlohmann::json& user, const nlohmann::json& m, const std::string& path,
                  bool scenario_axis) {
  if (m.is_string()) {
    user["method"] = m;
    return;
  }
  if (!m.is_object() || !m.contains("method")) {
    throw Error("suite file " + path +
                ": a method entry must be a name or an object with \"method\", got " + m.dump());
  }
  for (const auto& [key, unused] : m.items()) {
    if (key != "method" && key != "name" && key != "set") {
      throw Error("suite file " + path + ": unknown key '" + key + "' in the method entry " +
                  m.dump() + " (known: method, name, set)");
    }
  }
  user["method"] = m["method"];
  if (m.contains("name")) user["name"] = m["name"];
  if (m.contains("set")) {
    const nlohmann::json sets = Config::flatten(m["set"]);  // alive for the whole loop
    check_no_axis_key(sets, scenario_axis, path, "the entry " + m.dump());
    for (const auto& [k, v] : sets.items()) user[k] = v;
  }
}

std::vector<RunPlan> plan_suite(const std::string& path, const nlohmann::json& overrides,
                                bool read_inputs = true) {
  std::vector<RunPlan> plans;
  for (const auto& user : expand_suite(path, overrides))
    plans.push_back(plan_run(user, read_inputs));
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
  for (const auto& [key, unused] : suite.items()) {
    if (key != "defaults" && key != "benchmarks" && key != "methods" && key != "seeds" &&
        key != "scenarios") {
      throw Error("suite file " + path + ": unknown key '" + key +
                  "' (known: defaults, benchmarks, methods, seeds, scenarios)");
    }
  }
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
  const bool scenario_axis = suite.contains("scenarios");
  check_no_axis_key(defaults, scenario_axis, path, "'defaults'");
  check_no_axis_key(overrides, scenario_axis, path, "--set");
  std::vector<nlohmann::json> runs;
  for (const auto& bench : list("benchmarks")) {
    for (const auto& scenario : scenarios) {
      for (const auto& m : list("methods")) {
        for (const auto& seed : list("seeds")) {
          nlohmann::json user = defaults;
          user["benchmark"] = bench;
          if (!scenario.is_null()) user["scenario"] = scenario;
          apply_method(user, m, path, scenario_axis);
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
  return plan_suite(path, overrides, false).size();
}

std::vector<SuiteEntry> list_suite(const std::string& path, const nlohmann::json& overrides) {
  std::vector<SuiteEntry> entries;
  for (const auto& plan : plan_suite(path, overrides, false)) {
    SuiteEntry e{plan.benchmark,   plan.label, plan.seed, plan.config.str("scenario"),
                 plan.result_path, "to run"};
    std::error_code ec;
    if (std::filesystem::exists(plan.result_path, ec)) {
      try {
        e.status = read_result(plan.result_path).status == "complete" ? "complete" : "incomplete";
      } catch (const Error&) {
        e.status = "unreadable";
      }
    } else if (std::filesystem::exists(checkpoint_path(plan), ec)) {
      e.status = "checkpoint";
    }
    entries.push_back(e);
  }
  return entries;
}

void print_suite_table(const std::vector<SuiteEntry>& entries) {
  std::printf("| # | benchmark | label | scenario | seed | status | result |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    if (e.status.empty()) continue;
    std::printf("| %zu | %s | %s | %s | %lld | %s | %s |\n", i, e.benchmark.c_str(),
                e.label.c_str(), e.scenario.c_str(), static_cast<long long>(e.seed),
                e.status.c_str(), e.result_path.c_str());
  }
  std::fflush(stdout);
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
  std::vector<SuiteEntry> outcomes;
  std::map<std::string, int> counts;
  for (size_t i = 0; i < plans.size(); ++i) {
    const auto& plan = plans[i];
    outcomes.push_back(
        {plan.benchmark, plan.label, plan.seed, plan.config.str("scenario"), plan.result_path, ""});
    if (options.index >= 0 && static_cast<int64_t>(i) != options.index) continue;
    std::string& status = outcomes.back().status;
    std::string why;
    try {
      status = run_one(plan, comm, run, options.force) ? "done" : "already complete";
    } catch (const RunRefused& e) {  // every rank refused it: the others can still run
      status = "refused";
      why = e.what();
    } catch (const Error& e) {
      // Diverged, a data error: on one rank the suite goes on. With several, the other ranks may
      // be inside a collective this rank left, so the job ends (the next start skips what is done).
      if (comm.size() > 1) throw;
      status = "failed";
      why = e.what();
    }
    ++counts[status];
    if (!why.empty() && comm.is_root()) {
      std::fprintf(stderr, "clbench: suite entry %zu (%s): %s\n", i, plan.result_path.c_str(),
                   why.c_str());
    }
  }
  if (comm.is_root()) {
    std::printf("suite %s: %d run, %d already complete, %d refused, %d failed\n", path.c_str(),
                counts["done"], counts["already complete"], counts["refused"], counts["failed"]);
    print_suite_table(outcomes);
  }
  if (counts["refused"] + counts["failed"] > 0) {
    throw Error("suite " + path + ": " + std::to_string(counts["refused"]) +
                " of its runs were "
                "refused and " +
                std::to_string(counts["failed"]) + " failed (see above)");
  }
  return plans.size();
}

}  // namespace clbench
