#include "harness/engine/trainer.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include <torch/torch.h>

#include "datasets/loader.h"
#include "harness/distributed/communicator.h"
#include "harness/engine/evaluator.h"
#include "harness/engine/peak_memory.h"
#include "harness/engine/progress.h"
#include "harness/foundation/random.h"
#include "methods/method.h"

namespace clbench {
namespace {

using Clock = std::chrono::steady_clock;

double mean_over_seen(const std::vector<TaskAccuracy>& row, int seen, bool class_il) {
  double s = 0;
  for (int j = 0; j < seen; ++j) s += class_il ? row[j].class_il : row[j].task_il;
  return s / seen;
}

// One run of the stream: the state it is in, and one function per part of a task.
class StreamTrainer {
 public:
  StreamTrainer(const TaskStream& stream, Method& method, Classifier model,
                EngineServices& services, Communicator& comm, const TrainerOptions& o,
                Progress& progress, const Checkpoint* resume, TrainerControl control)
      : stream_(stream),
        method_(method),
        model_(std::move(model)),
        services_(services),
        comm_(comm),
        o_(o),
        progress_(progress),
        resume_(resume),
        control_(std::move(control)) {}

  StreamRecord run();

 private:
  void run_task(int t, bool resuming);
  void begin_stage(int t, int stage, const TrainerState& from, bool resuming);
  void train_task(const Task& task, const TrainerState& from, bool resuming, bool past_begin);
  void evaluate_init();
  void evaluate_after(const Task& task);
  [[noreturn]] void stop_here(const std::string* current);
  void train_epochs(const Task& task, torch::optim::Optimizer& optimizer,
                    const std::vector<torch::Tensor>& params, const std::vector<double>& lrs,
                    int64_t first_epoch, int64_t first_step);
  Evaluation evaluate(int64_t seen_classes, int64_t last_task);
  double elapsed() const;
  int device_index() const;
  void record_costs(const Task& task);
  void save(CheckpointContent content);
  std::function<void(const FitCheckpoint&)> fit_saver(int stage);

