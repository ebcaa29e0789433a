// MoE-Adapters (Yu et al., CVPR 2024, arXiv 2403.11549) as its official code runs it
// (JiazuoYu/MoE-Adapters4CL: cil/clip/model.py ResidualAttentionBlock, cil/clip/adapter.py,
// cil/continual_clip/models.py, cil/configs/class/*.yaml; mtil/clip/model.py and
// mtil/src/models/finetune.py for the frozen experts):
// - every block: E AdaptFormer experts (Down 64, ReLU, dropout 0.1, Up, x 0.1, LoRA init: a fresh
//   expert adds 0) in parallel to the frozen MLP on the stream after attention, and a noisy top-k
//   router on that stream's class token: clean logits x_CLS W_gate, in training plus
//   N(0, 1) (softplus(x_CLS W_noise) + 1e-2); softmax over the top k, 0 elsewhere; W_gate and
//   W_noise start at zero (so the first routing is uniform over the experts the noise picks);
// - the loss: cross-entropy on the current task's classes (the official code scores the image
//   against the text embeddings of the task's class names only), prediction over every class
//   seen so far;
// - frozen_per_task > 0 (MTIL's frozen list): after each task, the `frozen_per_task` experts of
//   each block selected most often over the tasks so far are frozen (added to the frozen set,
//   which only grows); their numbers never change again.
// Where clbench differs, and why:
// - The paper's model is CLIP with adapters in both encoders and the text embeddings of "a bad
//   photo of a {}." as the classifier; here the ViT's linear head over all classes (PILOT's
//   SimpleLinear init) is trained with the experts, on the current task's classes.
// - One router per block for every task (the CIL code: step 1, task id 0). MTIL's per-task
//   routers need a task at test time, which MTIL gets from its autoencoder selector (DDAS); that
//   selector is not implemented, so neither are per-task routers.
// - Selections are counted after each task, over its un-augmented training samples with the clean
//   (noise-free) gates, in eval mode (the official choose_map counts the nonzero gates of every
//   forward pass while training, with noise); the counts accumulate over the tasks as choose_map
//   does. Ties go to the lower expert index.
// - The router noise of sample i is drawn from its own seed (the batch's augmentation seed, i and
//   the block), so any sharding draws the same noise (the official torch.randn_like on the batch).
// - The balance loss (mtil/clip/model.py computes cv^2(importance) + cv^2(load) x 1e-2 and drops
//   it; the CIL code computes neither) is added with balance_weight (0 by default, as the code
//   runs); importance and load are taken over each gradient shard's samples (the official batch
//   is one GPU's).
// - Schedule: the official cosine_lr warms up over 30 iterations, then a cosine per iteration;
//   clbench's warm-up counts in epochs, so the defaults use a per-step cosine without warm-up.
//   Label smoothing is 0 in the CIFAR-100 configs (ls: 0.0), as here.
#include "methods/experts/moe_adapters.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/foundation/random.h"

