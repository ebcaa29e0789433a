#include "harness/run/execute.h"

#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>

#include <torch/torch.h>

#include "datasets/benchmarks/registry.h"
#include "harness/distributed/communicator.h"
#include "harness/engine/checkpoint.h"
#include "harness/engine/progress.h"
#include "harness/foundation/error.h"
#include "harness/foundation/files.h"
#include "harness/run/cpu_kernels.h"
#include "harness/run/session.h"
#include "results/fingerprint.h"

namespace clbench {
namespace {

void check_same_config(const std::string& path, const std::string& stored_json, const Config& now) {
  const std::string diff =
      config_differences(nlohmann::json::parse(stored_json), now.values(), "checkpoint", "now");
  if (!diff.empty()) {
    throw RunRefused("cannot resume from " + path + ": the configuration differs" + diff +
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
  r.fingerprint = result_fingerprint(cfg.values());
  r.clbench_version = CLBENCH_VERSION;
  r.world_size = comm.size();
  r.world_sizes = rec.world_sizes;
  r.lr_schedule = s.trainer.schedule.describe();
  const CpuKernels kernels = cpu_kernels();
  r.cpu = kernels.processor;
  r.cpu_capability = kernels.capability;
  r.cpu_kernels = kernels.mode;
  r.cpu_vendor = kernels.vendor;
  r.cpu_blas = kernels.blas;
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
  r.memory_samples = rec.memory_samples;
  r.memory_bytes = rec.memory_bytes;
  r.peak_host_bytes = rec.peak_host_bytes;
  r.peak_device_bytes = rec.peak_device_bytes;
  r.train_images_per_second = rec.train_images_per_second;
  for (const auto& p : rec.others) r.other_predictions.push_back({p.name, p.class_il, p.task_il});
  r.total_params = count_parameters(s.model->parameters());
  r.forward_passes = s.method->forward_passes();
  return r;
}

// The run's log, next to its result: <...>/seed-<seed>.log.
std::string log_path(const RunPlan& plan) {
  return std::filesystem::path(plan.result_path).replace_extension(".log").string();
}

// The data_content of the plan's stream (harness/run/session.h: a run records it).
std::string stream_content(const RunPlan& plan) {
  return data_content(digest_tasks(find_benchmark(plan.benchmark).make(plan.config)));
}

// The checkpoint at `path` as rank 0 reads it, on every rank: ranks with their own --out resume
// from rank 0's checkpoint, never from one of their own. Empty when rank 0 has none.
std::optional<Checkpoint> agreed_checkpoint(const std::string& path, Communicator& comm,
                                            const torch::Device& device) {
  std::optional<std::string> bytes;
  std::string failure;
  if (comm.is_root()) {
    try {
      bytes = Checkpoint::read_bytes(path);
    } catch (const Error& e) {
      failure = e.what();
    }
  }
  if (comm.any(!failure.empty())) {
    throw RunRefused(comm.is_root() ? failure : "rank 0 could not read the checkpoint " + path);
  }
  if (!comm.any(bytes.has_value())) return std::nullopt;
  try {
    return Checkpoint::parse(comm.broadcast_bytes(bytes.value_or(""), 0), path, device);
  } catch (const Error& e) {
    throw RunRefused(e.what());  // every rank parses the same bytes
  }
}

// Rank 0 runs `check`; every rank then throws RunRefused when it failed (with its message on rank
// 0), so that all ranks agree.
void agree(Communicator& comm, const std::function<void()>& check) {
  std::string why;
  if (comm.is_root()) {
    try {
      check();
    } catch (const Error& e) {
      why = e.what();
    }
  }
  if (comm.any(!why.empty())) throw RunRefused(comm.is_root() ? why : "rank 0 refused this run");
}

// What the run's files allow, checked on rank 0 before anything is trained: `lock` holds the
// result for this process; returns whether a complete result of the same settings exists.
bool check_files(const RunPlan& plan, const RunOptions& options, bool force,
                 std::optional<FileLock>& lock) {
  const std::string ckpt = checkpoint_path(plan);
  std::vector<std::string> inputs = {plan.config.str("pretrained")};
  if (plan.config.has("cache")) inputs.push_back(plan.config.str("cache"));
  require_writable_folder(std::filesystem::path(plan.result_path).parent_path().string());
  check_output(plan.result_path, inputs);
  check_output(ckpt, inputs);
  remove_stale_temporaries(plan.result_path);
  remove_stale_temporaries(ckpt);
  lock.emplace(plan.result_path);
  std::error_code ec;
  if (std::filesystem::exists(plan.result_path, ec) && !force) {
    std::optional<RunResult> old;
    try {
      old = read_result(plan.result_path);
    } catch (const Error&) {
      // unreadable: recomputed and replaced
    }
    if (old && old->status == "complete") {
      auto there = nlohmann::json::parse(old->config_json);
      const std::string data_there = there.value("data_content", "");
      there.erase("data_content");  // known once the data is read, below
      std::string differences = config_differences(there, plan.config.values(), "there", "now");
      if (differences.empty() && !data_there.empty()) {  // older files have no data digest
        const std::string data_now = stream_content(plan);
        if (data_now != data_there) {
          differences = "\n  data_content: there \"" + data_there + "\", now \"" + data_now +
                        "\" (other data: another --data-root, or its files changed)";
        }
      }
      if (differences.empty()) return true;
      throw RunRefused(plan.result_path + " holds a result of other settings:" + differences +
                       "\n(--force replaces it; --name gives this run its own label)");
    }
  }
  if (std::filesystem::exists(ckpt, ec)) {
    if (force) {
      std::filesystem::remove(ckpt, ec);
    } else if (!options.resume) {
      throw RunRefused(ckpt +
                       " holds a checkpoint of this run: continue it with --resume, or "
                       "start over with --force");
    }
  }
  return false;
}

}  // namespace

RunResult execute(const RunPlan& planned, Communicator& comm, Progress& progress,
                  const RunOptions& options) {
  auto session = build_session(planned, comm);
  // The data is part of the result's identity (results/fingerprint.h), known once it is read.
  RunPlan plan = planned;
  plan.config.set("data_content", data_content(session->data));
  const Config& cfg = plan.config;
  const std::string ckpt_path = checkpoint_path(plan);
  std::optional<Checkpoint> checkpoint;
  if (options.resume) checkpoint = agreed_checkpoint(ckpt_path, comm, session->trainer.run->device);
  if (checkpoint) {
    check_same_config(ckpt_path, checkpoint->config_json, cfg);
    const auto& at = checkpoint->state;
    progress.note("resuming from " + ckpt_path + " at task " + std::to_string(at.task + 1) +
                  ", epoch " + std::to_string(at.epoch + 1) + ", step " + std::to_string(at.step));
    const auto& sizes = at.record.world_sizes;
    if (!sizes.empty() && sizes.back() != comm.size()) {
      progress.note("the checkpoint was written by " + std::to_string(sizes.back()) +
                    " ranks, this run has " + std::to_string(comm.size()) +
                    " (the same numbers with the same grad_shards; recorded in /world_sizes)");
    }
  } else if (options.resume) {
    progress.note("no checkpoint at " + ckpt_path + "; starting from the beginning");
  }
  const std::string config_json = cfg.values().dump();
  TrainerControl control;
  control.steps = session->steps;
  control.steps.checkpoint_every = options.checkpoint_every;
  control.steps.stop_requested = options.stop_requested;
  control.steps.stop_inside_steps = true;
  if (checkpoint && checkpoint->scaler) {
    control.steps.scaler->restore(checkpoint->scaler->first, checkpoint->scaler->second);
  }
  control.save = [&](CheckpointContent content) {
    content.config_json = config_json;
    content.scaler = control.steps.scaler.get();
    std::string failure;  // on every rank, not only the writer
    if (comm.is_root()) {
      try {
        write_checkpoint(ckpt_path, content);
      } catch (const Error& e) {
        failure = e.what();
      }
    }
    if (comm.any(!failure.empty())) {
      throw Error(comm.is_root() ? failure : "rank 0 could not write the checkpoint " + ckpt_path);
    }
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
  // Before the first collective: on several ranks, it is LibTorch's first operation.
  apply_cpu_kernels(plan.config.str("cpu_kernels"));
  std::optional<FileLock> lock;  // rank 0's, until the result is written
  bool complete = false;
  agree(comm, [&] {
    complete = check_files(plan, options, force, lock);
    if (!complete) progress.log_to(log_path(plan));
  });
  if (comm.any(complete)) {
    progress.note(plan.result_path + " is complete; skipping (--force recomputes it)");
    return false;
  }
  RunOptions run = options;
  run.resume = options.resume && !force;
  const RunResult result = execute(plan, comm, progress, run);
  std::string failure;
  if (comm.is_root()) {
    try {
      write_result(plan.result_path, result);
      std::error_code ec;
      std::filesystem::remove(checkpoint_path(plan), ec);
      const auto written = read_result(plan.result_path);
      // Domain-IL: one head over the shared classes, no task id (task-IL would be the same).
      const bool domain = written.scenario == "domain-il";
      char task_il[48] = "";
      if (!domain)
        std::snprintf(task_il, sizeof task_il, "  | task-IL %.2f", written.task_il.final_acc);
      std::printf("%s  final acc (%s) %.2f  AAA %.2f  forgetting %.2f%s  -> %s\n",
                  plan.label.c_str(), domain ? "domain-IL" : "class-IL", written.class_il.final_acc,
                  written.class_il.aaa, written.class_il.forgetting, task_il,
                  plan.result_path.c_str());
      std::fflush(stdout);
    } catch (const Error& e) {
      failure = e.what();  // the checkpoint stays: the run can be resumed to try again
    }
  }
  if (comm.any(!failure.empty())) {
    throw Error(comm.is_root() ? failure : "rank 0 could not write " + plan.result_path);
  }
  return true;
}

}  // namespace clbench
