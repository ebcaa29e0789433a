// The OpenMP wait policy of the commands that train (harness/cli/main.cpp): their workers sleep at
// once beside busy work, and a policy the user set is kept. Read from the environment the running
// process ended up with, after it ran itself again with its choice.
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

// `clbench run`'s environment once it has chosen (it names GOMP_SPINCOUNT or OMP_WAIT_POLICY),
// or "" after 20 s; the run is killed either way.
std::string chosen_environment(const std::string& env) {
  const testing::TempDir dir;
  const pid_t pid =
      testing::spawn_clbench("run -b synthetic -m er --epochs 200 --threads 1 --out " + dir.root(),
                             (dir / "log").string(), "-u OMP_WAIT_POLICY -u GOMP_SPINCOUNT " + env);
  std::string environment;
  for (int i = 0; i < 200 && environment.empty(); ++i) {
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

TEST(WaitPolicy, BesideBusyProcessesTheWorkersSleepAtOnce) {
  std::vector<pid_t> busy;
  for (int i = 0; i < 2; ++i) {  // two busy cores: well over the half core that decides
    const pid_t p = fork();
    if (p == 0) {
      for (volatile uint64_t n = 0;; n = n + 1) {
      }
    }
    busy.push_back(p);
  }
  const std::string environment = chosen_environment("");
  for (pid_t p : busy) {
    kill(p, SIGKILL);
    waitpid(p, nullptr, 0);
  }
  EXPECT_NE(environment.find("\nOMP_WAIT_POLICY=PASSIVE\n"), std::string::npos) << environment;
}

TEST(WaitPolicy, APolicyTheUserSetIsKept) {
  const std::string environment = chosen_environment("OMP_WAIT_POLICY=ACTIVE");
  EXPECT_NE(environment.find("\nOMP_WAIT_POLICY=ACTIVE\n"), std::string::npos) << environment;
  EXPECT_EQ(environment.find("GOMP_SPINCOUNT="), std::string::npos) << environment;
}

}  // namespace
}  // namespace clbench
