#include "methods/prompts/prompt_method.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "harness/foundation/error.h"

namespace clbench {

// The ViT's hooks: the prompts of the batch in flight, set by features() around the forward.
struct PromptMethod::Hooks : VitHooks {
  const Prompts* current = nullptr;
  torch::Tensor input_tokens(int64_t) override {
    return current ? current->tokens : torch::Tensor();
  }
  KeyValuePrefix prefix(size_t block, int64_t) override {
    if (!current || block >= current->prefixes.size()) return {};
    return current->prefixes[block];
  }
};

void PromptMethod::on_attach() {
  vit_ = frozen_vit(ctx_.model, "prompts");
  generator_ = make_generator(run().seed, 2);
  hooks_ = std::make_shared<Hooks>();
  vit_->hooks = hooks_;
  init_prompts();
}

torch::Tensor PromptMethod::query(const Batch& batch) {
  return vit_->query(batch.x);
}

torch::Tensor PromptMethod::features(const Batch& batch, const Prompts& prompts) {
  struct InFlight {
    InFlight(Hooks& h, const Prompts& p) : hooks(h) { hooks.current = &p; }
    ~InFlight() { hooks.current = nullptr; }
    Hooks& hooks;
  } in_flight(*hooks_, prompts);
  if (readout() == Readout::kClassToken) return vit_->forward(batch.x);
  if (!prompts.tokens.defined()) throw Error("internal: a prompt-token readout without prompts");
  // The official L2P (head_type 'prompt'): the mean of the prompt tokens' final-norm outputs.
  return vit_->tokens(batch.x).narrow(1, 1, prompts.tokens.size(1)).mean(1);
}

torch::Tensor PromptMethod::loss(const Batch& batch) {
  const Prompts prompts = select(batch, true);
  const auto f = features(batch, prompts);
  auto loss = classifier_loss(ctx_.model->head->forward(f), batch);
  if (prompts.loss.defined()) loss = loss + prompts.loss;
  const auto on_features = feature_loss(f, batch);
  return on_features.defined() ? loss + on_features : loss;
}

torch::Tensor PromptMethod::logits(const Batch& batch) {
  const Prompts prompts = select(batch, false);
  return ctx_.model->head->forward(features(batch, prompts));
}

std::vector<torch::Tensor> PromptMethod::trainable_parameters() {
  auto params = prompt_parameters();
  params.push_back(ctx_.model->head->weight);
  params.push_back(ctx_.model->head->bias);
  return params;
}

int64_t PromptMethod::stored_parameters() const {
  return count_parameters(stored_prompts()) + count_parameters(ctx_.model->head->parameters());
}

nlohmann::json coda_paper_settings() {
  const auto with_epochs = [](int epochs) {
    return nlohmann::json{{"epochs", epochs},
                          {"batch_size", 128},
                          {"optimizer", "adam"},
                          {"lr", 0.001},
                          {"lr_schedule", "coda-cosine"}};
  };
  return {{"imagenet-r-5", with_epochs(50)},
          {"imagenet-r-10", with_epochs(50)},
          {"imagenet-r-20", with_epochs(50)},
          {"cifar100-10", with_epochs(20)},
          {"domainnet-cil-5", with_epochs(5)}};
}

torch::Tensor uniform_prompt(at::IntArrayRef sizes, double low, double high, at::Generator& gen,
                             const torch::TensorOptions& options) {
  return torch::empty(sizes).uniform_(low, high, gen).to(options).requires_grad_(true);
}

KeyValuePrefix split_prefix(const torch::Tensor& prompts) {
  const int64_t B = prompts.size(0), L = prompts.size(-2), D = prompts.size(-1), half = L / 2;
  if (L < 2 || L % 2 != 0) {
    throw Error("a prefix prompt splits into key and value halves: its length must be even, got " +
                std::to_string(L));
  }
  return {prompts.narrow(-2, 0, half).reshape({B, -1, D}),
          prompts.narrow(-2, half, half).reshape({B, -1, D})};
}

torch::Tensor majority_vote(const torch::Tensor& ids, int64_t pool) {
  const auto counts = torch::bincount(ids.flatten().cpu(), {}, pool);
  // Most votes first; among equal counts the lower id (a stable sort of the ids by count).
  const auto order = std::get<1>(counts.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  return order.narrow(0, 0, ids.size(1)).to(ids.device()).unsqueeze(0).expand_as(ids);
}

void check_prefix_length(const std::string& prefix, const std::string& key, int64_t length) {
  if (length % 2 != 0) {
    throw Error("bad value \"" + std::to_string(length) + "\" for key '" + prefix + "." + key +
                "': a prefix prompt splits into key and value halves, so it must be even");
  }
}

void check_top_k(const std::string& prefix, int64_t top_k, int64_t pool) {
  if (top_k > pool) {
    throw Error("bad value \"" + std::to_string(top_k) + "\" for key '" + prefix +
                ".top_k': it is above " + prefix + ".pool = " + std::to_string(pool));
  }
}

std::vector<int64_t> PromptMethod::blocks_of(const std::vector<int64_t>& blocks) const {
  std::vector<int64_t> out;
  for (int64_t b : blocks) {
    if (b < static_cast<int64_t>(depth())) out.push_back(b);
  }
  return out;
}

}  // namespace clbench
