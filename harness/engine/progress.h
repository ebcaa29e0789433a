#pragma once
// Progress for people: on a terminal a live bar (task/epoch/step, loss, ETA); otherwise a line
// every half minute inside a task. Always a line when an evaluation starts and one per task.
// Silent on every rank but 0, which can also keep every line in a log file (the run's, next to its
// result).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

namespace clbench {

class Progress {
 public:
  // enabled: this rank prints; tty: stderr is a terminal (live bar).
  Progress(bool enabled, bool tty) : enabled_(enabled), tty_(tty) {}
  static Progress for_rank(int rank);  // enabled on rank 0, tty detected from stderr

  // Also appends every line to `path` (created if missing; "" stops). An unwritable log is an
  // Error naming it.
  void log_to(const std::string& path);

  void start_run(const std::string& title);
  void start_task(int task, int num_tasks, int epochs, int64_t steps_per_epoch);
  // `loss`: the mean over this rank's samples of the step.
  void step(int epoch, int64_t step, double loss);
  // An evaluation of the tasks seen so far begins (it can take minutes on a large test set).
  void evaluating(int tasks_seen, int num_tasks);
  // Task `task` (0-based) is done: its time and the average class-IL and task-IL accuracy over
  // the tasks seen so far.
  void end_task(int task, int num_tasks, double seconds, double class_il, double task_il);
  // Where this process spent a task's time (seconds): the method's begin_task, the training
  // steps, its end_task, and the evaluation after it (bench/profile_methods.sh reads this line).
  struct Phases {
    double begin = 0, train = 0, end = 0, evaluation = 0;
  };
  void phases(const Phases& seconds);
  void note(const std::string& line);

 private:
  void line(const std::string& text);  // stderr (after the bar) and the log

  bool enabled_, tty_;
  std::shared_ptr<std::FILE> log_;
  int task_ = 0, num_tasks_ = 0, epochs_ = 0;
  int64_t steps_per_epoch_ = 0;
  double last_loss_ = 0;
  bool stepped_ = false;  // a step of the current task was seen (a resumed task may have none)
  std::chrono::steady_clock::time_point task_start_, last_draw_, last_line_;
};

}  // namespace clbench
