#pragma once
// Shared test helpers: resolve a run like the CLI does, and build a method on a stream.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <numeric>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "datasets/benchmarks/registry.h"
#include "harness/distributed/communicator.h"
#include "harness/engine/progress.h"
#include "harness/run/cpu_kernels.h"
#include "harness/run/execute.h"
#include "harness/run/plan.h"
#include "harness/run/session.h"
#include "methods/method.h"

namespace clbench::testing {

// Runs pick their CPU kernels once per process (harness/run/cpu_kernels.h), before any tensor
// operation: the default mode is applied before the first test. With it, and one thread per test
// process unless a test names its own count (CMakeLists.txt), every FP32 test computes the same
// bits on every x86-64 machine with AVX2, Intel or AMD, so a threshold measured here holds there;
// CpuKernels.ThePortableModeComputesThePublishedFingerprint fails first, naming the kernel family,
// on a machine where that is not so.
struct DefaultCpuKernels : ::testing::Environment {
  void SetUp() override { apply_cpu_kernels(kDefaultCpuKernels); }
};
inline ::testing::Environment* const kDefaultCpuKernelsEnvironment =
    ::testing::AddGlobalTestEnvironment(new DefaultCpuKernels);

// Where a run that names no output folder keeps its checkpoints: this process's own folder,
// removed when the tests end (not runs/ in the build folder, shared by parallel test processes).
struct ScratchOutput : ::testing::Environment {
  static std::string folder() {
    return (std::filesystem::temp_directory_path() /
            ("clbench-tests-" + std::to_string(::getpid())))
        .string();
  }
  void TearDown() override { std::filesystem::remove_all(folder()); }
};
inline ::testing::Environment* const kScratchOutputEnvironment =
    ::testing::AddGlobalTestEnvironment(new ScratchOutput);

// Unit tests build their own batches on the CPU, so a run is on the CPU unless the test asks for a
// device (the *_CUDA tests do); the default, auto, would put the model on a GPU where there is one.
// Tiny backbones have no trained weights: random ones unless the test gives a file.
inline RunPlan plan(nlohmann::json user) {
  if (!user.contains("device")) user["device"] = "cpu";
  if (!user.contains("pretrained")) user["pretrained"] = "none";
  if (!user.contains("out")) user["out"] = ScratchOutput::folder();
  return plan_run(Config::flatten(user));
}

// A small run of `method` on the synthetic benchmark, on one thread: `classes` classes in tasks of
// 2, `per_class` training and 10 test samples each; `more` adds or overrides keys. A replay memory
// whose default exceeds this small stream holds the whole stream (a larger one is refused).
inline nlohmann::json synthetic_run(const std::string& method, int64_t classes, int64_t per_class,
                                    const nlohmann::json& more = nlohmann::json::object()) {
  nlohmann::json user = {{"benchmark", "synthetic"},
                         {"method", method},
                         {"threads", 1},
                         {"synthetic.classes", classes},
                         {"synthetic.train_per_class", per_class},
                         {"synthetic.test_per_class", 10}};
  const auto& entry = find_method(method);
  for (const auto& key : entry.keys) {
    if (key.key == entry.requirements.memory_key &&
        key.default_value.get<int64_t>() > classes * per_class) {
      user[key.key] = classes * per_class;
    }
  }
  for (const auto& [k, v] : more.items()) user[k] = v;
  return user;
}

// A method attached to a fresh model on its stream, built exactly as execute() builds it.
struct Setup {
  RunPlan plan;
  LocalCommunicator comm;
  std::unique_ptr<Session> session;
  TaskStream* stream = nullptr;
  Method* method = nullptr;
  Classifier model{nullptr};
};

inline std::unique_ptr<Setup> setup(nlohmann::json user) {
  auto s = std::make_unique<Setup>();
  s->plan = plan(std::move(user));
  s->session = build_session(s->plan, s->comm);
  s->stream = &s->session->stream;
  s->method = s->session->method.get();
  s->model = s->session->model;
  return s;
}

// Fashion-MNIST-shaped IDX files (gzip-free): `per_class` 28x28 images of each of the 10 classes
// for training and for testing; `changed` alters one training pixel.
inline void write_idx_data(const std::filesystem::path& root, int per_class, bool changed) {
  std::filesystem::create_directories(root);
  auto write = [&](const std::string& name, const std::vector<uint8_t>& header,
                   const std::vector<uint8_t>& body) {
    std::ofstream out(root / name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(header.data()),
              static_cast<std::streamsize>(header.size()));
    out.write(reinterpret_cast<const char*>(body.data()),
              static_cast<std::streamsize>(body.size()));
  };
  const int n = 10 * per_class;
  const std::vector<uint8_t> count = {0, 0, static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
  std::vector<uint8_t> labels, pixels;
  for (int i = 0; i < n; ++i) {
    labels.push_back(static_cast<uint8_t>(i % 10));
    for (int p = 0; p < 784; ++p)
      pixels.push_back(static_cast<uint8_t>((i * 31 + p * (i % 10 + 1)) % 251));
  }
  for (const char* split : {"train", "t10k"}) {
    auto images = pixels;
    if (changed && std::string(split) == "train") images[784 * 3 + 100] ^= 0xFF;
    std::vector<uint8_t> image_header = {0, 0, 8, 3};
    image_header.insert(image_header.end(), count.begin(), count.end());
    for (int side : {28, 28})
      image_header.insert(image_header.end(), {0, 0, 0, static_cast<uint8_t>(side)});
    std::vector<uint8_t> label_header = {0, 0, 8, 1};
    label_header.insert(label_header.end(), count.begin(), count.end());
    write(std::string(split) + "-images-idx3-ubyte", image_header, images);
    write(std::string(split) + "-labels-idx1-ubyte", label_header, labels);
  }
}

// Reads a method's declared state by name (methods/state.h), without a checkpoint.
class StateProbe : public StateVisitor {
 public:
  bool loading() const override { return false; }
  using StateVisitor::operator();
  void operator()(const std::string& n, torch::Tensor& t) override { tensors[key(n)] = t; }
  void operator()(const std::string& n, int64_t& v) override { ints[key(n)] = {v}; }
  void operator()(const std::string&, double&) override {}
  void operator()(const std::string&, std::string&) override {}
  void operator()(const std::string&, at::Generator&) override {}
  void operator()(const std::string& n, std::vector<int64_t>& v) override { ints[key(n)] = v; }
  void operator()(const std::string&, std::vector<double>&) override {}
  std::map<std::string, torch::Tensor> tensors;
  std::map<std::string, std::vector<int64_t>> ints;

 protected:
  int64_t count(const std::string&, int64_t size) override { return size; }
  void in_place(const std::string& n, torch::Tensor& t) override { tensors[key(n)] = t; }
};

inline StateProbe probe(Method& m) {
  StateProbe p;
  m.state(p);
  return p;
}

// A whole run, silently, on one local rank.
inline RunResult run_quiet(nlohmann::json user) {
  auto p = plan(std::move(user));
  LocalCommunicator comm;
  Progress quiet(false, false);
  return execute(p, comm, quiet);
}

// Every training sample of every task has an internal label inside its task's class range.
inline ::testing::AssertionResult train_samples_in_their_tasks(const TaskStream& stream) {
  for (const auto& t : stream.tasks) {
    for (int64_t i : t.train) {
      const int64_t internal = stream.to_internal[stream.train_set->label(i)];
      if (internal < t.class_begin || internal >= t.class_end) {
        return ::testing::AssertionFailure()
               << "train sample " << i << " (internal class " << internal << ") is in task "
               << t.index << " [" << t.class_begin << ", " << t.class_end << ")";
      }
    }
  }
  return ::testing::AssertionSuccess();
}

// 0, 1, ..., n - 1: an identity class order, or every sample index of a dataset.
inline std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

inline std::string clbench_cmd(const std::string& args) {
  return std::string(CLBENCH_BINARY) + " " + args;
}

// Runs a shell command; returns its exit status and puts stdout+stderr into `output`.
inline int run_command(const std::string& command, std::string& output) {
  output.clear();
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) output.append(buf, n);
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Starts `clbench ARGS` in the background (through sh, with `env` before it), its output to `log`.
inline pid_t spawn_clbench(const std::string& args, const std::string& log,
                           const std::string& env = "") {
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string cmd =
        "exec env " + env + " " + std::string(CLBENCH_BINARY) + " " + args + " >" + log + " 2>&1";
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

// Waits until `path` exists and is not empty (true), or the child `pid` ended first or 120 s
// passed (false).
inline bool wait_for_file(const std::string& path, pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    std::error_code ec;
    if (std::filesystem::exists(path, ec) && std::filesystem::file_size(path, ec) > 0) return true;
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

// Waits for a child; its exit code (128 + signal when a signal ended it).
inline int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The whole of a text file ("" when it cannot be read).
inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace clbench::testing
