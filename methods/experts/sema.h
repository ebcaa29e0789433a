#pragma once
// SEMA (Wang, Lu, Yao, Gong, "Self-Expansion of Pre-trained Models with Mixture of Adapters for
// Continual Learning", CVPR 2025, arXiv 2403.18886): AdaptFormer adapters next to every block's
// MLP; in the last blocks a mixture of adapters that grows when an autoencoder "representation
// descriptor" of each adapter finds the new task's data out of its distribution (the z-score of
// the reconstruction loss), mixed by a soft router on the token mean. See sema.cpp.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>
#include <torch/arg.h>

#include "methods/frozen_vit.h"
#include "methods/method.h"
#include "methods/parallel_adapter.h"

namespace clbench {

struct SemaOptions {
  TORCH_ARG(int64_t, bottleneck) = 16;
  TORCH_ARG(double, scale) = 1.0;
  TORCH_ARG(int64_t, expansion_blocks) = 3;
  TORCH_ARG(int64_t, rd_dim) = 128;
  TORCH_ARG(double, exp_threshold) = 2.0;
  TORCH_ARG(int64_t, rd_epochs) = 20;
  TORCH_ARG(double, rd_lr) = 0.01;
  TORCH_ARG(double, rd_weight_decay) = 5e-4;

 public:
  template <class V>
  void visit(V& v) {
    v("bottleneck", bottleneck_, "each adapter's bottleneck (official ffn_num 16)", {1, 100000});
    v("scale", scale_,
      "each adapter's output scale (the official config says 0.1, its Adapter.forward applies "
      "none: 1)",
      {0, 1e6});
    v("expansion_blocks", expansion_blocks_,
      "the last blocks where mixtures may grow (official: blocks 9-11 of 12, 3)", {1, 1000});
    v("rd_dim", rd_dim_, "the representation descriptors' code size (official 128)", {1, 100000});
    v("exp_threshold", exp_threshold_,
      "a block expands when every descriptor's mean z-score on the new task exceeds this "
      "(official 2)",
      {0, 1e9});
    v("rd_epochs", rd_epochs_, "epochs of each new descriptor's fit (official 20)", {0, 1e6});
    v("rd_lr", rd_lr_, "its SGD lr (official 0.01, momentum 0.9, a cosine over its epochs)",
      {0, 1e6});
    v("rd_weight_decay", rd_weight_decay_, "its weight decay (official: the run's, 5e-4)",
      {0, 1e6});
  }
};

// One adapter: its functional part (Down, ReLU, Up), its router row (a Linear(D, 1)) and, in a
// block that may expand, its descriptor (an autoencoder D -> rd_dim -> D on the token mean) with
// the mean and standard deviation of its reconstruction loss on the data it was fit to.
struct SemaAdapter {
  torch::Tensor down_w, down_b, up_w, up_b;
  torch::Tensor row_w, row_b;
  torch::Tensor enc_w, enc_b, dec_w, dec_b;  // undefined outside the expanding blocks
  double rd_mean = 0.0, rd_std = 0.0;
  int64_t task = 0;
  bool trainable = true;  // added for the current task, not yet frozen
  std::vector<torch::Tensor> functional() const { return {down_w, down_b, up_w, up_b}; }
  std::vector<torch::Tensor> descriptor() const { return {enc_w, enc_b, dec_w, dec_b}; }
};

struct SemaBlock {
  std::vector<SemaAdapter> adapters;
  bool expands = false;
};

class Sema : public Method {
 public:
  explicit Sema(SemaOptions o) : opt_(std::move(o)) {}

  torch::Tensor loss(const Batch& batch) override;
  torch::Tensor logits(const Batch& batch) override;
  void end_task(const Task& task) override;
  std::vector<torch::Tensor> trainable_parameters() override;
  int64_t stored_parameters() const override;
  void state(StateVisitor& v) override;
  void after_load() override;

  const std::vector<SemaBlock>& blocks() const { return blocks_; }
  std::vector<SemaBlock>& blocks() { return blocks_; }
  // Per expanding block (in block order), each adapter's mean over `samples` (training set, not
  // augmented) of the z-score |l - mean| / std of its descriptor's reconstruction loss l.
  std::vector<torch::Tensor> mean_z_scores(const std::vector<int64_t>& samples);
  // Block `block`'s branch on the stream after attention x {B, N, D}.
  torch::Tensor mixture(size_t block, const torch::Tensor& x);
  // Each sample's reconstruction loss by adapter `a`'s descriptor of x {B, N, D}: {B}.
  static torch::Tensor reconstruction_loss(const SemaAdapter& a, const torch::Tensor& x);

 protected:
  void on_attach() override;
  void on_begin_task(const Task& task) override;

 private:
  SemaAdapter make_adapter(bool descriptor);
  // A forward pass under the mixtures, `record` (if given) getting each expanding block's input.
  torch::Tensor forward(const torch::Tensor& images,
                        std::vector<std::pair<size_t, torch::Tensor>>* record = nullptr);
  void fit_descriptors(const Task& task);
  void set_descriptor_statistics(const Task& task);

  SemaOptions opt_;
  std::shared_ptr<VitImpl> vit_;
  std::shared_ptr<MlpBranchHooks> hooks_;
  at::Generator generator_;
  std::vector<SemaBlock> blocks_;
};

}  // namespace clbench
