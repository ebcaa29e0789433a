// The OpenMP wait policy of the commands that train (harness/cli/main.cpp): their workers sleep at
// once beside busy work, one thread chooses nothing, and a policy the user set is kept. Read from
// the environment the running process ended up with, after it ran itself again with its choice.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support.h"
#include "tests/core/fixtures.h"

namespace clbench {
namespace {

// `clbench run --threads N`'s environment once it has chosen (it names GOMP_SPINCOUNT or
// OMP_WAIT_POLICY), or "" after `seconds`; the run is killed either way.
std::string chosen_environment(const std::string& env, int threads = 2, int seconds = 20) {
  const testing::TempDir dir;
  const pid_t pid =
      testing::spawn_clbench("run -b synthetic -m er --epochs 200 --threads " +
                                 std::to_string(threads) + " --out " + dir.root(),
                             (dir / "log").string(), "-u OMP_WAIT_POLICY -u GOMP_SPINCOUNT " + env);
  std::string environment;
  for (int i = 0; i < 10 * seconds && environment.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
    std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    for (auto& c : text) c = c == '\0' ? '\n' : c;
    if (text.find("GOMP_SPINCOUNT=") != std::string::npos ||
        text.find("OMP_WAIT_POLICY=") != std::string::npos) {
      environment = "\n" + text;
    }
  }
  kill(pid, SIGKILL);
  testing::wait_exit(pid);
  return environment;
}

// What `clbench run` chose beside two busy processes (two busy cores: well over the half core
// that decides).
std::string chosen_beside_busy_processes(int threads, int seconds) {
  std::vector<pid_t> busy;
  for (int i = 0; i < 2; ++i) {
    const pid_t p = fork();
    if (p == 0) {
      for (volatile uint64_t n = 0;; n = n + 1) {
      }
    }
    busy.push_back(p);
  }
  const auto start = std::chrono::steady_clock::now();
  const std::string environment = chosen_environment("", threads, seconds);
  std::printf("[ margin ] chosen after %.1f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  for (pid_t p : busy) {
    kill(p, SIGKILL);
    waitpid(p, nullptr, 0);
  }
  return environment;
}

TEST(WaitPolicy, BesideBusyProcessesTheWorkersSleepAtOnce) {
  const std::string environment = chosen_beside_busy_processes(2, 20);
  EXPECT_NE(environment.find("\nOMP_WAIT_POLICY=PASSIVE\n"), std::string::npos) << environment;
}

// One thread has no workers that wait: the run neither looks nor runs itself again. The choice
// above shows up within about 1 s beside the same processes (printed), so 8 s without one is not
// a slow start.
TEST(WaitPolicy, OneThreadChoosesNothing) {
  EXPECT_EQ(chosen_beside_busy_processes(1, 8), "");
}

TEST(WaitPolicy, APolicyTheUserSetIsKept) {
  const std::string environment = chosen_environment("OMP_WAIT_POLICY=ACTIVE");
  EXPECT_NE(environment.find("\nOMP_WAIT_POLICY=ACTIVE\n"), std::string::npos) << environment;
  EXPECT_EQ(environment.find("GOMP_SPINCOUNT="), std::string::npos) << environment;
}

}  // namespace
}  // namespace clbench
