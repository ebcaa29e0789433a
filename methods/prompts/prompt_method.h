#pragma once
// What the prompt methods (L2P, L2P++, DualPrompt, CODA-Prompt, HiDe-Prompt) share, as their
// official code runs them: a frozen ViT; a query from a second, prompt-free pass of it (the
// final-norm CLS feature, without gradients, once per batch); prompts chosen from that query and
// given to the ViT through its hooks (tokens at the input, key/value prefixes in blocks); one
// linear head over all classes; the loss on the current task's classes (past-class logits masked,
// Method::current_task_loss) plus the prompts' own loss; prediction by argmax over every class
// seen so far, without a task id. Only prompts, keys and the head are trained.
#include <vector>

#include <ATen/core/Generator.h>

#include "harness/models/vit.h"
#include "methods/frozen_vit.h"
#include "methods/method.h"
#include "methods/similarity.h"

namespace clbench {

// The prompts of one batch (one shard of it).
struct Prompts {
  torch::Tensor tokens;                  // {B, P, D} prepended to the input sequence; or none
  std::vector<KeyValuePrefix> prefixes;  // one per block (shorter, or undefined: none)
  torch::Tensor loss;                    // the prompts' own loss on this shard; undefined: none
};

// What the head reads: the class token (CODA-Prompt's code, DualPrompt), or the mean of the input
// prompt tokens' outputs (the official L2P's head_type 'prompt').
enum class Readout { kClassToken, kPromptMean };

class PromptMethod : public Method {
 public:
  torch::Tensor loss(const Batch& batch) override;
  torch::Tensor logits(const Batch& batch) override;
  std::vector<torch::Tensor> trainable_parameters() override;  // prompt_parameters() + head
  int64_t stored_parameters() const override;                  // stored_prompts() + head
  int64_t forward_passes() const override { return 2; }        // the query pass, the prompted one

 protected:
  // Requires a ViT, freezes it and installs the hooks, then init_prompts().
  void on_attach() final;
  virtual void init_prompts() = 0;
  // The prompts for a batch (training: in loss(), else in logits()), mostly from its query().
  virtual Prompts select(const Batch& batch, bool training) = 0;
  virtual std::vector<torch::Tensor> prompt_parameters() = 0;  // trained during this task
  virtual std::vector<torch::Tensor> stored_prompts() const = 0;
  virtual Readout readout() const { return Readout::kClassToken; }
  // A loss term on the head's input (HiDe-Prompt's contrastive regulariser); undefined: none.
  virtual torch::Tensor feature_loss(const torch::Tensor& /*features*/, const Batch& /*batch*/) {
    return {};
  }
  // The classification part of the loss (default: Method::current_task_loss, past classes masked).
  virtual torch::Tensor classifier_loss(const torch::Tensor& logits, const Batch& batch) const {
    return current_task_loss(logits, batch);
  }

  // The head's input for a batch under `prompts` (Readout), with gradients where they apply.
  torch::Tensor features(const Batch& batch, const Prompts& prompts);
  // The frozen, prompt-free ViT's feature of each image {B, D} (VitImpl::query): a second forward
  // pass, without gradients.
  torch::Tensor query(const Batch& batch);

  VitImpl& vit() { return *vit_; }
  int64_t dim() const { return vit_->options.dim(); }
  size_t depth() const { return vit_->depth(); }
  // The blocks of `blocks` this ViT has (the official layer lists are for ViT-B's 12; a 4-block
  // ViT keeps 0-3 of 0-4).
  std::vector<int64_t> blocks_of(const std::vector<int64_t>& blocks) const;
  at::Generator& generator() { return generator_; }  // seeded by the run: equal on every rank
  torch::TensorOptions options() const { return torch::TensorOptions().device(run().device); }

 private:
  struct Hooks;
  std::shared_ptr<VitImpl> vit_;
  std::shared_ptr<Hooks> hooks_;
  at::Generator generator_;
};

// The settings of CODA-Prompt's configs (GT-RIPL/CODA-Prompt configs/*_prompt.yaml), which train
// its L2P++, DualPrompt and CODA-P alike: Adam lr 1e-3 with its cosine, batch 128; 50 epochs on
// ImageNet-R, 20 on CIFAR-100, 5 on DomainNet.
nlohmann::json coda_paper_settings();

// A trainable tensor of `sizes` drawn from U[low, high) (the prompt and key inits of the official
// codes: flax's uniform() is U[0, 0.01), torch's nn.init.uniform_ U[0, 1)).
torch::Tensor uniform_prompt(at::IntArrayRef sizes, double low, double high, at::Generator& gen,
                             const torch::TensorOptions& options);

// Prefix-tuning as CODA-Prompt's code splits a prompt: the first half of each prompt's tokens are
// keys, the second half values. `prompts` {B, n, L, D} (n prompts of L tokens per sample) or
// {B, L, D}; keys and values {B, n L / 2, D}.
KeyValuePrefix split_prefix(const torch::Tensor& prompts);

// L2P's batch-wise selection (official code, batchwise_prompt): the `n` ids chosen most often in
// `ids` {B, n} (ties: the lower id), the same for every sample: {B, n}.
torch::Tensor majority_vote(const torch::Tensor& ids, int64_t pool);

// The rules of the prompt options that join keys, for their check(prefix): an Error naming the key.
// A prefix prompt's length splits into key and value halves: it must be even.
void check_prefix_length(const std::string& prefix, const std::string& key, int64_t length);
// Prompts chosen from a pool: no more than the pool holds.
void check_top_k(const std::string& prefix, int64_t top_k, int64_t pool);

}  // namespace clbench
