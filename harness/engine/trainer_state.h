#pragma once
// Where a run stands (the next thing to do) and what it has measured so far; declared once for
// checkpoints (methods/state.h).
#include <cstdint>
#include <string>
#include <vector>

#include "methods/state.h"
#include "results/metrics.h"

namespace clbench {

// The accuracy matrices of one of a method's other predictions (Method::other_predictions).
struct PredictionRecord {
  std::string name;
  Matrix class_il, task_il;
};

struct StreamRecord {
  Matrix class_il, task_il;  // R[i][j], percent
  std::vector<PredictionRecord> others;
  std::vector<double> init_class_il, init_task_il, task_seconds;
  std::vector<int64_t> trainable_params;
  std::vector<int64_t> stored_params;                 // after each task's end_task
  std::vector<int64_t> memory_samples, memory_bytes;  // the replay memory after each task
  // Costs of each task (training + end-of-task step), the largest over the ranks: peak resident
  // host memory, peak allocated GPU memory (empty on the CPU), training images per second.
  std::vector<int64_t> peak_host_bytes, peak_device_bytes;
  std::vector<double> train_images_per_second;
  int64_t total_params = 0;
  std::vector<int64_t> world_sizes;  // the ranks of each part of the run (several after resumes)
  void state(StateVisitor& v);
};

// The stages of a task, in order.
enum Stage : int { kBeginTask = 0, kTrain = 1, kEndTask = 2 };

struct TrainerState {
  int task = 0;                 // the task being worked on
  int stage = kBeginTask;       // with fit = -1 and stage kBeginTask: the start of `task`
  int64_t epoch = 0, step = 0;  // kTrain: the next batch
  int fit = -1;                 // kBeginTask / kEndTask: inside this fit of the stage
  double task_elapsed = 0;      // seconds already spent on `task` before a checkpoint
  bool evaluated_init = false;
  bool evaluate_pending = false;  // the row of R after task - 1 is still to be measured
  StreamRecord record;

  bool at_task_start() const { return stage == kBeginTask && fit < 0; }
  void state(StateVisitor& v);
};

}  // namespace clbench
