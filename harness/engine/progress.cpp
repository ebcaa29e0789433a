#include "harness/engine/progress.h"

#include <unistd.h>

#include <cstdio>

namespace clbench {

Progress Progress::for_rank(int rank) {
  return Progress(rank == 0, isatty(fileno(stderr)) == 1);
}

void Progress::start_run(const std::string& title) {
  if (enabled_) std::fprintf(stderr, "%s\n", title.c_str());
}

void Progress::start_task(int task, int num_tasks, int epochs, int64_t steps_per_epoch) {
  task_ = task;
  num_tasks_ = num_tasks;
  epochs_ = epochs;
  steps_per_epoch_ = steps_per_epoch;
  task_start_ = last_draw_ = std::chrono::steady_clock::now();
}

void Progress::step(int epoch, int64_t step, double loss) {
  last_loss_ = loss;
  if (!enabled_ || !tty_) return;
  const auto now = std::chrono::steady_clock::now();
  const int64_t done = static_cast<int64_t>(epoch) * steps_per_epoch_ + step + 1;
  const int64_t total = static_cast<int64_t>(epochs_) * steps_per_epoch_;
  if (done != total && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - task_start_).count();
  const double eta = done > 0 ? elapsed * static_cast<double>(total - done) / done : 0;
  const int width = 24;
  const int filled = total > 0 ? static_cast<int>(width * done / total) : width;
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(width, '.');
  std::fprintf(stderr, "\r  task %d/%d  epoch %d/%d  step %lld/%lld  [%s]  loss %.4f  ETA %.0fs   ",
               task_ + 1, num_tasks_, epoch + 1, epochs_, static_cast<long long>(step + 1),
               static_cast<long long>(steps_per_epoch_), bar.c_str(), loss, eta);
  std::fflush(stderr);
}

void Progress::end_task(double seconds, double class_il, double task_il) {
  if (!enabled_) return;
  if (tty_) std::fprintf(stderr, "\r\033[K");
  std::fprintf(stderr,
               "  task %d/%d done in %.1fs  loss %.4f  acc on seen tasks: class-IL %.2f%%  "
               "task-IL %.2f%%\n",
               task_ + 1, num_tasks_, seconds, last_loss_, class_il, task_il);
}

void Progress::note(const std::string& line) {
  if (enabled_) std::fprintf(stderr, "%s\n", line.c_str());
}

}  // namespace clbench
