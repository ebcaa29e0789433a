#pragma once
// Shared test helpers: resolve a run like the CLI does, and build a method on a stream.
#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "datasets/benchmarks.h"
#include "harness/comm.h"
#include "harness/run.h"
#include "methods/method.h"

namespace clbench::testing {

inline RunPlan plan(nlohmann::json user) { return plan_run(Config::flatten(user)); }

// A method attached to a fresh model on `stream` (seeded), as execute() would build it.
struct Setup {
  RunPlan plan;
  std::unique_ptr<TaskStream> stream;
  std::unique_ptr<Method> method;
  Classifier model{nullptr};
  LocalCommunicator comm;
};

inline std::unique_ptr<Setup> setup(nlohmann::json user) {
  auto s = std::make_unique<Setup>();
  s->plan = plan(std::move(user));
  s->stream = std::make_unique<TaskStream>(find_benchmark(s->plan.benchmark).make(s->plan.config));
  torch::manual_seed(static_cast<uint64_t>(s->plan.seed));
  const auto shape = s->stream->input_shape();
  const auto classes = s->stream->num_classes();
  const std::string backbone = s->plan.config.str("backbone");
  auto make = [backbone, shape, classes]() { return make_classifier(backbone, shape, classes); };
  s->model = make();
  MethodContext ctx;
  ctx.model = s->model;
  ctx.make_model = make;
  ctx.comm = &s->comm;
  ctx.stream = s->stream.get();
  ctx.seed = s->plan.seed;
  ctx.batch_size = s->plan.config.integer("batch_size");
  ctx.task_il = s->plan.config.str("scenario") == "task-il";
  s->method = find_method(s->plan.method).make(s->plan.config);
  s->method->attach(ctx);
  return s;
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

}  // namespace clbench::testing
