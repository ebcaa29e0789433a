// clbench: run continual-learning methods on task streams, write HDF5 results, build leaderboards.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <torch/torch.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "datasets/benchmarks.h"
#include "datasets/image_cache.h"
#include "datasets/paper_benchmarks.h"
#include "harness/comm.h"
#include "harness/embed.h"
#include "harness/error.h"
#include "harness/models.h"
#include "harness/pretrain.h"
#include "harness/progress.h"
#include "harness/run.h"
#include "harness/trainer.h"
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
    std::printf("  %-16s %s\n", b.name.c_str(), b.summary.c_str());
    if (keys) print_keys(b.keys, "      ");
  }
  std::printf("backbones:\n");
  for (const auto& b : backbones())
    std::printf("  %-12s %s\n", b.name.c_str(), b.description.c_str());
  if (keys) {
    std::printf("common keys (--set key=value, or a flag):\n");
    print_keys(common_specs(), "  ");
  }
  return 0;
}

constexpr int kExitInterrupted = 75;  // EX_TEMPFAIL: checkpoint written, rerun with --resume
volatile std::sig_atomic_t g_stop_signal = 0;

void on_stop_signal(int signal) {
  g_stop_signal = signal;
}

struct RunArgs {
  std::string config_file;
  std::vector<std::string> sets;
  nlohmann::json flags = nlohmann::json::object();
  bool resume = false, force = false;
  int64_t checkpoint_every = 0;
};

bool already_complete(const std::string& path) {
  if (!std::filesystem::exists(path)) return false;
  try {
    return read_result(path).status == "complete";
  } catch (const Error&) {
    return false;  // unreadable: recompute and replace it
  }
}

// Runs one planned run unless its result is already complete. Returns false if it was skipped.
bool run_one(const RunPlan& plan, Communicator& comm, bool resume, bool force,
             int64_t checkpoint_every) {
  Progress progress = Progress::for_rank(comm.rank());
  if (!force && already_complete(plan.result_path)) {
    progress.note(plan.result_path + " is complete; skipping (--force recomputes it)");
    return false;
  }
  RunOptions options;
  options.resume = resume;
  options.checkpoint_every = checkpoint_every;
  options.stop_requested = [] { return g_stop_signal != 0; };
  RunResult result = execute(plan, comm, progress, options);
  if (comm.is_root()) {
    write_result(plan.result_path, result);
    std::error_code ec;
    std::filesystem::remove(checkpoint_path(plan), ec);
    const auto written = read_result(plan.result_path);
    std::printf("%s  final acc (class-IL) %.2f  AAA %.2f  forgetting %.2f  | task-IL %.2f  -> %s\n",
                plan.label.c_str(), written.class_il.final_acc, written.class_il.aaa,
                written.class_il.forgetting, written.task_il.final_acc, plan.result_path.c_str());
    std::fflush(stdout);
  }
  comm.barrier();
  return true;
}

// Applies --set key=value assignments to `user`.
void apply_sets(nlohmann::json& user, const std::vector<std::string>& sets) {
  for (const auto& s : sets) {
    auto [k, v] = Config::parse_assignment(s);
    user[k] = v;
  }
}

nlohmann::json user_settings(const RunArgs& args) {
  nlohmann::json user = nlohmann::json::object();
  if (!args.config_file.empty()) user = Config::read_file(args.config_file);
  for (const auto& [k, v] : args.flags.items()) user[k] = v;
  apply_sets(user, args.sets);
  return user;
}

int cmd_run(const RunArgs& args, Communicator& comm) {
  run_one(plan_run(user_settings(args)), comm, args.resume, args.force, args.checkpoint_every);
  return 0;
}

// A suite file: {"defaults": {...}, "benchmarks": [...], "methods": [name | {"method": name,
// "name": label, "set": {...}}], "seeds": [...]} expands to benchmarks x methods x seeds.
std::vector<nlohmann::json> expand_suite(const std::string& path, const nlohmann::json& overrides) {
  const nlohmann::json suite = Config::read_object(path, "suite file");
  auto list = [&](const char* key) {
    if (!suite.contains(key) || !suite[key].is_array() || suite[key].empty()) {
      throw Error("suite file " + path + ": '" + key + "' must be a non-empty list");
    }
    return suite[key];
  };
  const auto defaults = Config::flatten(suite.value("defaults", nlohmann::json::object()));
  std::vector<nlohmann::json> runs;
  for (const auto& bench : list("benchmarks")) {
    for (const auto& m : list("methods")) {
      for (const auto& seed : list("seeds")) {
        nlohmann::json user = defaults;
        user["benchmark"] = bench;
        if (m.is_string()) {
          user["method"] = m;
        } else if (m.is_object() && m.contains("method")) {
          user["method"] = m["method"];
          if (m.contains("name")) user["name"] = m["name"];
          const nlohmann::json sets =
              m.contains("set") ? Config::flatten(m["set"]) : nlohmann::json::object();
          for (auto it = sets.begin(); it != sets.end(); ++it) user[it.key()] = it.value();
        } else {
          throw Error("suite file " + path +
                      ": a method entry must be a name or an object with \"method\", got " +
                      m.dump());
        }
        user["seed"] = seed;
        for (const auto& [k, v] : overrides.items()) user[k] = v;
        runs.push_back(user);
      }
    }
  }
  return runs;
}

