// A result whose metrics are easy to work out by hand, for the leaderboard's tests (and those of
// what reads it). Header-only; include it from tests/core/*.cpp.
#pragma once

#include <cstdint>
#include <string>

#include "results/result_file.h"

namespace clbench {
namespace testing {

// Two tasks, test counts {100, 300}, init {5, 5}. With class-IL matrix
// [[80, 10], [a, b]] and task-IL matrix [[90, 50], [c, d]]:
//   final_acc = (a + b) / 2                 final_acc_weighted = (100 a + 300 b) / 400
//   aaa = (80 + final_acc_weighted) / 2     forgetting = 80 - a = -bwt
//   fwt = 10 - 5 = 5                        task_il_final_acc = (c + d) / 2
inline RunResult make_run(const std::string& benchmark, const std::string& label, int64_t seed,
                          double a, double b, double c, double d) {
  RunResult r;
  r.method = "method-" + label;
  r.benchmark = benchmark;
  r.label = label;
  r.scenario = "class-il";
  r.seed = seed;
  r.acc_class_il = {{80, 10}, {a, b}};
  r.acc_task_il = {{90, 50}, {c, d}};
  r.init_class_il = {5, 5};
  r.init_task_il = {5, 5};
  r.task_classes = {{0, 1}, {2, 3}};
  r.class_order = {0, 1, 2, 3};
  r.train_counts = {500, 500};
  r.test_counts = {100, 300};
  r.task_seconds = {1, 2};
  r.trainable_params = {10, 10};
  r.stored_params = {1000, 1234567};
  r.memory_samples = {100, 200};
  r.memory_bytes = {79600, 159200};
  r.peak_host_bytes = {100 << 20, 300 << 20};
  r.train_images_per_second = {500.0, 250.0};
  r.total_params = 100;
  return r;
}

}  // namespace testing
}  // namespace clbench
