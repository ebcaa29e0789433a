// Every write (harness/foundation/files.h): never over a device, a FIFO, a folder or an input; a
// failing disk ends the run with a clear message and a non-zero exit, no temporary file and the
// previous file intact; leftovers of dead processes are removed when a run starts.
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "harness/engine/checkpoint.h"
#include "results/result_file.h"
#include "support.h"
#include "tests/core/fixtures.h"

namespace clbench {
namespace {

namespace fs = std::filesystem;
using testing::clbench_cmd;
using testing::run_command;
using testing::TempDir;

bool leftovers(const fs::path& folder) {
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(folder, ec)) {
    if (e.path().filename().string().find(".tmp.") != std::string::npos) return true;
  }
  return false;
}

TEST(Outputs, DevicesFifosFoldersAndInputsAreNeverWrittenOver) {
  TempDir dir;
  std::string out;
  // A result file, for the leaderboard to read (and never to write over).
  ASSERT_EQ(
      run_command(clbench_cmd("run -b synthetic -m finetune --epochs 1 --out " + dir.root()), out),
      0)
      << out;
  const std::string result = (dir / "synthetic/finetune/seed-0.h5").string();
  EXPECT_EQ(run_command(clbench_cmd("leaderboard " + dir.root() + " --json /dev/null"), out), 1)
      << out;
  EXPECT_NE(out.find("refusing to write /dev/null: it exists and is a device"), std::string::npos)
      << out;
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0644), 0);
  EXPECT_EQ(
      run_command(
          clbench_cmd("leaderboard " + dir.root() + " --markdown " + (dir / "fifo").string()), out),
      1)
      << out;
  EXPECT_NE(out.find("it exists and is a FIFO"), std::string::npos) << out;
  EXPECT_EQ(run_command(clbench_cmd("leaderboard " + dir.root() + " --json " + result), out), 1)
      << out;
  EXPECT_NE(out.find("it is an input of this command"), std::string::npos) << out;
  EXPECT_NO_THROW(read_result(result));
  fs::create_directories(dir / "folder.safetensors");
  EXPECT_EQ(run_command(
                clbench_cmd("pretrain --backbone mlp --classes 2 --instances 2 --epochs 1 --out " +
                            (dir / "folder.safetensors").string()),
                out),
            1)
      << out;
  EXPECT_NE(out.find("is a folder"), std::string::npos) << out;
  fs::create_directories(dir / "x/synthetic/er/seed-0.h5");  // a folder where the result goes
  EXPECT_EQ(run_command(clbench_cmd("run -b synthetic -m er --out " + (dir / "x").string()), out),
            1)
      << out;
  EXPECT_NE(out.find("it exists and is a folder"), std::string::npos) << out;
  EXPECT_EQ(out.find("task 1/"), std::string::npos) << "refused before training: " << out;
}

// Every file write of this process fails beyond `bytes` (EFBIG, like a full disk) while alive.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    old_handler_ = signal(SIGXFSZ, SIG_IGN);  // the write fails instead of killing the process
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit saved_{};
  sighandler_t old_handler_;
};

