#include "harness/run/execute.h"

#include <cstdio>
#include <filesystem>
#include <optional>

#include <torch/torch.h>

#include "datasets/benchmarks/registry.h"
#include "harness/distributed/communicator.h"
#include "harness/engine/checkpoint.h"
#include "harness/engine/progress.h"
#include "harness/foundation/error.h"
#include "harness/run/cpu_kernels.h"
#include "harness/run/session.h"

namespace clbench {
namespace {

// Keys that may differ between a checkpoint and its resume without changing any number.
bool affects_results(const std::string& key) {
  return key != "threads" && key != "device";
}

void check_same_config(const std::string& path, const std::string& stored_json, const Config& now) {
  const auto stored = nlohmann::json::parse(stored_json);
  std::string diff;
  for (const auto& [key, value] : now.values().items()) {
    if (affects_results(key) && (!stored.contains(key) || stored[key] != value)) {
      diff += "\n  " + key + ": checkpoint " +
              (stored.contains(key) ? stored[key].dump() : "(absent)") + ", now " + value.dump();
    }
  }
  if (!diff.empty()) {
    throw Error("cannot resume from " + path + ": the configuration differs" + diff +
                "\n(use the same settings, or --force to start over)");
  }
}

RunResult describe(const RunPlan& plan, const Session& s, const StreamRecord& rec,
                   const Communicator& comm) {
  const Config& cfg = plan.config;
  RunResult r;
  r.method = plan.method;
  r.benchmark = plan.benchmark;
  r.label = plan.label;
  r.scenario = cfg.str("scenario");
  r.seed = plan.seed;
  r.class_order_seed = cfg.integer("class_order_seed");
  r.class_order_algorithm = class_order_algorithm(cfg);
  r.config_json = cfg.values().dump();
  r.clbench_version = CLBENCH_VERSION;
  r.world_size = comm.size();
  r.lr_schedule = s.trainer.schedule.describe();
  const CpuKernels kernels = cpu_kernels();
  r.cpu = kernels.processor;
  r.cpu_capability = kernels.capability;
  r.cpu_kernels = kernels.mode;
  r.acc_class_il = rec.class_il;
  r.acc_task_il = rec.task_il;
  r.init_class_il = rec.init_class_il;
  r.init_task_il = rec.init_task_il;
  r.class_order = s.stream.class_order;
  for (const auto& t : s.stream.tasks) {
    r.task_classes.push_back(t.classes);
    r.train_counts.push_back(static_cast<int64_t>(t.train.size()));
    r.test_counts.push_back(static_cast<int64_t>(t.test.size()));
  }
  r.task_seconds = rec.task_seconds;
  r.trainable_params = rec.trainable_params;
  r.stored_params = rec.stored_params;
  r.total_params = count_parameters(s.model->parameters());
  return r;
}

bool already_complete(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return false;
  try {
    return read_result(path).status == "complete";
  } catch (const Error&) {
    return false;  // unreadable: recompute and replace it
  }
}

}  // namespace

RunResult execute(const RunPlan& plan, Communicator& comm, Progress& progress,
                  const RunOptions& options) {
  const Config& cfg = plan.config;
  auto session = build_session(plan, comm);
  const std::string ckpt_path = checkpoint_path(plan);
  std::optional<Checkpoint> checkpoint;
  if (options.resume) checkpoint = Checkpoint::load(ckpt_path, session->trainer.device);
  if (checkpoint) {
    check_same_config(ckpt_path, checkpoint->config_json, cfg);
    const auto& at = checkpoint->state;
    progress.note("resuming from " + ckpt_path + " at task " + std::to_string(at.task + 1) +
                  ", epoch " + std::to_string(at.epoch + 1) + ", step " + std::to_string(at.step));
  } else if (options.resume) {
    progress.note("no checkpoint at " + ckpt_path + "; starting from the beginning");
  }
  const std::string config_json = cfg.values().dump();
  TrainerControl control;
  control.steps.checkpoint_every = options.checkpoint_every;
  control.steps.stop_requested = options.stop_requested;
  control.save = [&](CheckpointContent content) {
    content.config_json = config_json;
    if (comm.is_root()) write_checkpoint(ckpt_path, content);
    comm.barrier();
  };
  progress.start_run(plan.method + " on " + plan.benchmark + " (" + cfg.str("scenario") + ", " +
                     std::to_string(session->stream.num_tasks()) + " tasks, backbone " +
                     cfg.str("backbone") + ", seed " + std::to_string(plan.seed) + ")");
  const StreamRecord rec =
      train_stream(session->stream, *session->method, session->model, *session->services, comm,
                   session->trainer, progress, checkpoint ? &*checkpoint : nullptr, control);
  return describe(plan, *session, rec, comm);
}

bool run_one(const RunPlan& plan, Communicator& comm, const RunOptions& options, bool force) {
  Progress progress = Progress::for_rank(comm.rank());
  if (!force && already_complete(plan.result_path)) {
    progress.note(plan.result_path + " is complete; skipping (--force recomputes it)");
    return false;
  }
  const RunResult result = execute(plan, comm, progress, options);
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

}  // namespace clbench
