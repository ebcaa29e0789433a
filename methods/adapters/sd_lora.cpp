// SD-LoRA (Wu et al., ICLR 2025, Eq. 4): W = W0 + sum_{k<t} alpha_k B_k A_k / ||B_k A_k|| +
// alpha_t B_t A_t. Earlier directions are frozen and normalised; every magnitude alpha_k and the
// current B_t, A_t are trained. Where the paper and the official code (WuYichen-97/SD-Lora-CL)
// differ, the defaults follow the code and the paper's choice is a key: magnitude init 0.8 (paper
// 1.0), old magnitudes re-created every task (paper: kept), norm ||B||_F ||A||_F (paper ||BA||_F),
// SGD with momentum 0.9 at a constant lr (paper: Adam).
// Variants (Sec. 3.4): sd-lora-rr lowers the rank of later tasks; sd-lora-kd drops a new direction
// that the old ones already span, folding it into their magnitudes.
#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/foundation/text.h"
#include "methods/adapters/adapter_method.h"

namespace clbench {
namespace {

// From task index `first` (0-based) on, new directions get rank `second`.
using Schedule = std::pair<int64_t, int64_t>;

struct SdLoraOptions {
  TORCH_ARG(int64_t, rank) = 10;
  TORCH_ARG(std::vector<std::string>, parts) = {"q", "v"};
  TORCH_ARG(double, magnitude_init) = 0.8;
  TORCH_ARG(bool, reset_magnitudes) = true;
  TORCH_ARG(std::string, norm) = "factors";

 public:
  template <class V>
  void visit(V& v) {
    v("rank", rank_, "rank r of each task's B_t A_t (paper and code: 10)", {1, 4096});
    v("parts", parts_, "which slices of the fused qkv are adapted (paper and code: q,v)",
      qkv_parts_spec());
    v("magnitude_init", magnitude_init_, "initial alpha (official code 0.8, paper 1.0)");
    v("reset_magnitudes", reset_magnitudes_,
      "re-create every alpha at magnitude_init at each task, as the official code does "
      "(false: keep the learned old magnitudes, as the paper describes)");
    v("norm", norm_,
      "normalisation of frozen directions: factors = ||B|| ||A|| (official code), product = "
      "||BA|| (paper Eq. 4), none",
      {"factors", "product", "none"});
  }
};

struct SdLoraRrOptions : SdLoraOptions {
  TORCH_ARG(std::vector<Schedule>, rank_schedule) = {{4, 8}, {8, 6}};

 public:
  template <class V>
  void visit(V& v) {
    SdLoraOptions::visit(v);
    v("rank_schedule", rank_schedule_,
      "after:rank pairs: from task index `after` (0-based) on, new directions get `rank` "
      "(paper mu=4, nu=8: ranks 10 -> 8 -> 6)",
      integer_pairs().increasing(), {1, 4096});
  }
};

struct SdLoraKdOptions : SdLoraOptions {
  TORCH_ARG(double, tau) = 9e-4;

 public:
  template <class V>
  void visit(V& v) {
    SdLoraOptions::visit(v);
    v("tau", tau_,
      "a new direction whose least-squares residual on the old ones is below tau "
      "is absorbed into their magnitudes (paper: 9e-4)",
      {0, 1e12});
  }
};

class SdLora : public AdapterMethod {
 public:
  explicit SdLora(SdLoraOptions o, std::vector<Schedule> schedule = {}, double tau = 0.0)
      : opt_(std::move(o)),
        parts_(qkv_parts(opt_.parts())),
        norm_(parse_lora_norm(opt_.norm(), "sd-lora.norm")),
        schedule_(std::move(schedule)),
        tau_(tau) {}
  explicit SdLora(SdLoraRrOptions o) : SdLora(o, o.rank_schedule()) {}
  explicit SdLora(SdLoraKdOptions o) : SdLora(o, {}, o.tau()) {}

  int64_t rank_for_task(int64_t t) const {
    int64_t r = opt_.rank();
    for (const auto& [after, rank] : schedule_) {
      if (t >= after) r = rank;
    }
    return r;
  }

  void on_begin_task(const Task& task) override {
    const int64_t t = task.index;
    if (opt_.reset_magnitudes()) magnitudes_.clear();
    while (static_cast<int64_t>(magnitudes_.size()) <= t) {
      magnitudes_.push_back(
          torch::full({1}, opt_.magnitude_init(), torch::TensorOptions().device(run().device))
              .requires_grad_(true));
    }
    const int64_t rank = rank_for_task(t);
    for_each_linear([&](size_t, QkvPart, LoraLinear& linear) {
      for (auto& u : linear.updates) {
        if (u.task < t) u.freeze(norm_);  // earlier directions: frozen, normalised
        u.magnitude = magnitudes_[static_cast<size_t>(u.task)];
      }
      if (linear.updates.empty() || linear.updates.back().task != t) {
        auto u = to_device(
            make_lora_update(linear.out_features(), linear.in_features(), rank, generator()));
        u.task = t;
        u.magnitude = magnitudes_[static_cast<size_t>(t)];
        linear.updates.push_back(std::move(u));
      }
    });
  }

  void end_task(const Task& task) override {
    if (tau_ <= 0.0 || task.index == 0) return;
    for_each_linear(
        [&](size_t, QkvPart, LoraLinear& linear) { assimilate_last_update(linear, norm_, tau_); });
  }

  std::vector<torch::Tensor> adapter_parameters() override {
    std::vector<torch::Tensor> params = magnitudes_;
    for_each_linear([&](size_t, QkvPart, LoraLinear& linear) {
      for (auto& u : linear.updates) {
        if (u.task == task_->index && !u.dropped) {
          params.insert(params.end(), u.factors.begin(), u.factors.end());
        }
      }
    });
    return params;
  }

  void state(StateVisitor& v) override {
    v("magnitudes", magnitudes_);
    visit_updates(v);
  }

  // Every update is scaled by its task's magnitude, one scalar shared by all adapted matrices.
  void after_load() override {
    for_each_linear([&](size_t, QkvPart, LoraLinear& linear) {
      for (auto& u : linear.updates) {
        if (u.task < static_cast<int64_t>(magnitudes_.size()))
          u.magnitude = magnitudes_[static_cast<size_t>(u.task)];
      }
    });
  }

 protected:
  std::vector<QkvPart> adapted_parts() const override { return parts_; }
  std::vector<torch::Tensor> extra_parameters() const override { return magnitudes_; }

 private:
  SdLoraOptions opt_;
  std::vector<QkvPart> parts_;
  LoraNorm norm_;
  std::vector<Schedule> schedule_;
  double tau_;
  std::vector<torch::Tensor> magnitudes_;  // alpha_k, one scalar shared by every adapted matrix
};

const bool registered_sd_lora =
    register_method(method_entry<SdLora, SdLoraOptions>(
        "sd-lora", "SD-LoRA: frozen normalised old LoRA directions, learned magnitudes (ViT)",
        sd_lora_optimizer(), frozen_vit_requirements())) &&
    register_method(method_entry<SdLora, SdLoraRrOptions>(
        "sd-lora-rr", "SD-LoRA with rank reduction for later tasks (ViT)", sd_lora_optimizer(),
        frozen_vit_requirements())) &&
    register_method(method_entry<SdLora, SdLoraKdOptions>(
        "sd-lora-kd", "SD-LoRA dropping new directions the old ones span (ViT)",
        sd_lora_optimizer(), frozen_vit_requirements()));

}  // namespace
}  // namespace clbench
