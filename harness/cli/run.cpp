// clbench run and clbench suite: one run, or benchmarks x methods x seeds from a file.
#include <cstdio>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "harness/cli/command.h"
#include "harness/distributed/communicator.h"
#include "harness/foundation/config.h"
#include "harness/run/execute.h"
#include "harness/run/plan.h"
#include "harness/run/suite.h"

namespace clbench {
namespace {

struct RunArgs {
  std::string config_file;
  std::vector<std::string> sets;
  nlohmann::json flags = nlohmann::json::object();
  bool resume = false, force = false;
  int64_t checkpoint_every = 0;
  std::string suite_file;
  int64_t index = -1;
  bool count = false, list = false, dry_run = false;

  // The config file, then the flags, then --set.
  nlohmann::json user() const {
    nlohmann::json u = nlohmann::json::object();
    if (!config_file.empty()) u = Config::read_file(config_file);
    for (const auto& [k, v] : flags.items()) u[k] = v;
    apply_sets(u, sets);
    return u;
  }
  RunOptions options() const {
    RunOptions o;
    o.resume = resume;
    o.checkpoint_every = checkpoint_every;
    o.stop_requested = [] { return stop_requested(); };
    return o;
  }
};

// The type --help shows for a key and its default ("" when the key has none of its own).
std::pair<std::string, std::string> type_and_default(const std::string& key) {
  for (const auto& spec : common_specs()) {
    if (spec.key != key) continue;
    const auto& d = spec.default_value;
    if (d.is_boolean()) return {"BOOL", d.dump()};
    if (d.is_number_integer()) return {"INT", d.dump()};
    if (d.is_number()) return {"NUMBER", d.dump()};
    return {spec.choices.empty() ? "TEXT" : "NAME", d.get<std::string>()};
  }
  return {"TEXT", ""};
}

// A flag that sets config key `key`; `text` keeps the value a string, else it is parsed as JSON.
// Its help shows the key's type and default (a benchmark may set its own: clbench list --keys).
void key_flag(CLI::App* app, RunArgs& args, const std::string& name, const std::string& key,
              const std::string& help, bool text = true) {
  const auto [type, fallback] = type_and_default(key);
  app->add_option_function<std::string>(
         name,
         [&args, key, text](const std::string& v) {
           args.flags[key] =
               text ? nlohmann::json(v) : Config::parse_assignment(key + "=" + v).second;
         },
         help + (fallback.empty() ? "" : " (default " + fallback + ")"))
      ->type_name(type);
}

void add_run_flags(CLI::App* run, RunArgs& args) {
  key_flag(run, args, "--benchmark,-b", "benchmark", "task stream (see clbench list)");
  key_flag(run, args, "--method,-m", "method", "method (see clbench list)");
  key_flag(run, args, "--backbone", "backbone", "mlp | cnn | vit-* | resnet* (see clbench list)");
  key_flag(run, args, "--pretrained", "pretrained",
           "backbone weights (safetensors, timm or torchvision names)");
  key_flag(run, args, "--scenario", "scenario", "class-il | task-il");
  key_flag(run, args, "--seed", "seed", "run seed (default 0)", false);
  key_flag(run, args, "--class-order-seed", "class_order_seed",
           "PyCIL/PILOT class order from this seed", false);
  key_flag(run, args, "--class-order", "class_order", "identity | pycil | coda");
  key_flag(run, args, "--data-root", "data_root", "dataset folder");
  key_flag(run, args, "--cache", "cache", "HDF5 image cache from clbench prepare");
  key_flag(run, args, "--epochs", "epochs", "epochs per task", false);
  key_flag(run, args, "--batch-size", "batch_size", "global batch size", false);
  key_flag(run, args, "--lr", "lr", "learning rate", false);
  key_flag(run, args, "--threads", "threads", "CPU threads", false);
  key_flag(run, args, "--name", "name", "result label (default: method name)");
  key_flag(run, args, "--out", "out", "result folder (default runs/)");
  key_flag(run, args, "--device", "device", "auto | cpu | cuda");
  run->add_option("--config", args.config_file, "JSON config file (nested objects = dotted keys)");
  run->add_option("--set", args.sets, "key=value, e.g. ewc.lambda=5000 (repeatable)");
  run->add_flag("--resume", args.resume, "continue from the run's checkpoint if it has one");
  run->add_flag("--force", args.force, "recompute even if a complete result file exists");
  run->add_option("--checkpoint-every", args.checkpoint_every,
                  "also checkpoint every N steps (always after each task)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
}

}  // namespace

void apply_sets(nlohmann::json& user, const std::vector<std::string>& sets) {
  for (const auto& s : sets) {
    auto [k, v] = Config::parse_assignment(s);
    user[k] = v;
  }
}

Command add_run(CLI::App& app) {
  auto* run = app.add_subcommand("run", "train one method over one benchmark's task stream");
  auto args = std::make_shared<RunArgs>();
  add_run_flags(run, *args);
  return {run,
          [args](Communicator* comm) {
            if (args->config_file.empty() && args->flags.empty() && args->sets.empty()) {
              throw Error(
                  "clbench run needs what to run: at least --benchmark, --method or --config "
                  "(clbench run --help; the quick start's suite: clbench suite "
                  "launch/suites/default.json)");
            }
            run_one(plan_run(args->user()), *comm, args->options(), args->force);
            return 0;
          },
          true};
}

Command add_suite(CLI::App& app) {
  auto* suite = app.add_subcommand("suite",
                                   "run benchmarks x methods x seeds from a JSON file, "
                                   "skipping complete results and resuming checkpoints");
  auto args = std::make_shared<RunArgs>();
  suite->add_option("file", args->suite_file, "suite JSON file")->required();
  suite->add_option("--index", args->index, "run only entry I (0-based; Slurm job arrays)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  suite->add_flag("--count", args->count, "print the number of runs and exit");
  suite->add_flag("--list", args->list,
                  "print every entry (index, benchmark, label, seed, status, result file) and "
                  "exit; reads no data or weights");
  suite->add_flag("--dry-run", args->dry_run,
                  "resolve and check every entry's settings, print each with the files it needs "
                  "(missing ones marked) and its source, and exit; reads no data or weights");
  key_flag(suite, *args, "--out", "out", "result folder (overrides the suite's)");
  suite->add_option("--set", args->sets, "key=value applied to every run (repeatable)");
  suite->add_flag("--force", args->force, "recompute complete results too");
  suite->add_option("--checkpoint-every", args->checkpoint_every, "also checkpoint every N steps")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  return {suite,
          [args](Communicator* comm) {
            if (args->count) {
              const size_t n = count_suite(args->suite_file, args->user());
              if (comm->is_root()) std::printf("%zu\n", n);
              return 0;
            }
            if (args->list || args->dry_run) {
              const auto entries = list_suite(args->suite_file, args->user());
              if (comm->is_root()) print_suite_table(entries, args->dry_run);
              return 0;
            }
            SuiteOptions o;
            o.index = args->index;
            o.force = args->force;
            o.run = args->options();
            run_suite(args->suite_file, args->user(), o, *comm);
            return 0;
          },
          true};
}

}  // namespace clbench