int cmd_suite(const std::string& file, const RunArgs& args, int64_t index, bool count,
              Communicator& comm) {
  const auto runs = expand_suite(file, user_settings(args));
  std::vector<RunPlan> plans;
  for (const auto& user : runs) plans.push_back(plan_run(user));  // validate every entry first
  if (count) {
    if (comm.is_root()) std::printf("%zu\n", plans.size());
    return 0;
  }
  if (index >= static_cast<int64_t>(plans.size())) {
    throw Error("suite " + file + " has " + std::to_string(plans.size()) + " runs; --index " +
                std::to_string(index) + " is out of range (0.." + std::to_string(plans.size() - 1) +
                ")");
  }
  int done = 0, skipped = 0;
  for (size_t i = 0; i < plans.size(); ++i) {
    if (index >= 0 && static_cast<int64_t>(i) != index) continue;
    (run_one(plans[i], comm, /*resume=*/true, args.force, args.checkpoint_every) ? done
                                                                                 : skipped)++;
  }
  if (comm.is_root())
    std::printf("suite %s: %d run, %d already complete\n", file.c_str(), done, skipped);
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

int cmd_pretrain(const PretrainOptions& options) {
  pretrain(options, [](const std::string& line) {
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
  });
  return 0;
}

struct PrepareArgs {
  std::string benchmark, data_root, out;
  int64_t store_size = 256;
  int threads = 2;
  std::vector<std::string> sets;
};

int cmd_prepare(const PrepareArgs& a) {
  nlohmann::json user = {{"benchmark", a.benchmark}, {"data_root", a.data_root}};
  apply_sets(user, a.sets);
  const RunPlan plan = plan_run(user);
  const ImageSplits splits = find_image_data(a.benchmark).read(plan.config);
  std::fprintf(stderr, "prepare %s: %lld train + %lld test images of %s -> %s\n",
               a.benchmark.c_str(), static_cast<long long>(splits.train->size()),
               static_cast<long long>(splits.test->size()), splits.data_id.c_str(), a.out.c_str());
  CacheContents contents;
  contents.dataset = splits.data_id;
  contents.num_classes = splits.num_classes;
  contents.class_names = splits.class_names;
  contents.store_size = a.store_size;
  int64_t last_percent = -1;
  const std::string hash = write_image_cache(
      a.out, contents, *splits.train, *splits.test, a.threads, [&](int64_t done, int64_t total) {
        const int64_t percent = total ? 100 * done / total : 100;
        if (percent / 10 != last_percent / 10) {
          std::fprintf(stderr, "  %lld / %lld images\n", static_cast<long long>(done),
                       static_cast<long long>(total));
          last_percent = percent;
        }
      });
  std::printf("%s: %s, content hash %s\n", a.out.c_str(), splits.data_id.c_str(), hash.c_str());
  return 0;
}

int cmd_embed(const EmbedOptions& options) {
  const EmbedSummary done = embed(options);
  std::printf("%lld x %lld features -> %s\n", static_cast<long long>(done.count),
              static_cast<long long>(done.dim), options.out.c_str());
  return 0;
}

}  // namespace
}  // namespace clbench

