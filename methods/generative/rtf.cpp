// Replay-through-Feedback (van de Ven & Tolias 2018) as van de Ven's code runs it:
// methods/generative/rtf.h.
#include "methods/generative/rtf.h"

#include <torch/torch.h>

namespace clbench::generative {

FeedbackImpl::FeedbackImpl(int64_t features, const VaeConfig& config) {
  latent = register_module("latent", Latent(features, config.z_dim));
  decoder = register_module("decoder", Decoder(config));
}

Rtf::Rtf(RtfOptions o)
    : GenerativeReplay({o.distill(), o.temperature(), o.task_il_targets()}), opt_(std::move(o)) {}

void Rtf::build_generator() {
  const auto shape = ctx_.stream->input_shape();
  const int64_t features = ctx_.model->backbone->feature_dim();
  config_.image_shape = shape;
  config_.architecture = architecture(opt_.decoder(), shape);
  config_.z_dim = opt_.z_dim();
  config_.hidden = opt_.hidden() > 0 ? opt_.hidden() : features;
  config_.fc_layers = opt_.fc_layers();
  recon_ = reconstruction(opt_.recon_loss(), config_.architecture);
  feedback_ = make_feedback();
  auto generator = make_generator(run().seed, 0xF3B);  // the same weights on every rank
  init_default(*feedback_, generator);
}

Feedback Rtf::make_feedback() const {
  Feedback f(ctx_.model->backbone->feature_dim(), config_);
  f->to(run().device);
  return f;
}

Rtf::Terms Rtf::terms(const torch::Tensor& input, const torch::Tensor& pixels,
                      const torch::Tensor& eps) {
  // CondVAE.forward(full=True): hE = fcE(convE(x)), y_hat = classifier(hE), z from toZ(hE).
  const auto features = ctx_.model->backbone->forward(input);
  Terms t;
  t.logits = ctx_.model->head->forward(features);
  const auto [mu, logvar] = feedback_->latent->forward(features);
  const auto recon = feedback_->decoder->forward(reparameterize(mu, logvar, eps));
  t.recon = reconstruction_loss(pixels, recon, recon_);
  t.kl = kl_per_pixel(mu, logvar, config_.pixels());
  return t;
}

torch::Tensor Rtf::loss(const Batch& batch) {
  feedback_->train(ctx_.model->is_training());
  const int64_t z = opt_.z_dim();
  const auto cur = terms(batch.x, space_.to_pixels(batch.x), noise(batch, kCurrentNoise, z));
  const auto current = cur.recon + cur.kl + current_loss(cur.logits, batch);
  if (!replaying()) return batch.mean(current);
  const auto r = replay(batch);
  const auto rep = terms(r.input, r.pixels, noise(batch, kReplayNoise, z));
  return weighted(current, rep.recon + rep.kl + replay_loss(rep.logits, r.old_logits), batch);
}

void Rtf::end_task(const Task& task) {
  // previous_model = copy.deepcopy(model).eval(): the classifier and its decoder.
  keep_old_model(task);
  if (!old_feedback_) {
    old_feedback_ = make_feedback();
    freeze(*old_feedback_);
  }
  copy_weights(*old_feedback_, *feedback_);
}

torch::Tensor Rtf::generate(const torch::Tensor& z) {
  return old_feedback_->decoder->forward(z);
}

std::vector<torch::Tensor> Rtf::trainable_parameters() {
  auto params = ctx_.model->parameters();
  for (const auto& p : feedback_->parameters()) params.push_back(p);
  return params;
}

int64_t Rtf::stored_parameters() const {
  return count_parameters(ctx_.model->parameters()) + stored_numbers(*feedback_);
}

void Rtf::state(StateVisitor& v) {
  base_state(v);
  v("feedback", *feedback_);
  if (old_classes_ == 0) return;
  if (!old_feedback_) {
    old_feedback_ = make_feedback();
    freeze(*old_feedback_);
  }
  v("old_feedback", *old_feedback_);
}

namespace {

const bool registered_rtf = register_method(
    method_entry<Rtf, RtfOptions>(
        "rtf",
        "Replay-through-Feedback (van de Ven & Tolias 2018): the classifier is the VAE's encoder, "
        "its decoder replays (van de Ven's code)",
        // main.py: Adam (betas 0.9, 0.999), splitMNIST's lr 1e-3, no weight decay; the VAE part
        // does not train under the benchmarks' SGD with momentum (its decoder collapses to one
        // image).
        {{"optimizer", "adam"}, {"lr", 1e-3}, {"weight_decay", 0.0}},
        [] {
          MethodRequirements r;
          r.backbone_kinds = {"mlp", "cnn", "resnet"};
          return r;
        }())
        .runs_on_shared_classes());

}  // namespace
}  // namespace clbench::generative