namespace clbench {

void MoeAdaptersOptions::check(const std::string& prefix) const {
  if (top_k_ > experts_) {
    throw Error(prefix + ".top_k (" + std::to_string(top_k_) + ") exceeds " + prefix +
                ".experts (" + std::to_string(experts_) + ")");
  }
  if (frozen_per_task_ > experts_) {
    throw Error(prefix + ".frozen_per_task (" + std::to_string(frozen_per_task_) + ") exceeds " +
                prefix + ".experts (" + std::to_string(experts_) + ")");
  }
}

MoeLayerImpl::MoeLayerImpl(int64_t n, const ParallelAdapterOptions& options, at::Generator& gen) {
  experts = register_module("experts", torch::nn::ModuleList());
  for (int64_t e = 0; e < n; ++e) experts->push_back(ParallelAdapter(options, gen));
  // model.py: router_list / w_noise_list entries are nn.Parameter(torch.zeros(d_model, E)).
  w_gate = register_parameter("w_gate", torch::zeros({options.dim(), n}));
  w_noise = register_parameter("w_noise", torch::zeros({options.dim(), n}));
}

torch::Tensor cv_squared(const torch::Tensor& x) {
  // model.py cv_squared: x.float().var() / (x.float().mean() ** 2 + 1e-10), 0 for one expert.
  if (x.size(0) == 1) return torch::zeros({}, x.options().dtype(torch::kFloat));
  const auto f = x.to(torch::kFloat);
  return f.var() / (f.mean().pow(2) + 1e-10);
}

Routing noisy_top_k(const torch::Tensor& clean, const torch::Tensor& noise,
                    const torch::Tensor& noise_std, int64_t k) {
  const int64_t E = clean.size(1);
  const bool noisy = noise.defined();
  const auto logits = noisy ? clean + noise * noise_std : clean;
  // model.py noisy_top_k_gating: top min(k + 1, E), softmax over the first k, scattered.
  const auto [top_values, top_indices] = logits.topk(std::min(k + 1, E), 1);
  const auto gates = torch::zeros_like(logits).scatter(
      1, top_indices.narrow(1, 0, k), torch::softmax(top_values.narrow(1, 0, k), 1));
  torch::Tensor load;
  if (noisy && k < E) {
    // _prob_in_top_k: P(clean + noise beats the k-th best of the others), Normal CDF.
    const auto in_threshold = top_values.narrow(1, k, 1),
               out_threshold = top_values.narrow(1, k - 1, 1);
    const auto cdf = [](const torch::Tensor& z) {
      return 0.5 * (1.0 + torch::erf(z / std::sqrt(2.0)));
    };
    const auto prob = torch::where(logits > in_threshold, cdf((clean - in_threshold) / noise_std),
                                   cdf((clean - out_threshold) / noise_std));
    load = prob.sum(0);
  } else {
    load = (gates > 0).sum(0);  // _gates_to_load
  }
  return {gates, load};
}

void MoeAdapters::on_attach() {
  vit_ = frozen_vit(ctx_.model, "adapts");
  auto gen = make_generator(run().seed, 29);
  {  // PILOT SimpleLinear's head init: kaiming_uniform_(nonlinearity='linear'), bias 0.
    torch::NoGradGuard no_grad;
    auto& head = ctx_.model->head;
    const double bound = std::sqrt(3.0 / static_cast<double>(head->weight.size(1)));
    head->weight.copy_(torch::empty(head->weight.sizes()).uniform_(-bound, bound, gen));
    head->bias.zero_();
  }
  // adapter.py with model.py's settings: bottleneck 64, scale 0.1, no LayerNorm, LoRA init.
  const auto options =
      ParallelAdapterOptions(vit_->feature_dim(), opt_.bottleneck()).scale(opt_.scale());
  layers_ = torch::nn::ModuleList();
  for (size_t b = 0; b < vit_->depth(); ++b)
    layers_->push_back(MoeLayer(opt_.experts(), options, gen));
  layers_->to(run().device);
  counts_ = torch::zeros({static_cast<int64_t>(depth()), opt_.experts()}, torch::kDouble);
  frozen_.assign(depth() * static_cast<size_t>(opt_.experts()), 0);
  hooks_ = std::make_shared<MlpBranchHooks>();
  vit_->hooks = hooks_;
}

std::vector<uint64_t> MoeAdapters::noise_seeds(const Batch& batch) {
  std::vector<uint64_t> seeds;
  if (!batch.augment_seed) return seeds;
  for (int64_t i : batch.indices)
    seeds.push_back(mix_seed({*batch.augment_seed, static_cast<uint64_t>(i), 0x9015Eull}));
  return seeds;
}

Routing MoeAdapters::route(size_t block, const torch::Tensor& cls,
                           const std::vector<uint64_t>& seeds) {
  auto& l = layer(block);
  // model.py: clean_logits = x @ w_gate.to(x); noise_stddev = softplus(x @ w_noise) + 1e-2.
  const auto clean = cls.matmul(l.w_gate.to(cls.scalar_type()));
  if (seeds.empty()) return noisy_top_k(clean, {}, {}, opt_.top_k());
  if (static_cast<int64_t>(seeds.size()) != cls.size(0))
    throw Error("internal: router noise seeds for " + std::to_string(seeds.size()) + " samples");
  const auto noise_std =
      torch::nn::functional::softplus(cls.matmul(l.w_noise.to(cls.scalar_type()))) + 1e-2;
  std::vector<torch::Tensor> draws;
  for (uint64_t seed : seeds) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(mix_seed({seed, block}));
    draws.push_back(torch::randn({opt_.experts()}, gen));
  }
  const auto noise = torch::stack(draws).to(cls.device(), clean.scalar_type());
  return noisy_top_k(clean, noise, noise_std, opt_.top_k());
}

MlpBranchHooks::Branch MoeAdapters::branch(std::vector<uint64_t> seeds, SampleDropout dropout,
                                           std::vector<torch::Tensor>* balance,
                                           torch::Tensor* selected) {
  return [this, seeds = std::move(seeds), dropout = std::move(dropout), balance, selected](
             size_t block, const torch::Tensor& x) {
    const auto r = route(block, x.select(1, 0), seeds);
    if (selected) selected->select(0, static_cast<int64_t>(block)).add_((r.gates > 0).sum(0));
    if (balance) balance->push_back(cv_squared(r.gates.sum(0)) + cv_squared(r.load));
    // SparseDispatcher.combine: sum_i gate_i * expert_i(x) (an expert whose gate is 0 adds 0).
    auto& l = layer(block);
    const auto E = static_cast<size_t>(opt_.experts());
    torch::Tensor out;
    for (size_t e = 0; e < E; ++e) {
      const auto g = r.gates.select(1, static_cast<int64_t>(e)).reshape({-1, 1, 1});
      const auto y = g * l.expert(e).forward(x, dropout, block * E + e);
      out = out.defined() ? out + y : y;
    }
    return out;
  };
}

