#include "harness/run/suite.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "datasets/benchmarks/registry.h"
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

// Copies an entry's "set" into `user`, refusing axis keys.
void apply_set(nlohmann::json& user, const nlohmann::json& entry, const std::string& path,
               bool scenario_axis) {
  if (!entry.is_object() || !entry.contains("set")) return;
  const nlohmann::json sets = Config::flatten(entry["set"]);  // alive for the whole loop
  check_no_axis_key(sets, scenario_axis, path, "the entry " + entry.dump());
  for (const auto& [k, v] : sets.items()) user[k] = v;
}

// Refuses keys of an entry object other than `known` (and demands `name_key`).
void check_entry_keys(const nlohmann::json& entry, const std::string& name_key,
                      const std::vector<std::string>& known, const std::string& path) {
  std::string list;
  for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
  if (!entry.is_object() || !entry.contains(name_key) || !entry[name_key].is_string()) {
    throw Error("suite file " + path + ": a " + name_key +
                " entry must be a name or an object with \"" + name_key + "\", got " +
                entry.dump());
  }
  for (const auto& [key, unused] : entry.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      throw Error("suite file " + path + ": unknown key '" + key + "' in the " + name_key +
                  " entry " + entry.dump() + " (known: " + list + ")");
    }
  }
  if (entry.contains("source") && !entry["source"].is_string()) {
    throw Error("suite file " + path + ": 'source' of the entry " + entry.dump() +
                " must be a string (the config file its settings come from)");
  }
}

std::string name_of(const nlohmann::json& entry, const char* key) {
  return entry.is_string() ? entry.get<std::string>() : entry[key].get<std::string>();
}

std::string source_of(const nlohmann::json& entry) {
  return entry.is_object() && entry.contains("source") ? entry["source"].get<std::string>() : "";
}

