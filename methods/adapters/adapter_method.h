#pragma once
// What the parameter-efficient ViT methods (seq-lora, sd-lora, fm-lora, inflora) share, as the
// official SD-LoRA code (and InfLoRA's) does it: a frozen ViT backbone with low-rank adapters on
// its fused qkv, one linear head over all classes whose rows grow with the tasks, the loss
// CE(logits[:, known:seen], y - known) on the current task's classes only (old rows get no
// gradient: Method::current_task_loss), and prediction by argmax over every class seen so far.
#include <functional>
#include <memory>
#include <vector>

#include <ATen/core/Generator.h>

#include "methods/adapters/lora.h"
#include "methods/frozen_vit.h"
#include "methods/method.h"

namespace clbench {

class AdapterMethod : public Method {
 public:
  torch::Tensor loss(const Batch& batch) override;
  std::vector<torch::Tensor> trainable_parameters() override;  // adapter_parameters() + head
  int64_t stored_parameters() const override;  // kept updates + extra_parameters() + head

  // The blocks' adapters, in block order (for tests and tools).
  const std::vector<std::shared_ptr<QkvLora>>& layers() const { return hooks_->layers; }

 protected:
  // Freezes the ViT, initialises the head and installs the LoRA layers, then init_adapters().
  void on_attach() final;
  // The method's own adapters (shared bases, a first update...), once the layers exist.
  virtual void init_adapters() {}
  virtual std::vector<QkvPart> adapted_parts() const = 0;
  virtual std::vector<torch::Tensor> adapter_parameters() = 0;  // trained during this task
  // Stored tensors other than the updates' factors (magnitudes, prompts, bases...).
  virtual std::vector<torch::Tensor> extra_parameters() const { return {}; }

  VitImpl& vit() { return *vit_; }
  LoraHooks& hooks() { return *hooks_; }  // the ViT's hooks: the LoRA layers, input tokens
  at::Generator& generator() { return generator_; }  // seeded by the run: equal on every rank
  void for_each_linear(const std::function<void(size_t layer, QkvPart, LoraLinear&)>& f);
  // Moves a freshly made update (CPU) to the run's device, keeping its factors' requires_grad.
  LowRankUpdate to_device(LowRankUpdate u) const;

  // The state of every linear's updates and of the generator, for the methods' state(). Tensors
  // an update shares with others (magnitudes, bases) are the method's to re-link in after_load.
  void visit_updates(StateVisitor& v);

 private:
  std::shared_ptr<VitImpl> vit_;
  std::shared_ptr<LoraHooks> hooks_;
  at::Generator generator_;
};

// The optimiser SD-LoRA's official code actually runs (SGD, momentum 0.9, no weight decay, constant
// lr 0.01, whatever its config says): the default of the SGD-trained adapter methods.
const nlohmann::json& sd_lora_optimizer();

}  // namespace clbench
