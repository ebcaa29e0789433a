// Times one training step of a prompt method in clbench (the C++ side of bench/prompt_step.py):
// the method as clbench registers it (its default settings, here at task 2 of a 10-task stream of
// a synthetic benchmark, so DualPrompt's and CODA-P's earlier prompts exist), its own loss
// (query pass + prompted pass + key/prompt losses), backward, and an Adam step over the method's
// trainable tensors. Also times the query pass alone and one forward of the plain ViT without
// gradients (the query pass must cost no more). Prints the median milliseconds of each.
//
//   build/clbench_prompt_step --method coda-prompt --preset vit-b16 --batch 32 --steps 3
//                             [--cpu-kernels portable|avx2|native]  (clbench's cpu_kernels key)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "datasets/loader.h"
#include "harness/distributed/communicator.h"
#include "harness/models/vit.h"
#include "harness/run/plan.h"
#include "harness/run/session.h"
#include "methods/method.h"

using namespace clbench;

namespace {

double median_ms(int64_t steps, const std::function<void()>& step) {
  std::vector<double> ms;
  for (int64_t s = 0; s < steps + 1; ++s) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    const double dt =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (s >= 1) ms.push_back(dt);  // one warm-up
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string method = "coda-prompt", preset = "vit-tiny28", kernels = "portable";
  int64_t batch = 32, steps = 5, threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--method") {
      method = v;
    } else if (k == "--preset") {
      preset = v;
    } else if (k == "--batch") {
      batch = std::stoll(v);
    } else if (k == "--steps") {
      steps = std::stoll(v);
    } else if (k == "--threads") {
      threads = std::stoll(v);
    } else if (k == "--cpu-kernels") {
      kernels = v;
    } else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  at::globalContext().setFlushDenormal(true);  // as clbench runs (harness/cli/main.cpp), first
  try {
    const auto plan = plan_run(Config::flatten({{"benchmark", "synthetic"},
                                                {"method", method},
                                                {"backbone", preset},
                                                {"pretrained", "none"},
                                                {"device", "cpu"},
                                                {"threads", threads},
                                                {"cpu_kernels", kernels},
                                                {"synthetic.classes", 20},
                                                // the preset's own size: no resize in the step
                                                {"synthetic.side", vit_preset(preset).image_size()},
                                                {"synthetic.train_per_class", batch},
                                                {"out", "/tmp/clbench-prompt-step"}}));
    LocalCommunicator comm;
    auto session = build_session(plan, comm);
    auto& m = *session->method;
    const auto& tasks = session->stream.tasks;
    m.begin_task(tasks[0]);
    m.end_task(tasks[0]);
    m.begin_task(tasks[1]);
    std::vector<int64_t> idx(tasks[1].train.begin(), tasks[1].train.begin() + batch);
    const auto b = load_batch(session->stream, *session->stream.train_set, idx, batch);
    torch::optim::Adam adam(m.trainable_parameters(), torch::optim::AdamOptions(1e-3));
    const double step = median_ms(steps, [&] {
      adam.zero_grad();
      m.loss(b).backward();
      adam.step();
    });
    auto& vit = dynamic_cast<VitImpl&>(*session->model->backbone);
    const double query = median_ms(steps, [&] { vit.query(b.x); });
    auto hooks = vit.hooks;
    vit.hooks = nullptr;
    const double frozen = median_ms(steps, [&] {
      torch::NoGradGuard no_grad;
      vit.forward(b.x);
    });
    vit.hooks = hooks;
    std::printf(
        "%s on %s batch %lld threads %lld: step %.1f ms, query pass %.1f ms, frozen "
        "forward %.1f ms (medians of %lld)\n",
        method.c_str(), preset.c_str(), static_cast<long long>(batch),
        static_cast<long long>(threads), step, query, frozen, static_cast<long long>(steps));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "clbench_prompt_step: %s\n", e.what());
    return 1;
  }
  return 0;
}
