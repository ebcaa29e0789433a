#include "methods/adapters/adapter_method.h"

#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "harness/foundation/error.h"

namespace clbench {

const nlohmann::json& sd_lora_optimizer() {
  static const nlohmann::json defaults = {
      {"optimizer", "sgd"}, {"lr", 0.01}, {"momentum", 0.9}, {"weight_decay", 0.0}};
  return defaults;
}

void AdapterMethod::on_attach() {
  vit_ = frozen_vit(ctx_.model, "adapts");
  generator_ = make_generator(run().seed, 1);
  // SD-LoRA's head (PILOT SimpleLinear): kaiming_uniform_(nonlinearity='linear'), bias 0.
  {
    torch::NoGradGuard no_grad;
    auto& head = ctx_.model->head;
    const double bound = std::sqrt(3.0 / static_cast<double>(head->weight.size(1)));
    auto w = torch::empty(head->weight.sizes()).uniform_(-bound, bound, generator_);
    head->weight.copy_(w);
    head->bias.zero_();
  }
  hooks_ = install_lora_hooks(*vit_, adapted_parts());
  init_adapters();
}

torch::Tensor AdapterMethod::loss(const Batch& batch) {
  return current_task_loss(ctx_.model->forward(batch.x), batch);
}

std::vector<torch::Tensor> AdapterMethod::trainable_parameters() {
  auto params = adapter_parameters();
  params.push_back(ctx_.model->head->weight);
  params.push_back(ctx_.model->head->bias);
  return params;
}

int64_t AdapterMethod::stored_parameters() const {
  int64_t n = count_parameters(ctx_.model->head->parameters());
  for (const auto& t : extra_parameters()) n += t.numel();
  for (const auto& layer : hooks_->layers) {
    for (auto* linear : layer->linears()) {
      for (const auto& u : linear->updates) {
        if (!u.dropped) n += u.numel();
      }
    }
  }
  return n;
}

void AdapterMethod::for_each_linear(
    const std::function<void(size_t layer, QkvPart, LoraLinear&)>& f) {
  for (size_t i = 0; i < hooks_->layers.size(); ++i) {
    for (auto p : hooks_->layers[i]->parts()) f(i, p, hooks_->layers[i]->part(p));
  }
}

LowRankUpdate AdapterMethod::to_device(LowRankUpdate u) const {
  for (auto& f : u.factors) {
    const bool grad = f.requires_grad();
    f = f.detach().to(run().device).requires_grad_(grad);
  }
  for (auto* t : {&u.assimilated, &u.inv_norm}) {
    if (t->defined()) *t = t->to(run().device);
  }
  return u;
}

void AdapterMethod::visit_updates(StateVisitor& v) {
  v("lora.generator", generator_);
  for (size_t i = 0; i < hooks_->layers.size(); ++i) {
    for (auto p : hooks_->layers[i]->parts()) {
      v.each("lora." + std::to_string(i) + "." + qkv_part_name(p),
             hooks_->layers[i]->part(p).updates, [](StateVisitor& v, LowRankUpdate& u) {
               v("factors", u.factors);
               v("assimilated", u.assimilated);
               v("inv_norm", u.inv_norm);
               v("task", u.task);
               v("dropped", u.dropped);
             });
    }
  }
}

}  // namespace clbench
