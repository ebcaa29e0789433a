// InfLoRA (Liang & Li, CVPR 2024): LoRA on k and v of every block, one B_t A_t per task, all summed
// into W. A_t is designed, not trained (Sec. 3.3, Eq. 9): the top-r left singular vectors, /
// sqrt(3), of the task's input second moment with the old tasks' subspace projected out, so the
// update cannot interfere with earlier inputs; only B_t (zero-initialised) and the head are
// trained. After each task the retained subspace grows by DualGPM (Lin et al. 2022) with an energy
// threshold ramping from lamb to lame over the tasks (official code, liangyanshuo/InfLoRA).
// DualGPM stores the subspace or its complement, whichever is smaller; clbench always stores the
// subspace itself (same projection, same growth rule).
#include "methods/adapters/inflora.h"

#include <cmath>

#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "methods/adapters/adapter_method.h"

namespace clbench {
namespace {

struct InfLoraOptions {
  TORCH_ARG(int64_t, rank) = 10;
  TORCH_ARG(std::vector<std::string>, parts) = {"k", "v"};
  TORCH_ARG(double, lamb) = 0.95;
  TORCH_ARG(double, lame) = 1.0;
  TORCH_ARG(int64_t, moment_samples) = 0;

 public:
  template <class V>
  void visit(V& v) {
    v("rank", rank_, "rank r of each task's B_t A_t (paper: 10)", {1, 4096});
    v("parts", parts_, "which slices of the fused qkv are adapted (paper: k,v)", qkv_parts_spec());
    v("lamb", lamb_, "DualGPM energy threshold at the first task (CIFAR 0.95, ImageNet-R 0.98)",
      {0, 1});
    v("lame", lame_, "DualGPM energy threshold reached at the last task (official: 1.0)", {0, 1});
    v("moment_samples", moment_samples_,
      "training samples per task for the input second moment (0: all, as the official code)",
      {0, 1e12});
  }
};

class InfLora : public AdapterMethod, public SubspaceKeeper {
 public:
  explicit InfLora(InfLoraOptions o) : opt_(std::move(o)), parts_(qkv_parts(opt_.parts())) {}

  void on_begin_task(const Task& task) override {
    const int64_t t = task.index;
    for_each_linear([](size_t, QkvPart, LoraLinear& linear) {
      for (auto& u : linear.updates) u.set_trainable(false);
    });
    const auto moments = input_moments(task);
    for (size_t i = 0; i < layers().size(); ++i) {
      auto cov = moments[i];
      if (bases_.size() > i && bases_[i].defined())
        cov = cov - bases_[i].matmul(bases_[i].t().matmul(cov));
      const auto U = std::get<0>(torch::linalg_svd(cov, false));
      const int64_t r = std::min(opt_.rank(), U.size(1));
      const auto A = (U.narrow(1, 0, r).t() / std::sqrt(3.0)).to(torch::kFloat).to(run().device);
      for (auto* linear : layers()[i]->linears()) {
        LowRankUpdate u;
        u.factors = {torch::zeros({linear->out_features(), r}, A.options()).requires_grad_(true),
                     A.clone()};
        u.task = t;
        linear->updates.push_back(std::move(u));
      }
    }
  }

  void end_task(const Task& task) override {
    const auto moments = input_moments(task);
    const double threshold =
        (opt_.lame() - opt_.lamb()) * task.index / ctx_.stream->num_tasks() + opt_.lamb();
    bases_.resize(moments.size());
    for (size_t i = 0; i < moments.size(); ++i) bases_[i] = grow(bases_[i], moments[i], threshold);
  }

  std::vector<torch::Tensor> adapter_parameters() override {
    std::vector<torch::Tensor> params;
    for_each_linear([&](size_t, QkvPart, LoraLinear& linear) {
      params.push_back(linear.updates.back().factors[0]);  // B_t
    });
    return params;
  }

  const std::vector<torch::Tensor>& retained_bases() const override { return bases_; }

  void state(StateVisitor& v) override {
    v("inflora.bases", bases_);
    visit_updates(v);
  }

 protected:
  std::vector<QkvPart> adapted_parts() const override { return parts_; }
  std::vector<torch::Tensor> extra_parameters() const override { return bases_; }

 private:
  // Per block, the mean of x^T x over the tokens entering qkv, over the task's training samples,
  // in float64 on the host.
  std::vector<torch::Tensor> input_moments(const Task& task) {
    auto samples = task.train;
    if (opt_.moment_samples() > 0 && static_cast<int64_t>(samples.size()) > opt_.moment_samples())
      samples.resize(static_cast<size_t>(opt_.moment_samples()));
    auto sums = services().sum_over_samples(
        samples,
        [this](const Batch& b) {
          torch::NoGradGuard no_grad;
          for (auto& layer : layers()) layer->start_recording();
          ctx_.model->backbone->forward(b.x);
          std::vector<torch::Tensor> moments;
          int64_t tokens = 0;
          for (auto& layer : layers()) {
            auto [m, count] = layer->stop_recording();
            moments.push_back(m.cpu());
            tokens = count;
          }
          moments.push_back(torch::full({1}, static_cast<double>(tokens), torch::kDouble));
          return moments;
        },
        run().batch_size);  // the official code's training batches
    const double total = sums.back().item<double>();
    sums.pop_back();
    for (auto& s : sums) s = s / std::max(total, 1.0);
    return sums;
  }

  // DualGPM growth (official update_DualGPM, 'remove' form): keep the directions of the task's
  // inputs needed to reach `threshold` of their energy beyond what the basis already holds.
  static torch::Tensor grow(const torch::Tensor& basis, const torch::Tensor& activation,
                            double threshold) {
    const int64_t D = activation.size(0);
    if (!basis.defined()) {
      auto [U, S, Vh] = torch::linalg_svd(activation, false);
      const auto ratio = S.pow(2) / S.pow(2).sum();
      const int64_t r = (ratio.cumsum(0) < threshold).sum().item<int64_t>();
      return U.narrow(1, 0, std::max<int64_t>(r, 1)).contiguous();
    }
    const double total =
        std::get<1>(torch::linalg_svd(activation, false)).pow(2).sum().item<double>();
    const auto hat = activation - basis.matmul(basis.t().matmul(activation));
    auto [U, S, Vh] = torch::linalg_svd(hat, false);
    double covered = (total - S.pow(2).sum().item<double>()) / total;
    int64_t r = 0;
    for (; r < S.size(0) && covered < threshold; ++r)
      covered += S[r].item<double>() * S[r].item<double>() / total;
    if (r == 0) return basis;
    auto grown = torch::cat({basis, U.narrow(1, 0, r)}, 1);
    return grown.size(1) > D ? grown.narrow(1, 0, D).contiguous() : grown;
  }

  InfLoraOptions opt_;
  std::vector<QkvPart> parts_;
  std::vector<torch::Tensor> bases_;  // per block: {D, k} float64 orthonormal
};

// Official (configs/*_inflora.json, utils/schedulers.py): Adam lr 5e-4, no weight decay, the
// CODA-Prompt cosine stepped once per epoch, batch 128.
const bool registered_inflora = register_method(
    method_entry<InfLora, InfLoraOptions>(
        "inflora", "InfLoRA: LoRA on k,v with A_t designed orthogonal to old tasks' inputs (ViT)",
        {{"optimizer", "adam"},
         {"lr", 5e-4},
         {"weight_decay", 0.0},
         {"lr_schedule", "coda-cosine"}},
        frozen_vit_requirements())
        .tiny_settings({{"moment_samples", 100}}));

}  // namespace
}  // namespace clbench