TEST(Outputs, AFailingDiskLeavesThePreviousFileAndNoTemporary) {
  TempDir dir;
  auto run = testing::run_quiet(
      {{"benchmark", "synthetic"}, {"method", "finetune"}, {"epochs", 1}, {"out", dir.root()}});
  const std::string result = (dir / "result.h5").string();
  write_result(result, run);
  const auto before = testing::read_text(result);
  {
    FileSizeLimit limit(4096);
    try {
      write_result(result, run);
      ADD_FAILURE() << "the write beyond the limit succeeded";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cannot write " + result), std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find("File too large"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(testing::read_text(result), before);
  EXPECT_FALSE(leftovers(dir.dir()));
}

// A small tmpfs at `folder` while alive (needs root; ok() is false where mounting is not allowed).
class Tmpfs {
 public:
  Tmpfs(const fs::path& folder, size_t bytes) : folder_(folder) {
    fs::create_directories(folder);
    const std::string size = "size=" + std::to_string(bytes);
    mounted_ = ::mount("tmpfs", folder.c_str(), "tmpfs", 0, size.c_str()) == 0;
  }
  ~Tmpfs() {
    if (mounted_) ::umount2(folder_.c_str(), MNT_DETACH);
  }
  bool ok() const { return mounted_; }

 private:
  fs::path folder_;
  bool mounted_ = false;
};

#define SKIP_WITHOUT_TMPFS(mount) \
  if (!(mount).ok()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root)"

// An ER run stopped by SIGTERM after its first checkpoint (every 5 steps) in `out`: its arguments.
std::string stopped_er_run(const fs::path& out) {
  const std::string args =
      "run -b synthetic -m er --epochs 20 --threads 1 --checkpoint-every 5 --out " + out.string();
  fs::create_directories(out);
  const pid_t pid = testing::spawn_clbench(args, (out / "log").string());
  EXPECT_TRUE(testing::wait_for_file((out / "synthetic/er/seed-0.ckpt").string(), pid));
  kill(pid, SIGTERM);
  EXPECT_EQ(testing::wait_exit(pid), 75);
  return args;
}

// The resumed run's next checkpoint fails: a clear message naming the file and the cause, exit 1,
// the previous checkpoint intact and loadable, no temporary file.
void expect_clean_checkpoint_failure(int code, const std::string& out, const fs::path& folder,
                                     const std::string& before, const std::string& cause) {
  const std::string ckpt = (folder / "synthetic/er/seed-0.ckpt").string();
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("cannot write " + ckpt), std::string::npos) << out;
  EXPECT_NE(out.find(cause), std::string::npos) << out;
  EXPECT_EQ(out.find("terminate"), std::string::npos) << out;
  EXPECT_EQ(testing::read_text(ckpt), before) << "the previous checkpoint must stay intact";
  EXPECT_FALSE(leftovers(folder));
  EXPECT_TRUE(Checkpoint::load(ckpt, torch::kCPU).has_value());
}

TEST(Outputs, ACheckpointBeyondTheFileSizeLimitEndsTheRunClearlyAndKeepsThePreviousOne) {
  TempDir dir;
  const std::string args = stopped_er_run(dir.dir());
  const auto before = testing::read_text((dir / "synthetic/er/seed-0.ckpt").string());
  std::string out;
  // Resumed where a file may not grow beyond a tenth of the checkpoint: the next one fails.
  const auto limit_kib = std::to_string(before.size() / 10240 + 1);
  const int code = run_command("bash -c 'trap \"\" XFSZ; ulimit -f " + limit_kib + "; exec " +
                                   clbench_cmd(args + " --resume") + "'",
                               out);
  expect_clean_checkpoint_failure(code, out, dir.dir(), before, "File too large");
}

TEST(Outputs, ACheckpointOnAFullFilesystemEndsTheRunClearlyAndKeepsThePreviousOne) {
  TempDir dir;
  stopped_er_run(dir / "first");
  const auto before = testing::read_text((dir / "first/synthetic/er/seed-0.ckpt").string());
  // Room for the checkpoint and half another: the next one (written beside it) runs out of space.
  Tmpfs full(dir / "full", before.size() * 3 / 2 + 64 * 1024);
  SKIP_WITHOUT_TMPFS(full);
  fs::create_directories(dir / "full/synthetic/er");
  fs::copy_file(dir / "first/synthetic/er/seed-0.ckpt", dir / "full/synthetic/er/seed-0.ckpt");
  std::string out;
  const int code = run_command(
      clbench_cmd(
          "run -b synthetic -m er --epochs 20 --threads 1 --checkpoint-every 5 --resume --out " +
          (dir / "full").string()),
      out);
  EXPECT_NE(out.find("resuming from"), std::string::npos) << out;
  expect_clean_checkpoint_failure(code, out, dir / "full", before, "No space left on device");
}

TEST(Outputs, AResultOnAFullFilesystemIsAClearErrorAndThePreviousResultStays) {
  TempDir dir;
  Tmpfs full(dir / "full", 256 * 1024);
  SKIP_WITHOUT_TMPFS(full);
  auto run =
      testing::run_quiet({{"benchmark", "synthetic"}, {"method", "finetune"}, {"epochs", 1}});
  const std::string result = (dir / "full/result.h5").string();
  write_result(result, run);
  const auto before = testing::read_text(result);
  {
    std::ofstream filler((dir / "full/filler").string(), std::ios::binary);
    const std::string block(4096, 'x');
    while (filler.write(block.data(), block.size())) {
    }
  }
  try {
    write_result(result, run);
    ADD_FAILURE() << "the write on a full filesystem succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot write " + result), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("No space left on device"), std::string::npos) << e.what();
  }
  EXPECT_EQ(testing::read_text(result), before);
  EXPECT_FALSE(leftovers(dir / "full"));
}

TEST(Outputs, TemporariesOfDeadProcessesAreRemovedWhenARunStarts) {
  TempDir dir;
  const pid_t dead = fork();
  if (dead == 0) _exit(0);
  testing::wait_exit(dead);
  fs::create_directories(dir / "synthetic/finetune");
  const auto stale = dir / ("synthetic/finetune/seed-0.h5.tmp." + std::to_string(dead));
  const auto stale_ckpt = dir / ("synthetic/finetune/seed-0.ckpt.tmp." + std::to_string(dead));
  const auto alive = dir / ("synthetic/finetune/seed-0.h5.tmp." + std::to_string(::getpid()));
  for (const auto& p : {stale, stale_ckpt, alive}) std::ofstream(p.string()) << "x";
  std::string out;
  ASSERT_EQ(
      run_command(clbench_cmd("run -b synthetic -m finetune --epochs 1 --out " + dir.root()), out),
      0)
      << out;
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_FALSE(fs::exists(stale_ckpt));
  EXPECT_TRUE(fs::exists(alive)) << "a living process's temporary file stays";
}

}  // namespace
}  // namespace clbench