  const TaskStream& stream_;
  Method& method_;
  Classifier model_;
  EngineServices& services_;
  Communicator& comm_;
  const TrainerOptions& o_;
  Progress& progress_;
  const Checkpoint* resume_;
  TrainerControl control_;
  TrainerState state_;
  std::string task_start_, trained_;  // snapshots (kept only when checkpoints are written)
  int task_start_of_ = -1;            // the task whose start task_start_ holds
  Clock::time_point task_started_;
  Progress::Phases phases_;  // of the current task, in this process
  double earlier_ = 0;       // seconds spent on the current task before a resume
};

double StreamTrainer::elapsed() const {
  return earlier_ + std::chrono::duration<double>(Clock::now() - task_started_).count();
}

int StreamTrainer::device_index() const {
  const torch::Device& d = o_.run->device;
  return d.is_cuda() ? std::max<int>(d.index(), 0) : -1;
}

// The task's peak memory (the largest over the ranks) and its training images per second of its
// wall time.
void StreamTrainer::record_costs(const Task& task) {
  const PeakMemory peak = read_peak_memory(device_index());
  const int64_t R = comm_.size();
  auto per_rank = torch::zeros({2, R}, torch::kFloat64);
  per_rank[0][comm_.rank()] = static_cast<double>(peak.host_rss_bytes);
  per_rank[1][comm_.rank()] = static_cast<double>(peak.device_bytes);
  std::vector<torch::Tensor> reduce{per_rank};
  comm_.allreduce_sum(reduce);
  const auto most = std::get<0>(reduce[0].max(1));
  auto& rec = state_.record;
  rec.peak_host_bytes.push_back(most[0].item<int64_t>());
  if (device_index() >= 0) rec.peak_device_bytes.push_back(most[1].item<int64_t>());
  const auto samples = static_cast<double>(method_.train_indices(task).size());
  rec.train_images_per_second.push_back(static_cast<double>(o_.run->epochs) * samples /
                                        rec.task_seconds.back());
}

void StreamTrainer::save(CheckpointContent content) {
  if (!control_.save) return;
  TrainerState here = state_;
  here.task_elapsed = elapsed();
  content.state = &here;
  if (content.task_start == nullptr) content.task_start = &task_start_;
  control_.save(content);
}

std::function<void(const FitCheckpoint&)> StreamTrainer::fit_saver(int stage) {
  if (!control_.save) return {};
  return [this, stage](const FitCheckpoint& fit) {
    state_.stage = stage;
    state_.fit = fit.index;
    CheckpointContent c;
    c.fit = &fit;
    if (stage == kEndTask) c.current = &trained_;
    save(c);
    state_.fit = -1;
  };
}

Evaluation StreamTrainer::evaluate(int64_t seen_classes, int64_t last_task) {
  int seen = 0;
  for (const auto& t : stream_.tasks) seen += t.class_end <= seen_classes ? 1 : 0;
  progress_.evaluating(seen, stream_.num_tasks());
  EvalOptions eval{o_.run->eval_batch_size, o_.run->device, o_.task_id_at_test, &control_.steps,
                   last_task};
  return evaluate_tasks(method_, *model_, stream_, seen_classes, comm_, eval);
}

// A stop that arrived where nothing was saved yet: writes the checkpoint of the last consistent
// point (state_ says which) and stops the run.
[[noreturn]] void StreamTrainer::stop_here(const std::string* current) {
  if (control_.save) {
    if (task_start_of_ != state_.task) {
      task_start_ = capture_state(*model_, method_);
      task_start_of_ = state_.task;
    }
    CheckpointContent c;
    c.current = current;
    save(c);
  }
  throw Interrupted();
}

void StreamTrainer::evaluate_init() {
  try {
    for (const auto& a : evaluate(0, -1).main) {  // b_j of every task, for FWT
      state_.record.init_class_il.push_back(a.class_il);
      state_.record.init_task_il.push_back(a.task_il);
    }
  } catch (const StopRequested&) {
    state_.record.init_class_il.clear();
    state_.record.init_task_il.clear();
    stop_here(nullptr);
  }
  state_.evaluated_init = true;
}

// The row of R after `task`. Its checkpoint (the start of the next task, the evaluation pending)
// is written before, so a stop here needs no other.
void StreamTrainer::evaluate_after(const Task& task) {
  const auto started = Clock::now();
  Evaluation result;
  try {
    // The seen tasks and the next (FWT's R[t][t+1]); every later one only when asked for.
    result = evaluate(task.class_end, o_.evaluate_all_future ? -1 : task.index + 1);
  } catch (const StopRequested&) {
    throw Interrupted();
  }
  auto add_row = [](const std::vector<TaskAccuracy>& acc, Matrix& class_il, Matrix& task_il) {
    class_il.emplace_back();
    task_il.emplace_back();
    for (const auto& a : acc) {
      class_il.back().push_back(a.class_il);
      task_il.back().push_back(a.task_il);
    }
  };
  auto& rec = state_.record;
  const auto& acc = result.main;
  add_row(acc, rec.class_il, rec.task_il);
  const auto names = method_.other_predictions();
  rec.others.resize(names.size());
  for (size_t p = 0; p < names.size(); ++p) {
    rec.others[p].name = names[p];
    add_row(result.others[p], rec.others[p].class_il, rec.others[p].task_il);
  }
  state_.evaluate_pending = false;
  progress_.end_task(task.index, stream_.num_tasks(), rec.task_seconds.back(),
                     mean_over_seen(acc, task.index + 1, true),
                     mean_over_seen(acc, task.index + 1, false));
  phases_.evaluation = std::chrono::duration<double>(Clock::now() - started).count();
  progress_.phases(phases_);
}

StreamRecord StreamTrainer::run() {
  bool resuming = false;
  if (resume_ != nullptr) {
    state_ = resume_->state;
    restore_state(resume_->task_start, *model_, method_, o_.run->device);
    task_start_ = resume_->task_start;
    task_start_of_ = state_.task;
    resuming = !state_.at_task_start();
    earlier_ = state_.task_elapsed;
  }
  state_.record.world_sizes.push_back(comm_.size());
  if (!state_.evaluated_init) evaluate_init();
  if (state_.evaluate_pending) {
    method_.resume_after(stream_.tasks[state_.task - 1]);
    evaluate_after(stream_.tasks[state_.task - 1]);
  }
  for (int t = state_.task; t < stream_.num_tasks(); ++t) {
    run_task(t, resuming);
    resuming = false;
  }
  return state_.record;
}

void StreamTrainer::begin_stage(int t, int stage, const TrainerState& from, bool resuming) {
  state_.stage = stage;
  std::optional<FitCheckpoint> resume_fit;
  if (resuming && from.stage == stage && from.fit >= 0) resume_fit = resume_->fit();
  services_.enter_stage(t, stage, std::move(resume_fit), fit_saver(stage), &control_.steps);
}

void StreamTrainer::run_task(int t, bool resuming) {
  const Task& task = stream_.tasks[t];
  const TrainerState from = state_;  // where a resumed task continues
  task_started_ = Clock::now();
  reset_peak_memory(device_index());
  if (!resuming) earlier_ = 0;
  state_.task = t;
  if (control_.save && task_start_of_ != t) {
    task_start_ = capture_state(*model_, method_);
    task_start_of_ = t;
  }
  const auto since = [](Clock::time_point& mark) {
    const auto now = Clock::now();
    return std::chrono::duration<double>(now - std::exchange(mark, now)).count();
  };
  auto mark = Clock::now();
  phases_ = {};
  begin_stage(t, kBeginTask, from, resuming);
  try {
    method_.begin_task(task);
  } catch (const StopRequested&) {
    stop_here(nullptr);  // begin_task runs again on the start of the task
  }
  const bool past_begin = resuming && from.stage > kBeginTask;
  if (past_begin) restore_state(resume_->current, *model_, method_, o_.run->device);
  phases_.begin = since(mark);
  train_task(task, from, resuming, past_begin);
  if (control_.save) trained_ = capture_state(*model_, method_);
  phases_.train = since(mark);
  begin_stage(t, kEndTask, from, resuming);
  try {
    method_.end_task(task);
  } catch (const StopRequested&) {
    stop_here(&trained_);  // end_task runs again on the trained state
  }
  phases_.end = since(mark);
  auto& rec = state_.record;
  rec.stored_params.push_back(method_.stored_parameters());
  const MemoryFootprint memory = method_.memory();
  rec.memory_samples.push_back(memory.samples);
  rec.memory_bytes.push_back(memory.bytes);
  rec.task_seconds.push_back(elapsed());
  record_costs(task);
  state_.task = t + 1;
  state_.stage = kBeginTask;
  state_.epoch = state_.step = 0;
  state_.fit = -1;
  state_.evaluate_pending = true;
  if (control_.save) {
    task_start_ = capture_state(*model_, method_);
    task_start_of_ = t + 1;
    earlier_ = 0;
    task_started_ = Clock::now();
    save({});
  }
  evaluate_after(task);
}

void StreamTrainer::train_task(const Task& task, const TrainerState& from, bool resuming,
                               bool past_begin) {
  const auto groups = method_.parameter_groups();
  const auto params = flat_params(groups);
  auto& rec = state_.record;
  if (static_cast<int>(rec.trainable_params.size()) == task.index) {
    rec.trainable_params.push_back(count_parameters(params));
  }
  state_.stage = kTrain;
  if (resuming && from.stage == kEndTask) {
    progress_.start_task(task.index, stream_.num_tasks(), static_cast<int>(o_.run->epochs), 0);
    return;
  }
  auto optimizer = make_optimizer(groups, o_.optimizer, control_.steps.fused_optimizers);
  if (past_begin) resume_->restore_optimizer(*optimizer);
  const bool mid_train = resuming && from.stage == kTrain;
  train_epochs(task, *optimizer, params, base_learning_rates(groups, o_.optimizer),
               mid_train ? from.epoch : 0, mid_train ? from.step : 0);
}

void StreamTrainer::train_epochs(const Task& task, torch::optim::Optimizer& optimizer,
                                 const std::vector<torch::Tensor>& params,
                                 const std::vector<double>& lrs, int64_t first_epoch,
                                 int64_t first_step) {
  const RunContext& run = *o_.run;
  const auto indices = method_.train_indices(task);
  const int64_t B = run.batch_size;
  const int64_t steps = run.steps_per_epoch(static_cast<int64_t>(indices.size()));
  int64_t stream_steps = 0;  // the training steps of the tasks before this one
  for (int t = 0; t < task.index; ++t) {
    const auto samples = method_.train_indices(stream_.tasks[t]).size();
    stream_steps += run.steps_per_task(static_cast<int64_t>(samples));
  }
  progress_.start_task(task.index, stream_.num_tasks(), static_cast<int>(run.epochs), steps);
  // A per-step schedule's warm-up and milestones are given in epochs: this task's steps.
  const LrSchedule schedule = o_.schedule.per_step ? o_.schedule.in_steps(steps) : o_.schedule;
  auto set_lr = [&](int64_t unit, int64_t units) {
    std::vector<double> now;
    for (double base : lrs) now.push_back(schedule.lr(base, unit, units));
    set_learning_rates(optimizer, now);
  };
  for (int64_t epoch = first_epoch; epoch < run.epochs; ++epoch) {
    model_->train();
    if (!o_.schedule.per_step) set_lr(epoch, run.epochs);
    const auto order =
        shuffled(indices, mix_seed({uint64_t(run.seed), uint64_t(task.index), uint64_t(epoch)}));
    Steps s;
    s.first = epoch == first_epoch ? first_step : 0;
    s.end = steps;
    s.load = [&](int64_t k) {
      const auto begin = order.begin() + static_cast<std::ptrdiff_t>(k * B);
      const std::vector<int64_t> global(begin,
                                        begin + std::min<std::ptrdiff_t>(B, order.end() - begin));
      const uint64_t augment =
          mix_seed({uint64_t(run.seed), uint64_t(task.index), uint64_t(epoch), uint64_t(k), 0xA6});
      const int64_t in_task = epoch * steps + k;
      auto shards = services_.load_shards(global, augment);
      for (auto& shard : shards)
        shard.step = StepIndex{task.index, epoch, k, in_task, stream_steps + in_task};
      return shards;
    };
    s.loss = [&](const Batch& b) { return method_.loss(b); };
    s.params = params;
    if (o_.schedule.per_step) {
      s.before_step = [&](int64_t k) { set_lr(epoch * steps + k, run.epochs * steps); };
    }
    s.after_backward = [&] { method_.after_backward(); };
    s.after_step = [&](int64_t k) {
      method_.after_step();
      if (k + 1 == steps) method_.end_epoch(static_cast<int>(epoch));  // before its checkpoint
    };
    s.done = [&](int64_t k, double loss) { progress_.step(static_cast<int>(epoch), k, loss); };
    s.where = [&](int64_t k) {
      return "task " + std::to_string(task.index + 1) + ", epoch " + std::to_string(epoch + 1) +
             ", step " + std::to_string(k + 1);
    };
    if (control_.save) {
      s.checkpoint = [&](int64_t next) {
        state_.epoch = next >= steps ? epoch + 1 : epoch;
        state_.step = next >= steps ? 0 : next;
        const std::string current = capture_state(*model_, method_);
        CheckpointContent c;
        c.current = &current;
        c.optimizer = &optimizer;
        save(c);
      };
    }
    run_steps(s, run, optimizer, comm_, control_.steps);
  }
}

}  // namespace

StreamRecord train_stream(const TaskStream& stream, Method& method, Classifier model,
                          EngineServices& services, Communicator& comm,
                          const TrainerOptions& options, Progress& progress,
                          const Checkpoint* resume, TrainerControl control) {
  StreamTrainer trainer(stream, method, std::move(model), services, comm, options, progress, resume,
                        std::move(control));
  return trainer.run();
}

}  // namespace clbench