// A grid value in a label: numbers and booleans as JSON writes them, strings as they are.
std::string label_value(const nlohmann::json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

// The variants of a method entry's "grid" ({"ewc.lambda": [100, 1000]}): every combination of
// the listed values (keys in name order), each with its settings and its label suffix
// "@lambda=100" (a key's last part; the whole key where two keys share it). No grid: one variant.
std::vector<std::pair<nlohmann::json, std::string>> grid_variants(const nlohmann::json& entry,
                                                                  const std::string& path,
                                                                  bool scenario_axis) {
  std::vector<std::pair<nlohmann::json, std::string>> variants = {{nlohmann::json::object(), ""}};
  if (!entry.is_object() || !entry.contains("grid")) return variants;
  const nlohmann::json grid = Config::flatten(entry["grid"]);
  if (!grid.is_object() || grid.empty()) {
    throw Error("suite file " + path + ": 'grid' of the entry " + entry.dump() +
                " must map keys to non-empty lists of values");
  }
  check_no_axis_key(grid, scenario_axis, path, "the grid of " + entry.dump());
  const nlohmann::json sets =
      entry.contains("set") ? Config::flatten(entry["set"]) : nlohmann::json::object();
  std::map<std::string, int> last_parts;
  for (const auto& [key, unused] : grid.items()) ++last_parts[key.substr(key.rfind('.') + 1)];
  for (const auto& [key, values] : grid.items()) {
    if (!values.is_array() || values.empty()) {
      throw Error("suite file " + path + ": grid key '" + key + "' of the entry " + entry.dump() +
                  " must list its values, e.g. [100, 1000]");
    }
    if (sets.contains(key)) {
      throw Error("suite file " + path + ": '" + key + "' is both in the grid and in 'set' of " +
                  entry.dump());
    }
    const std::string part = key.substr(key.rfind('.') + 1);
    const std::string shown = last_parts[part] > 1 ? key : part;
    std::vector<std::pair<nlohmann::json, std::string>> next;
    for (const auto& [chosen, label] : variants) {
      for (const auto& v : values) {
        auto more = chosen;
        more[key] = v;
        next.push_back({more, label + (label.empty() ? "@" : ",") + shown + "=" + label_value(v)});
      }
    }
    variants = std::move(next);
  }
  return variants;
}

// `sources`, when given, receives each plan's source (the config files its entry cites).
std::vector<RunPlan> plan_suite(const std::string& path, const nlohmann::json& overrides,
                                bool read_inputs = true,
                                std::vector<std::string>* sources = nullptr) {
  std::vector<RunPlan> plans;
  for (const auto& run : expand_suite_runs(path, overrides)) {
    plans.push_back(plan_run(run.user, read_inputs));
    if (sources != nullptr) sources->push_back(run.source);
  }
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

std::vector<SuiteRun> expand_suite_runs(const std::string& path, const nlohmann::json& overrides) {
  const nlohmann::json suite = Config::read_object(path, "suite file");
  for (const auto& [key, unused] : suite.items()) {
    if (key != "defaults" && key != "benchmarks" && key != "methods" && key != "seeds" &&
        key != "scenarios" && key != "source") {
      throw Error("suite file " + path + ": unknown key '" + key +
                  "' (known: source, defaults, benchmarks, methods, seeds, scenarios)");
    }
  }
  if (suite.contains("source") && !suite["source"].is_string()) {
    throw Error("suite file " + path + ": 'source' must be a string (the table it regenerates)");
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
  const nlohmann::json benchmarks = list("benchmarks"), methods = list("methods");
  std::set<std::string> benchmark_names;
  for (const auto& b : benchmarks) {
    if (!b.is_string()) check_entry_keys(b, "benchmark", {"benchmark", "set", "source"}, path);
    benchmark_names.insert(name_of(b, "benchmark"));
  }
  for (const auto& m : methods) {
    if (m.is_string()) continue;
    check_entry_keys(m, "method", {"method", "name", "set", "grid", "benchmarks", "source"}, path);
    if (!m.contains("benchmarks")) continue;
    if (!m["benchmarks"].is_array() || m["benchmarks"].empty()) {
      throw Error("suite file " + path + ": 'benchmarks' of the entry " + m.dump() +
                  " must list benchmarks of the suite");
    }
    for (const auto& b : m["benchmarks"]) {
      if (!b.is_string() || benchmark_names.count(b.get<std::string>()) == 0) {
        throw Error("suite file " + path + ": the entry " + m.dump() + " names benchmark " +
                    b.dump() + ", which is not in the suite's 'benchmarks'");
      }
    }
  }
  const auto applies = [](const nlohmann::json& m, const std::string& bench) {
    if (!m.is_object() || !m.contains("benchmarks")) return true;
    for (const auto& b : m["benchmarks"])
      if (b == bench) return true;
    return false;
  };
  std::vector<std::vector<std::pair<nlohmann::json, std::string>>> variants;  // per method entry
  for (const auto& m : methods) variants.push_back(grid_variants(m, path, scenario_axis));
  const nlohmann::json seeds = list("seeds");
  std::vector<SuiteRun> runs;
  for (const auto& b : benchmarks) {
    const std::string bench = name_of(b, "benchmark");
    for (const auto& scenario : scenarios) {
      for (size_t mi = 0; mi < methods.size(); ++mi) {
        const auto& m = methods[mi];
        if (!applies(m, bench)) continue;
        for (const auto& [grid_sets, grid_label] : variants[mi]) {
          for (const auto& seed : seeds) {
            nlohmann::json user = defaults;
            user["benchmark"] = bench;
            if (!scenario.is_null()) user["scenario"] = scenario;
            apply_set(user, b, path, scenario_axis);
            user["method"] = name_of(m, "method");
            if (m.is_object() && m.contains("name")) user["name"] = m["name"];
            apply_set(user, m, path, scenario_axis);
            for (const auto& [k, v] : grid_sets.items()) user[k] = v;
            if (!grid_label.empty()) {
              const std::string base =
                  user.contains("name") ? user["name"].get<std::string>() : name_of(m, "method");
              user["name"] = base + grid_label;
            }
            user["seed"] = seed;
            for (const auto& [k, v] : overrides.items()) user[k] = v;
            // Each scenario's results in a folder of their own: <out>/<scenario>/<benchmark>/...
            if (!scenario.is_null()) {
              const std::string out =
                  user.contains("out") ? user["out"].get<std::string>() : "runs";
              user["out"] = out + "/" + scenario.get<std::string>();
            }
            std::string source = source_of(m);
            if (!source_of(b).empty()) source += (source.empty() ? "" : "; ") + source_of(b);
            runs.push_back({user, source});
          }
        }
      }
    }
  }
  return runs;
}

std::vector<nlohmann::json> expand_suite(const std::string& path, const nlohmann::json& overrides) {
  std::vector<nlohmann::json> users;
  for (auto& run : expand_suite_runs(path, overrides)) users.push_back(std::move(run.user));
  return users;
}

size_t count_suite(const std::string& path, const nlohmann::json& overrides) {
  return plan_suite(path, overrides, false).size();
}

namespace {

// The files a run reads that are not there yet, as "key=path (missing)"; the rest as "key=path".
std::string needed_files(const RunPlan& plan) {
  std::string needs;
  for (const char* key : {"data_root", "cache", "pretrained"}) {
    if (!plan.config.has(key)) continue;
    const std::string value = plan.config.str(key);
    if (std::string(key) == "data_root" && !find_benchmark(plan.benchmark).reads_files) continue;
    if (value.empty()) {
      if (std::string(key) == "data_root") needs += "data_root=(the benchmark's default)";
      continue;
    }
    std::error_code ec;
    needs += std::string(needs.empty() ? "" : ", ") + key + "=" + value +
             (std::filesystem::exists(value, ec) ? "" : " (missing)");
  }
  return needs.empty() ? "none" : needs;
}

}  // namespace

std::vector<SuiteEntry> list_suite(const std::string& path, const nlohmann::json& overrides) {
  std::vector<SuiteEntry> entries;
  std::vector<std::string> sources;
  const auto plans = plan_suite(path, overrides, false, &sources);
  for (size_t i = 0; i < plans.size(); ++i) {
    const auto& plan = plans[i];
    SuiteEntry e{plan.benchmark,   plan.label, plan.seed,          plan.config.str("scenario"),
                 plan.result_path, "to run",   needed_files(plan), sources[i]};
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

void print_suite_table(const std::vector<SuiteEntry>& entries, bool details) {
  std::printf("| # | benchmark | label | scenario | seed | status | result |%s\n",
              details ? " needs | source |" : "");
  std::printf("|---|---|---|---|---|---|---|%s\n", details ? "---|---|" : "");
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    if (e.status.empty()) continue;
    std::printf("| %zu | %s | %s | %s | %lld | %s | %s |", i, e.benchmark.c_str(), e.label.c_str(),
                e.scenario.c_str(), static_cast<long long>(e.seed), e.status.c_str(),
                e.result_path.c_str());
    if (details) std::printf(" %s | %s |", e.needs.c_str(), e.source.c_str());
    std::printf("\n");
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
    outcomes.push_back({plan.benchmark, plan.label, plan.seed, plan.config.str("scenario"),
                        plan.result_path, "", "", ""});
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
