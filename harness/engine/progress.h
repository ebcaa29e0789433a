#pragma once
// Progress for people: on a terminal a live bar (task/epoch/step, loss, ETA); otherwise one summary
// line per task. Silent on every rank but 0.
#include <chrono>
#include <cstdint>
#include <string>

namespace clbench {

class Progress {
 public:
  // enabled: this rank prints; tty: stderr is a terminal (live bar).
  Progress(bool enabled, bool tty) : enabled_(enabled), tty_(tty) {}
  static Progress for_rank(int rank);  // enabled on rank 0, tty detected from stderr

  void start_run(const std::string& title);
  void start_task(int task, int num_tasks, int epochs, int64_t steps_per_epoch);
  void step(int epoch, int64_t step, double loss);
  // Average class-IL and task-IL accuracy over the tasks seen so far.
  void end_task(double seconds, double class_il, double task_il);
  void note(const std::string& line);

 private:
  bool enabled_, tty_;
  int task_ = 0, num_tasks_ = 0, epochs_ = 0;
  int64_t steps_per_epoch_ = 0;
  double last_loss_ = 0;
  std::chrono::steady_clock::time_point task_start_, last_draw_;
};

}  // namespace clbench
