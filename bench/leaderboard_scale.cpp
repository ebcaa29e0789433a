// The leaderboard over many result files: time, peak memory and the most files open at once.
//   clbench_leaderboard_scale FOLDER N [N ...]
// Writes N result files (10 tasks each; 20 settings x N/20 seeds) under FOLDER/<N>/ (kept between
// calls: only missing files are written), then times gather_leaderboard over each folder. The
// open files are sampled from /proc/self/fd by a second thread every millisecond.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include "results/leaderboard.h"
#include "results/result_file.h"

namespace {

using clbench::RunResult;

RunResult make_run(int64_t setting, int64_t seed) {
  constexpr int64_t kTasks = 10;
  RunResult r;
  r.method = "method-" + std::to_string(setting);
  r.benchmark = "scale";
  r.label = "setting-" + std::to_string(setting);
  r.scenario = "class-il";
  r.seed = seed;
  r.config_json = "{\"lr\": " + std::to_string(0.001 * static_cast<double>(setting + 1)) + "}";
  r.acc_class_il.assign(kTasks, std::vector<double>(kTasks, 0.0));
  r.acc_task_il.assign(kTasks, std::vector<double>(kTasks, 0.0));
  for (int64_t i = 0; i < kTasks; ++i) {
    for (int64_t j = 0; j <= i; ++j) {
      r.acc_class_il[i][j] = static_cast<double>((setting * 7 + seed * 3 + i + j) % 90);
      r.acc_task_il[i][j] = static_cast<double>((setting * 5 + seed + i * 2 + j) % 95);
    }
  }
  r.init_class_il.assign(kTasks, 10.0);
  r.init_task_il.assign(kTasks, 50.0);
  for (int64_t t = 0; t < kTasks; ++t) r.task_classes.push_back({2 * t, 2 * t + 1});
  for (int64_t c = 0; c < 2 * kTasks; ++c) r.class_order.push_back(c);
  r.train_counts.assign(kTasks, 1000);
  r.test_counts.assign(kTasks, 200);
  r.task_seconds.assign(kTasks, 1.5);
  r.trainable_params.assign(kTasks, 1000);
  r.stored_params.assign(kTasks, 5000);
  r.total_params = 100000;
  return r;
}

int open_files() {
  int n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

long peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s FOLDER N [N ...]\n", argv[0]);
    return 2;
  }
  const std::string root = argv[1];
  std::printf("| files | write s | gather s | ms per file | peak RSS MiB | most files open |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (int a = 2; a < argc; ++a) {
    const int64_t n = std::stoll(argv[a]);
    const std::string dir = root + "/" + std::to_string(n);
    const auto w0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < n; ++i) {
      const int64_t setting = i % 20, seed = i / 20;
      const std::string path =
          dir + "/setting-" + std::to_string(setting) + "/seed-" + std::to_string(seed) + ".h5";
      if (!std::filesystem::exists(path)) clbench::write_result(path, make_run(setting, seed));
    }
    const double write_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
    std::atomic<bool> done{false};
    std::atomic<int> most{open_files()};
    std::thread sampler([&] {
      while (!done) {
        most = std::max(most.load(), open_files());
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
    const auto g0 = std::chrono::steady_clock::now();
    const clbench::Leaderboard board = clbench::gather_leaderboard(dir);
    const double gather_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - g0).count();
    done = true;
    sampler.join();
    int runs = 0;
    for (const auto& e : board.entries) runs += e.runs;
    if (runs != n || !board.skipped.empty()) {
      std::fprintf(stderr, "%lld files gave %d runs and %zu skipped\n", static_cast<long long>(n),
                   runs, board.skipped.size());
      return 1;
    }
    std::printf("| %lld | %.1f | %.2f | %.3f | %ld | %d |\n", static_cast<long long>(n), write_s,
                gather_s, 1000 * gather_s / static_cast<double>(n), peak_rss_mib(), most.load());
    std::fflush(stdout);
  }
  return 0;
}