int main(int argc, char** argv) {
  using namespace clbench;
  // Subnormal floats cost ~100x a normal operation on x86 and appear in the backward pass of
  // small-init models (a ViT-B/16 LoRA step: 34 s with them, 28 s flushed). Set before any thread
  // exists, so LibTorch's worker threads inherit it.
  at::globalContext().setFlushDenormal(true);
#ifdef __GLIBC__
  // glibc maps every block above its mmap threshold (at most 32 MB by default) afresh and unmaps
  // it on free, so each evaluation batch's activations (100+ MB) were page-faulted in again: a
  // quarter of a CPU run's time in the kernel (split-fmnist, cnn: 21 s of 84). Keep freed memory.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
  CLI::App app{"clbench: continual-learning benchmark harness (LibTorch)"};
  app.require_subcommand(1);

  auto* list = app.add_subcommand("list", "registered methods, benchmarks and backbones");
  bool list_keys = false;
  list->add_flag("--keys", list_keys, "also list every config key with its default");

  auto* run = app.add_subcommand("run", "train one method over one benchmark's task stream");
  RunArgs args;
  auto flag = [&](const std::string& name, const std::string& key, const std::string& help) {
    run->add_option_function<std::string>(
        name,
        [&args, key](const std::string& v) {
          args.flags[key] = Config::parse_assignment(key + "=" + v).second;
        },
        help);
  };
  auto text_flag = [&](const std::string& name, const std::string& key, const std::string& help) {
    run->add_option_function<std::string>(
        name, [&args, key](const std::string& v) { args.flags[key] = v; }, help);
  };
  text_flag("--benchmark,-b", "benchmark", "task stream (see clbench list)");
  text_flag("--method,-m", "method", "method (see clbench list)");
  text_flag("--backbone", "backbone", "mlp | cnn | vit-* (see clbench list)");
  text_flag("--pretrained", "pretrained", "backbone weights (safetensors, timm names)");
  text_flag("--scenario", "scenario", "class-il | task-il");
  flag("--seed", "seed", "run seed (default 0)");
  flag("--class-order-seed", "class_order_seed", "PyCIL/PILOT class order from this seed");
  text_flag("--class-order", "class_order", "identity | pycil | coda");
  text_flag("--data-root", "data_root", "dataset folder");
  text_flag("--cache", "cache", "HDF5 image cache from clbench prepare");
  flag("--epochs", "epochs", "epochs per task");
  flag("--batch-size", "batch_size", "global batch size");
  flag("--lr", "lr", "learning rate");
  flag("--threads", "threads", "CPU threads");
  text_flag("--name", "name", "result label (default: method name)");
  text_flag("--out", "out", "result folder (default results/)");
  text_flag("--device", "device", "auto | cpu | cuda");
  run->add_option("--config", args.config_file, "JSON config file (nested objects = dotted keys)");
  run->add_option("--set", args.sets, "key=value, e.g. ewc.lambda=5000 (repeatable)");
  run->add_flag("--resume", args.resume, "continue from the run's checkpoint if it has one");
  run->add_flag("--force", args.force, "recompute even if a complete result file exists");
  run->add_option("--checkpoint-every", args.checkpoint_every,
                  "also checkpoint every N steps (always after each task)");

  auto* suite = app.add_subcommand("suite",
                                   "run benchmarks x methods x seeds from a JSON file, "
                                   "skipping complete results and resuming checkpoints");
  std::string suite_file;
  int64_t suite_index = -1;
  bool suite_count = false;
  suite->add_option("file", suite_file, "suite JSON file")->required();
  suite->add_option("--index", suite_index, "run only entry I (0-based; Slurm job arrays)");
  suite->add_flag("--count", suite_count, "print the number of runs and exit");
  suite->add_option_function<std::string>(
      "--out", [&args](const std::string& v) { args.flags["out"] = v; },
      "result folder (overrides the suite's)");
  suite->add_option("--set", args.sets, "key=value applied to every run (repeatable)");
  suite->add_flag("--force", args.force, "recompute complete results too");
  suite->add_option("--checkpoint-every", args.checkpoint_every, "also checkpoint every N steps");

  auto* board = app.add_subcommand("leaderboard", "gather result files into a leaderboard");
  std::string board_dir, board_json, board_md;
  board->add_option("dir", board_dir, "folder searched recursively for *.h5")->required();
  board->add_option("--json", board_json, "write the leaderboard JSON here");
  board->add_option("--markdown", board_md, "write the Markdown tables here");

  auto* pre = app.add_subcommand("pretrain",
                                 "train a backbone on fractal images (FractalDB-style) and save "
                                 "it as safetensors");
  PretrainOptions pretrain_opts;
  pre->add_option("--out", pretrain_opts.out, "backbone weights file (.safetensors)")->required();
  pre->add_option("--backbone", pretrain_opts.backbone, "backbone (see clbench list)")
      ->capture_default_str();
  pre->add_option("--classes", pretrain_opts.classes, "fractal categories")->capture_default_str();
  pre->add_option("--instances", pretrain_opts.instances, "images per category")
      ->capture_default_str();
  pre->add_option("--image-size", pretrain_opts.image_size,
                  "image side (0: the backbone's input, 28 for mlp/cnn/*28)")
      ->capture_default_str();
  pre->add_option("--channels", pretrain_opts.channels, "1 or 3 (0: the backbone's input)")
      ->capture_default_str();
  pre->add_option("--fill-threshold", pretrain_opts.fill_threshold,
                  "minimum filling rate of a category")
      ->capture_default_str();
  pre->add_option("--epochs", pretrain_opts.epochs, "epochs")->capture_default_str();
  pre->add_option("--batch-size", pretrain_opts.batch_size, "batch size")->capture_default_str();
  pre->add_option("--lr", pretrain_opts.lr, "peak learning rate (warm-up, then cosine decay)")
      ->capture_default_str();
  pre->add_option("--optimizer", pretrain_opts.optimizer, "adam (AdamW) | sgd (momentum 0.9)")
      ->capture_default_str();
  pre->add_option("--weight-decay", pretrain_opts.weight_decay, "weight decay")
      ->capture_default_str();
  pre->add_option("--seed", pretrain_opts.seed, "fractal categories, initialisation and order")
      ->capture_default_str();
  pre->add_option("--threads", pretrain_opts.threads, "CPU threads (0: LibTorch's default)")
      ->capture_default_str();

  auto* prep = app.add_subcommand(
      "prepare", "decode an image benchmark once into an HDF5 cache that 'run --cache' reads");
  PrepareArgs prepare_args;
  prep->add_option("benchmark", prepare_args.benchmark, "image benchmark (see clbench list)")
      ->required();
  prep->add_option("--data-root", prepare_args.data_root, "dataset folder")->required();
  prep->add_option("--out", prepare_args.out, "cache file to write (.h5)")->required();
  prep->add_option("--store-size", prepare_args.store_size,
                   "shorter side of the stored images (0: as decoded)")
      ->capture_default_str();
  prep->add_option("--threads", prepare_args.threads, "decoding threads")->capture_default_str();
  prep->add_option("--set", prepare_args.sets,
                   "key=value of the benchmark, e.g. imagenet-r.layout=coda (repeatable)");

  auto* emb = app.add_subcommand("embed", "backbone features of the images in an HDF5 file");
  EmbedOptions embed_opts;
  emb->add_option("--backbone", embed_opts.backbone, "backbone (see clbench list)")->required();
  emb->add_option("--pretrained", embed_opts.pretrained, "weights (.safetensors) to load");
  emb->add_option("--images", embed_opts.images,
                  "HDF5 file with dataset 'images': float N x C x H x W or uint8 N x H x W x C, "
                  "C = 1 or 3")
      ->required();
  emb->add_option("--out", embed_opts.out, "HDF5 file to write dataset 'features' (N x D) to")
      ->required();
  emb->add_option("--batch-size", embed_opts.batch_size, "images per forward pass")
      ->capture_default_str();
  emb->add_option("--seed", embed_opts.seed, "initialisation without --pretrained")
      ->capture_default_str();
  emb->add_option("--threads", embed_opts.threads, "CPU threads (0: LibTorch's default)")
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (*list) return cmd_list(list_keys);
  if (*board || *pre || *emb || *prep) {
    try {
      if (*board) return cmd_leaderboard(board_dir, board_json, board_md);
      if (*pre) return cmd_pretrain(pretrain_opts);
      if (*prep) return cmd_prepare(prepare_args);
      return cmd_embed(embed_opts);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "clbench: error: %s\n", e.what());
      return 1;
    }
  }
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGINT, on_stop_signal);
  std::unique_ptr<Communicator> comm;
  try {
    comm = make_communicator(&argc, &argv);
    if (*run) return cmd_run(args, *comm);
    if (*suite) return cmd_suite(suite_file, args, suite_index, suite_count, *comm);
  } catch (const Interrupted& e) {
    if (!comm || comm->is_root()) std::fprintf(stderr, "clbench: %s\n", e.what());
    return kExitInterrupted;
  } catch (const std::exception& e) {
    const bool clear = dynamic_cast<const clbench::Error*>(&e) != nullptr;
    if (comm && comm->size() > 1) {
      std::fprintf(stderr, "clbench: rank %d: %s%s\n", comm->rank(),
                   clear ? "error: " : "unexpected error: ", e.what());
      std::fflush(stderr);
      comm->abort(1);  // never leave the other ranks waiting in a collective
    }
    std::fprintf(stderr, "clbench: %s%s\n", clear ? "error: " : "unexpected error: ", e.what());
    return 1;
  }
  return 0;
}
