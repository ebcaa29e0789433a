#pragma once
// Replay-through-Feedback (van de Ven & Tolias 2018, "Generative replay with feedback connections
// as a general strategy for continual learning", arXiv 1809.10635) as van de Ven's code runs it
// (GMvandeVen/continual-learning: main.py --replay=generative --feedback, models/cond_vae.py
// CondVAE with the standard prior and classifier=True): the classifier is the encoder of a VAE.
//
// The harness's Classifier is the encoder (its backbone's features = fcE's output, its head =
// CondVAE.classifier); the method adds the latent layer on those features (toZ) and the decoder
// (fromZ, fcD, and deconvolutions for images of 32x32 and larger; methods/generative/vae.h).
// Per sample: reconstruction (averaged over pixels) + KL / pixels + cross-entropy, all weighted 1
// (lamda_rcl = lamda_vl = lamda_pl = 1). From task 2 on, the previous model's decoder generates a
// batch of the current batch's size, the previous model labels it (hard argmax, or soft at T with
// rtf.distill), and the replayed samples get the same three terms, weighted (1/t) current +
// (1 - 1/t) replay (CondVAE.train_a_batch).
//
// Backbones: mlp (the paper's and the code's fc encoder), cnn and resnet (the code's conv encoders,
// ConvLayers standard or resNet); not vit, for which van de Ven's code has no encoder.
#include <cstdint>
#include <string>

#include <torch/arg.h>

#include "methods/generative/generative_replay.h"

namespace clbench::generative {

struct RtfOptions {
  TORCH_ARG(std::string, decoder) = "auto";
  TORCH_ARG(int64_t, z_dim) = 100;
  TORCH_ARG(int64_t, hidden) = 0;
  TORCH_ARG(int64_t, fc_layers) = 3;
  TORCH_ARG(std::string, recon_loss) = "auto";
  TORCH_ARG(bool, distill) = false;
  TORCH_ARG(double, temperature) = 2.0;
  TORCH_ARG(std::string, task_il_targets) = "every-task";

 public:
  template <class V>
  void visit(V& v) {
    v("decoder", decoder_,
      "decoder: mlp (fc layers to pixels), conv (fc layers, then van de Ven's deconvolutions), "
      "auto: conv for images of at least 32x32, else mlp",
      {"auto", "mlp", "conv"});
    v("z_dim", z_dim_, "latent size (van de Ven's z_dim: 100)", {1, 65536});
    v("hidden", hidden_,
      "units of the decoder's fc layers (0: the backbone's feature size, as van de Ven's decoder "
      "mirrors fc_units: 400 for the mlp)",
      {0, 1e6});
    v("fc_layers", fc_layers_,
      "fc layers of the decoder (van de Ven's fc_lay: 3, i.e. fromZ and 2 more layers)", {2, 64});
    v("recon_loss", recon_loss_,
      "reconstruction loss: bce, mse (0.5 (x - x')^2), auto: bce for the mlp decoder (MNIST), "
      "mse for the conv decoder (CIFAR), as van de Ven",
      {"auto", "bce", "mse"});
    // The 2018 paper's RtF appears to use soft targets; the code defaults to hard.
    visit_replay_targets(v, distill_, temperature_, task_il_targets_,
                         "the code's --feedback default");
  }
};

// What RtF adds to the classifier: toZ on the features and the decoder.
struct FeedbackImpl : torch::nn::Module {
  FeedbackImpl(int64_t features, const VaeConfig& config);
  Latent latent{nullptr};
  Decoder decoder{nullptr};
};
TORCH_MODULE(Feedback);

class Rtf : public GenerativeReplay {
 public:
  explicit Rtf(RtfOptions o);

  void build_generator() override;
  torch::Tensor loss(const Batch& batch) override;
  void end_task(const Task& task) override;
  std::vector<torch::Tensor> trainable_parameters() override;
  // The classifier with its latent layer and decoder (the next task's generator).
  int64_t stored_parameters() const override;
  void state(StateVisitor& v) override;

  // The three per-sample terms of a forward pass through the model as a VAE.
  struct Terms {
    torch::Tensor logits, recon, kl;  // logits {n, classes}; recon and KL / pixels {n}
  };
  // `input` (model input) with target `pixels`, reparameterised with `eps`.
  Terms terms(const torch::Tensor& input, const torch::Tensor& pixels, const torch::Tensor& eps);
  Feedback feedback() const { return feedback_; }
  Reconstruction reconstruction_kind() const { return recon_; }

 protected:
  torch::Tensor generate(const torch::Tensor& z) override;
  int64_t latent_dim() const override { return opt_.z_dim(); }

 private:
  Feedback make_feedback() const;

  RtfOptions opt_;
  VaeConfig config_;
  Reconstruction recon_ = Reconstruction::kBce;
  Feedback feedback_{nullptr};
  Feedback old_feedback_{nullptr};  // the previous model's, frozen
};

}  // namespace clbench::generative
