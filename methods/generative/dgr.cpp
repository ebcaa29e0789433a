// Deep Generative Replay (Shin et al. 2017) with van de Ven's VAE generator: methods/generative/
// dgr.h.
#include "methods/generative/dgr.h"

#include <torch/torch.h>

#include "harness/foundation/random.h"

namespace clbench::generative {

Dgr::Dgr(DgrOptions o)
    : GenerativeReplay({o.distill(), o.temperature(), o.task_il_targets()}), opt_(std::move(o)) {}

void Dgr::build_generator() {
  const auto shape = ctx_.stream->input_shape();
  config_.image_shape = shape;
  config_.architecture = architecture(opt_.generator(), shape);
  config_.z_dim = opt_.z_dim();
  config_.hidden = opt_.hidden() > 0 ? opt_.hidden() : default_hidden(config_.architecture);
  config_.fc_layers = opt_.fc_layers();
  recon_ = reconstruction(opt_.recon_loss(), config_.architecture);
  generator_ = make_generator_module();
  auto generator = make_generator(run().seed, 0xD6E);  // the same weights on every rank
  init_default(*generator_, generator);
}

Vae Dgr::make_generator_module() const {
  Vae v(config_);
  v->to(run().device);
  v->eval();
  return v;
}

torch::Tensor Dgr::loss(const Batch& batch) {
  if (!replaying()) return batch.mean(current_loss(ctx_.model->forward(batch.x), batch));
  // train_a_batch with x_ from the previous generator and y_ / scores_ from the previous model.
  const auto r = replay(batch);
  const auto logits = model_logits({batch.x, r.input});
  return weighted(current_loss(logits[0], batch), replay_loss(logits[1], r.old_logits), batch);
}

torch::Tensor Dgr::generator_loss(const Batch& batch) {
  generator_->train();
  const int64_t z = opt_.z_dim();
  const auto pixels = space_.to_pixels(batch.x);
  const auto loss = [this](const std::vector<torch::Tensor>& pixels_and_noise) {
    const auto& x = pixels_and_noise.at(0);
    return vae_loss(x, generator_->forward(x, pixels_and_noise.at(1)), recon_);
  };
  if (!replaying()) return batch.mean(loss({pixels, noise(batch, kCurrentNoise, z)}));
  torch::Tensor replayed;
  {
    torch::NoGradGuard no_grad;
    replayed = generate(noise(batch, kReplayLatent, z));
  }
  const auto losses = rows_of_parts(
      *generator_,
      {{pixels, noise(batch, kCurrentNoise, z)}, {replayed, noise(batch, kReplayNoise, z)}}, loss);
  return weighted(losses[0], losses[1], batch);
}

void Dgr::train_generator(const Task& task) {
  const int64_t steps = opt_.gen_steps() > 0 ? opt_.gen_steps() : training_steps(task);
  const int64_t B = run().batch_size;
  const auto pool = train_indices(task);
  // The fit takes consecutive batches of this list: reshuffled passes over the task's samples.
  std::vector<int64_t> samples;
  for (uint64_t pass = 0; !pool.empty() && static_cast<int64_t>(samples.size()) < steps * B;
       ++pass) {
    const auto order =
        shuffled(pool, mix_seed({uint64_t(run().seed), uint64_t(task.index), pass, 0xD6F}));
    samples.insert(samples.end(), order.begin(), order.end());
  }
  FitSpec spec;
  spec.name = "dgr-generator";
  spec.samples = std::move(samples);
  spec.steps = pool.empty() ? 0 : steps;
  spec.batch_size = B;
  // The training view of the samples, as the classifier's batches; it also gives every step its
  // own seed for the generator's noise.
  spec.augment = true;
  // The parameters, and the batch-norm statistics of the conv VAE so that a fit resumed from its
  // checkpoint has them too (no gradient: the optimiser skips them).
  spec.params = {ParamGroup{fit_tensors(*generator_), std::nullopt, std::nullopt}};
  // Adam with betas (0.9, 0.999) as main.py; a fresh one every task (his default "adam" keeps
  // the generator's across contexts, "adam_reset" renews it, as the harness does for the model).
  spec.optimizer = {"adam", opt_.gen_lr(), 0.0, 0.0};
  spec.loss = [this](const Batch& b) { return generator_loss(b); };
  services().fit(spec);
  generator_->eval();
}

void Dgr::end_task(const Task& task) {
  train_generator(task);
  keep_old_model(task);
  // previous_generator = copy.deepcopy(generator).eval()
  if (!old_generator_) {
    old_generator_ = make_generator_module();
    freeze(*old_generator_);
  }
  copy_weights(*old_generator_, *generator_);
}

torch::Tensor Dgr::generate(const torch::Tensor& z) {
  return old_generator_->decoder->forward(z);
}

int64_t Dgr::stored_parameters() const {
  return count_parameters(ctx_.model->parameters()) + stored_numbers(*generator_);
}

void Dgr::state(StateVisitor& v) {
  base_state(v);
  v("generator", *generator_);
  if (old_classes_ == 0) return;
  if (!old_generator_) {
    old_generator_ = make_generator_module();
    freeze(*old_generator_);
  }
  v("old_generator", *old_generator_);
}

namespace {

const bool registered_dgr = register_method(
    method_entry<Dgr, DgrOptions>(
        "dgr",
        "Deep Generative Replay (Shin et al. 2017): a VAE generator replays, the previous model "
        "labels, loss (1/t) current + (1-1/t) replay (van de Ven's code)")
        .runs_on_shared_classes());

}  // namespace
}  // namespace clbench::generative
