// clbench: run continual-learning methods on task streams, write HDF5 results, build leaderboards.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "datasets/benchmarks.h"
#include "harness/comm.h"
#include "harness/error.h"
#include "harness/models.h"
#include "harness/progress.h"
#include "harness/run.h"
#include "methods/method.h"
#include "results/leaderboard.h"
#include "results/result_file.h"

namespace clbench {
namespace {

void print_keys(const std::vector<OptionSpec>& keys, const std::string& indent) {
  for (const auto& k : keys) {
    std::printf("%s%-28s %-10s %s\n", indent.c_str(), k.key.c_str(), k.default_value.dump().c_str(),
                k.help.c_str());
  }
}

int cmd_list(bool keys) {
  std::printf("methods:\n");
  for (const auto& m : methods()) {
    std::printf("  %-12s %s\n", m.name.c_str(), m.summary.c_str());
    if (keys) print_keys(m.keys, "      ");
  }
  std::printf("benchmarks:\n");
  for (const auto& b : benchmarks()) {
    std::printf("  %-12s %s\n", b.name.c_str(), b.summary.c_str());
    if (keys) print_keys(b.keys, "      ");
  }
  std::printf("backbones:\n");
  for (const auto& b : backbones()) std::printf("  %-12s %s\n", b.name.c_str(), b.description.c_str());
  if (keys) {
    std::printf("common keys (--set key=value, or a flag):\n");
    print_keys(common_specs(), "  ");
  }
  return 0;
}

struct RunArgs {
  std::string config_file;
  std::vector<std::string> sets;
  nlohmann::json flags = nlohmann::json::object();
};

int cmd_run(const RunArgs& args) {
  nlohmann::json user = nlohmann::json::object();
  if (!args.config_file.empty()) user = Config::read_file(args.config_file);
  for (const auto& [k, v] : args.flags.items()) user[k] = v;
  for (const auto& s : args.sets) {
    auto [k, v] = Config::parse_assignment(s);
    user[k] = v;
  }
  RunPlan plan = plan_run(user);
  LocalCommunicator comm;
  Progress progress = Progress::for_rank(comm.rank());
  RunResult result = execute(plan, comm, progress);
  if (comm.is_root()) {
    write_result(plan.result_path, result);
    const auto written = read_result(plan.result_path);
    std::printf("%s  final acc (class-IL) %.2f  AAA %.2f  forgetting %.2f  | task-IL %.2f  -> %s\n",
                plan.label.c_str(), written.class_il.final_acc, written.class_il.aaa,
                written.class_il.forgetting, written.task_il.final_acc, plan.result_path.c_str());
  }
  return 0;
}

void write_text(const std::string& path, const std::string& text) {
  const auto parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << text;
    if (!out) throw Error("cannot write " + path);
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw Error("cannot write " + path + ": " + ec.message());
}

int cmd_leaderboard(const std::string& dir, const std::string& json_path,
                    const std::string& markdown_path) {
  const Leaderboard board = gather_leaderboard(dir);
  const std::string markdown = to_markdown(board);
  std::printf("%s", markdown.c_str());
  if (!json_path.empty()) write_text(json_path, to_json(board).dump(2) + "\n");
  if (!markdown_path.empty()) write_text(markdown_path, markdown);
  return 0;
}

}  // namespace
}  // namespace clbench

int main(int argc, char** argv) {
  using namespace clbench;
  CLI::App app{"clbench: continual-learning benchmark harness (LibTorch)"};
  app.require_subcommand(1);

  auto* list = app.add_subcommand("list", "registered methods, benchmarks and backbones");
  bool list_keys = false;
  list->add_flag("--keys", list_keys, "also list every config key with its default");

  auto* run = app.add_subcommand("run", "train one method over one benchmark's task stream");
  RunArgs args;
  auto flag = [&](const std::string& name, const std::string& key, const std::string& help) {
    run->add_option_function<std::string>(
        name, [&args, key](const std::string& v) { args.flags[key] = Config::parse_assignment(key + "=" + v).second; },
        help);
  };
  auto text_flag = [&](const std::string& name, const std::string& key, const std::string& help) {
    run->add_option_function<std::string>(
        name, [&args, key](const std::string& v) { args.flags[key] = v; }, help);
  };
  text_flag("--benchmark,-b", "benchmark", "task stream (see clbench list)");
  text_flag("--method,-m", "method", "method (see clbench list)");
  text_flag("--backbone", "backbone", "mlp | cnn");
  text_flag("--scenario", "scenario", "class-il | task-il");
  flag("--seed", "seed", "run seed (default 0)");
  flag("--class-order-seed", "class_order_seed", "PyCIL/PILOT class order from this seed");
  text_flag("--class-order", "class_order", "identity | pycil | coda");
  text_flag("--data-root", "data_root", "dataset folder");
  flag("--epochs", "epochs", "epochs per task");
  flag("--batch-size", "batch_size", "global batch size");
  flag("--lr", "lr", "learning rate");
  flag("--threads", "threads", "CPU threads");
  text_flag("--name", "name", "result label (default: method name)");
  text_flag("--out", "out", "result folder (default results/)");
  run->add_option("--config", args.config_file, "JSON config file (nested objects = dotted keys)");
  run->add_option("--set", args.sets, "key=value, e.g. ewc.lambda=5000 (repeatable)");

  auto* board = app.add_subcommand("leaderboard", "gather result files into a leaderboard");
  std::string board_dir, board_json, board_md;
  board->add_option("dir", board_dir, "folder searched recursively for *.h5")->required();
  board->add_option("--json", board_json, "write the leaderboard JSON here");
  board->add_option("--markdown", board_md, "write the Markdown tables here");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (*list) return cmd_list(list_keys);
    if (*run) return cmd_run(args);
    if (*board) return cmd_leaderboard(board_dir, board_json, board_md);
  } catch (const clbench::Error& e) {
    std::fprintf(stderr, "clbench: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "clbench: unexpected error: %s\n", e.what());
    return 1;
  }
  return 0;
}
