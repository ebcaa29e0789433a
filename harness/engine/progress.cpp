#include "harness/engine/progress.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "harness/foundation/error.h"

namespace clbench {
namespace {

constexpr auto kLineEvery = std::chrono::seconds(30);  // without a terminal

template <class... Args>
std::string format(const char* pattern, Args... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, pattern, args...);
  return buf;
}

}  // namespace

Progress Progress::for_rank(int rank) {
  return Progress(rank == 0, isatty(fileno(stderr)) == 1);
}

void Progress::log_to(const std::string& path) {
  log_.reset();
  if (!enabled_ || path.empty()) return;
  std::FILE* f = std::fopen(path.c_str(), "a");
  if (f == nullptr) throw Error("cannot write the log " + path + ": " + std::strerror(errno));
  log_.reset(f, std::fclose);
}

void Progress::line(const std::string& text) {
  if (!enabled_) return;
  if (tty_) std::fprintf(stderr, "\r\033[K");
  std::fprintf(stderr, "%s\n", text.c_str());
  if (log_) {
    std::fprintf(log_.get(), "%s\n", text.c_str());
    std::fflush(log_.get());
  }
}

void Progress::start_run(const std::string& title) {
  line(title);
}

void Progress::start_task(int task, int num_tasks, int epochs, int64_t steps_per_epoch) {
  task_ = task;
  num_tasks_ = num_tasks;
  epochs_ = epochs;
  steps_per_epoch_ = steps_per_epoch;
  stepped_ = false;
  task_start_ = last_draw_ = last_line_ = std::chrono::steady_clock::now();
}

void Progress::step(int epoch, int64_t step, double loss) {
  last_loss_ = loss;
  stepped_ = true;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const int64_t done = static_cast<int64_t>(epoch) * steps_per_epoch_ + step + 1;
  const int64_t total = static_cast<int64_t>(epochs_) * steps_per_epoch_;
  const double elapsed = std::chrono::duration<double>(now - task_start_).count();
  const double eta = done > 0 ? elapsed * static_cast<double>(total - done) / done : 0;
  const std::string where =
      format("  task %d/%d  epoch %d/%d  step %lld/%lld", task_ + 1, num_tasks_, epoch + 1, epochs_,
             static_cast<long long>(step + 1), static_cast<long long>(steps_per_epoch_));
  if (now - last_line_ >= kLineEvery) {  // the log, and stderr without a terminal
    last_line_ = now;
    if (!tty_) {
      line(where + format("  loss %.4f  ETA %.0fs", loss, eta));
    } else if (log_) {
      std::fprintf(log_.get(), "%s  loss %.4f  ETA %.0fs\n", where.c_str(), loss, eta);
      std::fflush(log_.get());
    }
  }
  if (!tty_ || (done != total && now - last_draw_ < std::chrono::milliseconds(100))) return;
  last_draw_ = now;
  const int width = 24;
  const int filled = total > 0 ? static_cast<int>(width * done / total) : width;
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(width, '.');
  std::fprintf(stderr, "\r%s  [%s]  loss %.4f  ETA %.0fs   ", where.c_str(), bar.c_str(), loss,
               eta);
  std::fflush(stderr);
}

void Progress::evaluating(int tasks_seen, int num_tasks) {
  line(tasks_seen == 0 ? format("  evaluating the untrained model on %d tasks", num_tasks)
                       : format("  evaluating on the %d tasks seen so far", tasks_seen));
}

void Progress::end_task(int task, int num_tasks, double seconds, double class_il, double task_il) {
  // A task resumed after its training shows no loss: none was computed in this process.
  const std::string loss = stepped_ && task == task_ ? format("  loss %.4f", last_loss_) : "";
  line(format("  task %d/%d done in %.1fs%s  acc on seen tasks: class-IL %.2f%%  task-IL %.2f%%",
              task + 1, num_tasks, seconds, loss.c_str(), class_il, task_il));
}

void Progress::phases(const Phases& s) {
  line(format("    seconds: begin-task %.3f  training %.3f  end-task %.3f  evaluation %.3f",
              s.begin, s.train, s.end, s.evaluation));
}

void Progress::note(const std::string& text) {
  line(text);
}

}  // namespace clbench
