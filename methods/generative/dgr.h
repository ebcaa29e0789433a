#pragma once
// Deep Generative Replay (Shin, Lee, Kim & Kim, NIPS 2017, Sec. 3) as G. van de Ven's code runs
// it (GMvandeVen/continual-learning: main.py --replay=generative, train/train_task_based.py,
// models/vae.py): a separate VAE generator next to the classifier (the "solver").
//
// - Classifier, every step of task t: the previous generator (frozen at the end of task t - 1)
//   generates a batch of the current batch's size, the previous classifier labels it (hard argmax,
//   or soft targets at T with dgr.distill), and the loss is (1/t) L_current + (1 - 1/t) L_replay
//   (methods/generative/generative_replay.h).
// - Generator, at the end of task t (services().fit, its own Adam): the VAE loss on the task's
//   data and, from task 2 on, on its own replay from the previous generator, with the same 1/t
//   weighting (models/vae.py train_a_batch). van de Ven trains it in the classifier's loop on the
//   same batches for g_iters = iters steps; here it trains after the classifier, for as many steps
//   as the classifier made this task (dgr.gen_steps), on the task's samples reshuffled at every
//   pass (his data loader) and its own freshly generated replay.
#include <cstdint>
#include <string>

#include <torch/arg.h>

#include "methods/generative/generative_replay.h"

namespace clbench::generative {

struct DgrOptions {
  TORCH_ARG(std::string, generator) = "auto";
  TORCH_ARG(int64_t, z_dim) = 100;
  TORCH_ARG(int64_t, hidden) = 0;
  TORCH_ARG(int64_t, fc_layers) = 3;
  TORCH_ARG(std::string, recon_loss) = "auto";
  TORCH_ARG(int64_t, gen_steps) = 0;
  TORCH_ARG(double, gen_lr) = 1e-3;
  TORCH_ARG(bool, distill) = false;
  TORCH_ARG(double, temperature) = 2.0;
  TORCH_ARG(std::string, task_il_targets) = "every-task";

 public:
  template <class V>
  void visit(V& v) {
    v("generator", generator_,
      "VAE generator: mlp (van de Ven's fc VAE), conv (his conv VAE), auto: conv for images of "
      "at least 32x32, else mlp",
      {"auto", "mlp", "conv"});
    v("z_dim", z_dim_, "latent size (van de Ven's g_z_dim = z_dim: 100)", {1, 65536});
    v("hidden", hidden_,
      "units of the generator's fc layers (0: van de Ven's fc_units, 400 for the mlp VAE as on "
      "splitMNIST, 2000 for the conv VAE as on CIFAR)",
      {0, 1e6});
    v("fc_layers", fc_layers_,
      "fc layers of the generator (van de Ven's g_fc_lay = fc_lay: 3, i.e. 2 hidden layers each "
      "way)",
      {2, 64});
    v("recon_loss", recon_loss_,
      "reconstruction loss: bce, mse (0.5 (x - x')^2), auto: bce for the mlp VAE (MNIST), mse "
      "for the conv VAE (CIFAR), as van de Ven",
      {"auto", "bce", "mse"});
    v("gen_steps", gen_steps_,
      "generator steps per task (0: as many as the classifier made in the task, van de Ven's "
      "g_iters = iters)",
      {0, 1e9});
    v("gen_lr", gen_lr_, "generator Adam learning rate (van de Ven's splitMNIST lr: 1e-3)",
      {1e-12, 10});
    visit_replay_targets(v, distill_, temperature_, task_il_targets_, "DGR");
  }
};

class Dgr : public GenerativeReplay {
 public:
  explicit Dgr(DgrOptions o);

  void build_generator() override;
  torch::Tensor loss(const Batch& batch) override;
  void end_task(const Task& task) override;
  // The classifier and the generator (which the next task needs to replay).
  int64_t stored_parameters() const override;
  void state(StateVisitor& v) override;

  // The generator's loss on a batch of the current task (the fit's loss): its VAE loss with 1/t
  // weighting against its own replay from the previous generator.
  torch::Tensor generator_loss(const Batch& batch);
  // The generator's training at the end of `task` (what end_task runs before it freezes copies).
  void train_generator(const Task& task);
  Vae generator() const { return generator_; }
  Vae old_generator() const { return old_generator_; }
  Reconstruction reconstruction_kind() const { return recon_; }

 protected:
  torch::Tensor generate(const torch::Tensor& z) override;
  int64_t latent_dim() const override { return opt_.z_dim(); }

 private:
  Vae make_generator_module() const;

  DgrOptions opt_;
  VaeConfig config_;
  Reconstruction recon_ = Reconstruction::kBce;
  Vae generator_{nullptr};
  Vae old_generator_{nullptr};  // frozen at the end of the previous task
};

}  // namespace clbench::generative