torch::Tensor MoeAdapters::loss(const Batch& batch) {
  std::vector<torch::Tensor> balance;
  torch::Tensor logits;
  {
    BranchScope scope(*hooks_, branch(noise_seeds(batch), SampleDropout::of(batch, opt_.dropout()),
                                      opt_.balance_weight() > 0 ? &balance : nullptr, nullptr));
    logits = ctx_.model->forward(batch.x);
  }
  auto loss = current_task_loss(logits, batch);
  if (!balance.empty() && batch.global_size > 0) {
    // This shard's share: its balance loss weighted by its part of the global batch.
    const double share =
        static_cast<double>(batch.indices.size()) / static_cast<double>(batch.global_size);
    loss = loss + opt_.balance_weight() * share * torch::stack(balance).sum();
  }
  return loss;
}

torch::Tensor MoeAdapters::logits(const Batch& batch) {
  BranchScope scope(*hooks_, branch({}, {}, nullptr, nullptr));
  return ctx_.model->forward(batch.x);
}

void MoeAdapters::end_task(const Task& task) {
  if (opt_.frozen_per_task() == 0) return;
  const auto D = static_cast<int64_t>(depth()), E = opt_.experts();
  const auto sums = services().sum_over_samples(task.train, [&](const Batch& b) {
    torch::NoGradGuard no_grad;
    auto selected = torch::zeros({D, E}, b.x.options().dtype(torch::kFloat));
    if (!b.indices.empty()) {
      BranchScope scope(*hooks_, branch({}, {}, nullptr, &selected));
      ctx_.model->forward(b.x);
    }
    return std::vector<torch::Tensor>{selected};
  });
  counts_ = counts_ + sums[0].to(torch::kCPU, torch::kDouble);
  // finetune.py: torch.topk(choose_map, 2) per block, appended to the frozen list.
  const auto counts = counts_.contiguous();
  const double* c = counts.data_ptr<double>();
  for (int64_t b = 0; b < D; ++b) {
    std::vector<int64_t> order(static_cast<size_t>(E));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t i, int64_t j) { return c[b * E + i] > c[b * E + j]; });
    for (int64_t k = 0; k < opt_.frozen_per_task(); ++k)
      frozen_[static_cast<size_t>(b * E + order[static_cast<size_t>(k)])] = 1;
  }
  apply_frozen();
}

void MoeAdapters::apply_frozen() {
  for (size_t b = 0; b < depth(); ++b) {
    for (int64_t e = 0; e < opt_.experts(); ++e) {
      if (!frozen(b, e)) continue;
      for (auto& p : layer(b).expert(static_cast<size_t>(e)).parameters()) {
        p.requires_grad_(false);
        p.mutable_grad() = torch::Tensor();
      }
    }
  }
}

std::vector<torch::Tensor> MoeAdapters::trainable_parameters() {
  // models.py: every parameter named adaptmlp, router or noise (finetune.py: less the frozen).
  std::vector<torch::Tensor> params;
  for (size_t b = 0; b < depth(); ++b) {
    auto& l = layer(b);
    for (int64_t e = 0; e < opt_.experts(); ++e) {
      if (frozen(b, e)) continue;
      for (const auto& p : l.expert(static_cast<size_t>(e)).parameters()) params.push_back(p);
    }
    params.push_back(l.w_gate);
    params.push_back(l.w_noise);
  }
  params.push_back(ctx_.model->head->weight);
  params.push_back(ctx_.model->head->bias);
  return params;
}

int64_t MoeAdapters::stored_parameters() const {
  return count_parameters(layers_->parameters()) + count_parameters(ctx_.model->head->parameters());
}

void MoeAdapters::state(StateVisitor& v) {
  v("moe.layers", *layers_);
  v("moe.counts", counts_);
  v("moe.frozen", frozen_);
}

namespace {

const bool registered_moe_adapters = register_method(
    method_entry<MoeAdapters, MoeAdaptersOptions>(
        "moe-adapters",
        "MoE-Adapters: per block a noisy top-k mixture of adapter experts next to the MLP, "
        "most-selected experts frozen, a linear head (ViT)",
        // continual_clip/models.py: AdamW lr 1e-3 (cil/configs/class), wd 0, cosine per iteration
        // (batch 128 and 1 epoch: the paper settings).
        {{"optimizer", "adamw"},
         {"lr", 1e-3},
         {"weight_decay", 0.0},
         {"lr_schedule", "cosine"},
         {"lr_schedule_per", "step"}},
        frozen_vit_requirements())
        .tiny_settings({{"experts", 3}, {"top_k", 2}, {"frozen_per_task", 1}, {"bottleneck", 4}})
        // cil/configs/class/cifar100_10-10-MoE-Adapters.yaml: batch 128, lr 1e-3, wd 0, ls 0;
        // models.py: AdamW, EPOCH = 1, cosine_lr with a 30-iteration warm-up (not expressible).
        .paper_settings({{"cifar100-10",
                          {{"epochs", 1},
                           {"batch_size", 128},
                           {"optimizer", "adamw"},
                           {"lr", 1e-3},
                           {"weight_decay", 0.0},
                           {"lr_schedule", "cosine"},
                           {"lr_schedule_per", "step"},
                           {"moe-adapters.experts", 2},
                           {"moe-adapters.top_k", 2}}}}));

}  // namespace
}  // namespace clbench
