// SEMA (Wang, Lu, Yao, Gong, CVPR 2025, arXiv 2403.18886) as its official code runs it
// (huiyiwang01/SEMA-CL: backbone/sema_block.py, backbone/sema_components.py,
// backbone/vit_sema.py, models/sema.py, utils/inc_net.py, exps/sema_*.json):
// - every block: an adapter (Down 16, ReLU, Up; LoRA init) next to the frozen MLP, on the stream
//   after attention x_a (vit_sema.py Block.forward, ffn_option 'parallel');
// - in the last 3 blocks (9-11 of ViT-B's 12; on a shallower ViT its last 3, or all of them) a
//   mixture: each adapter has a router row (a Linear(D, 1)) and the branch is
//   sum_i softmax_i(router(mean over tokens of x_a)) Adapter_i(x_a) (SEMAModules.forward), and a
//   representation descriptor, an autoencoder D -> 128 -> D on the token mean, whose per-sample
//   MSE reconstruction loss l has a mean and standard deviation kept from its training data;
// - task 1: adapters, router rows and head trained on CE over the task's classes (old classes'
//   logits masked), then the descriptors fit on their reconstruction loss (rd_epochs, SGD);
//   after every task every adapter, row and descriptor is frozen;
// - a later task: a detection pass over its data computes each descriptor's z-score
//   |l - mean| / std; a block whose adapters all have a mean z-score above exp_threshold gets a
//   new adapter, router row and descriptor (at most one per block and task: added_for_task);
//   the task then trains the new adapters, rows and the head (only the head if nothing was
//   added), and fits the new descriptors.
// Where clbench differs, and why:
// - The detection pass decides every block from one pass of the model as the task found it: the
//   z-scores averaged over all of the task's (un-augmented) training samples. The official
//   _detect_outlier walks batches of 128 in order, adds an adapter at the first block whose batch
//   mean exceeds the threshold, retrains at once (functional epochs, then the descriptors), and
//   goes on with the next batches (and again over all of them while any was added), so a later
//   block is judged on the stream that an earlier block's new adapter already changed, and the
//   task may be trained several times. Here the task trains once, after every addition.
// - A descriptor's mean and standard deviation are those of its reconstruction loss on the task's
//   un-augmented training samples after its fit (sum_over_samples, the same on any number of
//   ranks). The official Records keep the last 500 losses seen in training mode (augmented, while
//   the descriptor itself still learns) in a rolling buffer.
// - The official Adapter is built with scale 0.1 and dropout 0.1 but its forward applies neither:
//   scale defaults to 1 here and there is no dropout.
// - Routers exist only in the blocks that may expand (the official code also builds an unused
//   Linear(D, 1) in every other block).
#include "methods/experts/sema.h"

#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "harness/foundation/error.h"

namespace clbench {
namespace {

torch::Tensor sema_uniform(std::vector<int64_t> shape, double bound, at::Generator& gen) {
  return torch::empty(shape).uniform_(-bound, bound, gen);
}

void sema_set_trainable(const std::vector<torch::Tensor>& tensors, bool trainable) {
  for (auto t : tensors) {
    if (!t.defined()) continue;
    t.requires_grad_(trainable);
    if (!trainable) t.mutable_grad() = torch::Tensor();
  }
}

std::vector<torch::Tensor> sema_tensors(const SemaAdapter& a) {
  auto out = a.functional();
  for (const auto& group : {std::vector<torch::Tensor>{a.row_w, a.row_b}, a.descriptor()}) {
    for (const auto& t : group) {
      if (t.defined()) out.push_back(t);
    }
  }
  return out;
}

}  // namespace

void Sema::on_attach() {
  vit_ = frozen_vit(ctx_.model, "adapts");
  generator_ = make_generator(run().seed, 30);
  {  // models/sema.py: fc = nn.Linear(768, classes), kaiming_uniform_(a = sqrt 5), bias 0.
    torch::NoGradGuard no_grad;
    auto& head = ctx_.model->head;
    const double bound = 1.0 / std::sqrt(static_cast<double>(head->weight.size(1)));
    head->weight.copy_(sema_uniform(head->weight.sizes().vec(), bound, generator_));
    head->bias.zero_();
  }
  const auto depth = static_cast<int64_t>(vit_->depth());
  const int64_t first = std::max<int64_t>(0, depth - opt_.expansion_blocks());
  blocks_.resize(static_cast<size_t>(depth));
  for (int64_t b = 0; b < depth; ++b) {  // SEMAModules.__init__: one adapter to begin with
    auto& block = blocks_[static_cast<size_t>(b)];
    block.expands = b >= first;
    block.adapters.push_back(make_adapter(block.expands));
  }
  hooks_ = std::make_shared<MlpBranchHooks>();
  vit_->hooks = hooks_;
}

SemaAdapter Sema::make_adapter(bool descriptor) {
  const int64_t D = vit_->feature_dim(), r = opt_.bottleneck(), k = opt_.rd_dim();
  const double in_d = 1.0 / std::sqrt(static_cast<double>(D));
  SemaAdapter a;
  // sema_components.py Adapter, init 'lora': Down kaiming_uniform_(a = sqrt 5), the rest 0.
  a.down_w = sema_uniform({r, D}, in_d, generator_);
  a.down_b = torch::zeros({r});
  a.up_w = torch::zeros({D, r});
  a.up_b = torch::zeros({D});
  if (descriptor) {
    // sema_block.py: a router nn.Linear(D, 1) per adapter (torch's default init), and the AE
    // (sema_components.py: both weights kaiming_uniform_(a = sqrt 5), biases 0).
    a.row_w = sema_uniform({1, D}, in_d, generator_);
    a.row_b = sema_uniform({1}, in_d, generator_);
    a.enc_w = sema_uniform({k, D}, in_d, generator_);
    a.enc_b = torch::zeros({k});
    a.dec_w = sema_uniform({D, k}, 1.0 / std::sqrt(static_cast<double>(k)), generator_);
    a.dec_b = torch::zeros({D});
  }
  a.task = task_ ? task_->index : 0;
  for (auto* t : {&a.down_w, &a.down_b, &a.up_w, &a.up_b, &a.row_w, &a.row_b, &a.enc_w, &a.enc_b,
                  &a.dec_w, &a.dec_b}) {
    if (t->defined()) *t = t->to(run().device).requires_grad_(true);
  }
  return a;
}

torch::Tensor Sema::reconstruction_loss(const SemaAdapter& a, const torch::Tensor& x) {
  // AE.compute_reconstruction_loss: x.mean(dim=1), MSE per sample.
  const auto m = x.mean(1);
  const auto rec = torch::linear(torch::linear(m, a.enc_w, a.enc_b), a.dec_w, a.dec_b);
  return (rec - m).pow(2).mean(1);
}

torch::Tensor Sema::mixture(size_t block, const torch::Tensor& x) {
  const auto& b = blocks_[block];
  const auto adapter = [&](const SemaAdapter& a) {
    return torch::linear(torch::relu(torch::linear(x, a.down_w, a.down_b)), a.up_w, a.up_b) *
           opt_.scale();
  };
  if (!b.expands) return adapter(b.adapters.back());  // SEMAModules.forward: adapters[-1]
  const auto m = x.mean(1);
  std::vector<torch::Tensor> logits;
  for (const auto& a : b.adapters) logits.push_back(torch::linear(m, a.row_w, a.row_b));
  const auto mask = torch::softmax(torch::cat(logits, 1), 1);
  torch::Tensor out;
  for (size_t i = 0; i < b.adapters.size(); ++i) {
    const auto y =
        mask.select(1, static_cast<int64_t>(i)).reshape({-1, 1, 1}) * adapter(b.adapters[i]);
    out = out.defined() ? out + y : y;
  }
  return out;
}

torch::Tensor Sema::forward(const torch::Tensor& images,
                            std::vector<std::pair<size_t, torch::Tensor>>* record) {
  BranchScope scope(*hooks_, [this, record](size_t block, const torch::Tensor& x) {
    if (record && blocks_[block].expands) record->emplace_back(block, x);
    return mixture(block, x);
  });
  return ctx_.model->forward(images);
}

torch::Tensor Sema::loss(const Batch& batch) {
  // models/sema.py _init_train, phase 'func': old classes' logits at -inf, CE.
  return current_task_loss(forward(batch.x), batch);
}

torch::Tensor Sema::logits(const Batch& batch) {
  return forward(batch.x);
}

std::vector<torch::Tensor> Sema::mean_z_scores(const std::vector<int64_t>& samples) {
  std::vector<size_t> expanding;
  for (size_t b = 0; b < blocks_.size(); ++b) {
    if (blocks_[b].expands) expanding.push_back(b);
  }
  const auto sums = services().sum_over_samples(samples, [&](const Batch& batch) {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> out;
    for (size_t b : expanding) {
      out.push_back(torch::zeros({static_cast<int64_t>(blocks_[b].adapters.size())},
                                 batch.x.options().dtype(torch::kDouble)));
    }
    if (batch.indices.empty()) return out;
    std::vector<std::pair<size_t, torch::Tensor>> record;
    forward(batch.x, &record);
    for (size_t k = 0; k < expanding.size(); ++k) {
      const auto& x = record[k].second;
      const auto& adapters = blocks_[expanding[k]].adapters;
      for (size_t i = 0; i < adapters.size(); ++i) {
        const auto& a = adapters[i];
        // AdapterModule.get_z_score_deviation: |l - mean| / std (0 without statistics).
        if (a.rd_std <= 0.0) continue;
        const auto l = reconstruction_loss(a, x.to(torch::kFloat)).to(torch::kDouble);
        out[k][static_cast<int64_t>(i)] = ((l - a.rd_mean).abs() / a.rd_std).sum();
      }
    }
    return out;
  });
  std::vector<torch::Tensor> means;
  for (const auto& s : sums)
    means.push_back(s.cpu() / static_cast<double>(std::max<size_t>(1, samples.size())));
  return means;
}

void Sema::on_begin_task(const Task& task) {
  if (task.index == 0) return;
  // models/sema.py _detect_outlier / SEMAModules.forward: expand where the smallest of the
  // adapters' mean z-scores exceeds exp_threshold.
  const auto z = mean_z_scores(task.train);
  size_t k = 0;
  for (auto& block : blocks_) {
    if (!block.expands) continue;
    if (z[k++].min().item<double>() > opt_.exp_threshold())
      block.adapters.push_back(make_adapter(true));
  }
}

void Sema::fit_descriptors(const Task& task) {
  std::vector<torch::Tensor> params;
  for (const auto& block : blocks_) {
    for (const auto& a : block.adapters) {
      if (!a.trainable || !a.enc_w.defined()) continue;
      for (const auto& t : a.descriptor()) params.push_back(t);
    }
  }
  if (!params.empty() && opt_.rd_epochs() > 0) {
    // models/sema.py _train_new, phase 'rd': rd_epoch epochs of the training loader, SGD
    // momentum 0.9, CosineAnnealingLR(T_max = rd_epoch) stepped per epoch; the loss is the sum
    // over blocks of the newly added descriptor's mean reconstruction loss.
    const auto n = static_cast<int64_t>(task.train.size());
    const int64_t batch = run().batch_size, per_epoch = (n + batch - 1) / batch;
    const int64_t epochs = opt_.rd_epochs();
    FitSpec fit;
    fit.name = "sema-descriptors";
    for (int64_t e = 0; e < epochs; ++e) {
      const auto order = torch::randperm(n, generator_, torch::kLong);
      const int64_t* ids = order.data_ptr<int64_t>();
      for (int64_t i = 0; i < per_epoch * batch; ++i)
        fit.samples.push_back(task.train[static_cast<size_t>(ids[i % n])]);
    }
    fit.steps = epochs * per_epoch;
    fit.batch_size = batch;
    fit.augment = true;
    fit.params = {ParamGroup{params, std::nullopt, std::nullopt}};
    fit.optimizer = {"sgd", opt_.rd_lr(), 0.9, opt_.rd_weight_decay()};
    fit.lr_factor = [per_epoch, epochs](int64_t step) {
      return (1.0 + std::cos(M_PI * static_cast<double>(step / per_epoch) /
                             static_cast<double>(epochs))) /
             2.0;
    };
    fit.loss = [this](const Batch& b) {
      std::vector<std::pair<size_t, torch::Tensor>> record;
      {
        torch::NoGradGuard no_grad;  // the stream is fixed: only the descriptors learn
        forward(b.x, &record);
      }
      torch::Tensor total;
      for (const auto& [block, x] : record) {
        const auto& a = blocks_[block].adapters.back();
        if (!a.trainable) continue;
        const auto l = reconstruction_loss(a, x);
        total = total.defined() ? total + l : l;
      }
      return b.mean(total);
    };
    services().fit(fit);
  }
}

void Sema::set_descriptor_statistics(const Task& task) {
  std::vector<SemaAdapter*> fresh;
  for (auto& block : blocks_) {
    auto& a = block.adapters.back();
    if (a.trainable && a.enc_w.defined()) fresh.push_back(&a);
  }
  if (fresh.empty()) return;
  const auto sums = services().sum_over_samples(task.train, [&](const Batch& batch) {
    torch::NoGradGuard no_grad;
    auto out = torch::zeros({static_cast<int64_t>(fresh.size()), 2},
                            batch.x.options().dtype(torch::kDouble));
    if (batch.indices.empty()) return std::vector<torch::Tensor>{out};
    std::vector<std::pair<size_t, torch::Tensor>> record;
    forward(batch.x, &record);
    int64_t k = 0;
    for (const auto& [block, x] : record) {
      const auto& a = blocks_[block].adapters.back();
      if (!(a.trainable && a.enc_w.defined())) continue;
      const auto l = reconstruction_loss(a, x.to(torch::kFloat)).to(torch::kDouble);
      out[k][0] = l.sum();
      out[k][1] = l.pow(2).sum();
      ++k;
    }
    return std::vector<torch::Tensor>{out};
  });
  // Records: torch.mean and torch.var (unbiased) of the kept losses.
  const auto s = sums[0].cpu();
  const auto n = static_cast<double>(task.train.size());
  for (size_t k = 0; k < fresh.size(); ++k) {
    const double sum = s[static_cast<int64_t>(k)][0].item<double>();
    const double squares = s[static_cast<int64_t>(k)][1].item<double>();
    const double mean = sum / n;
    const double var = n > 1 ? (squares - n * mean * mean) / (n - 1) : 0.0;
    fresh[k]->rd_mean = mean;
    fresh[k]->rd_std = std::sqrt(std::max(0.0, var));
  }
}

void Sema::end_task(const Task& task) {
  fit_descriptors(task);
  set_descriptor_statistics(task);
  // SEMAModules.end_of_task_training: freeze_functional (fix_router), freeze_rd.
  for (auto& block : blocks_) {
    for (auto& a : block.adapters) {
      a.trainable = false;
      sema_set_trainable(sema_tensors(a), false);
    }
  }
}

std::vector<torch::Tensor> Sema::trainable_parameters() {
  // update_optimizer_and_scheduler: 'functional', 'router' or 'fc' parameters that require grad.
  std::vector<torch::Tensor> params;
  for (const auto& block : blocks_) {
    for (const auto& a : block.adapters) {
      if (!a.trainable) continue;
      for (const auto& t : a.functional()) params.push_back(t);
      if (a.row_w.defined()) params.insert(params.end(), {a.row_w, a.row_b});
    }
  }
  params.push_back(ctx_.model->head->weight);
  params.push_back(ctx_.model->head->bias);
  return params;
}

int64_t Sema::stored_parameters() const {
  int64_t n = count_parameters(ctx_.model->head->parameters());
  for (const auto& block : blocks_) {
    for (const auto& a : block.adapters) {
      n += count_parameters(sema_tensors(a));
      if (a.enc_w.defined()) n += 2;  // the descriptor's loss mean and standard deviation
    }
  }
  return n;
}

void Sema::state(StateVisitor& v) {
  v("sema.generator", generator_);
  v.each("sema.blocks", blocks_, [](StateVisitor& v, SemaBlock& b) {
    v("expands", b.expands);
    v.each("adapters", b.adapters, [](StateVisitor& v, SemaAdapter& a) {
      v("down_w", a.down_w);
      v("down_b", a.down_b);
      v("up_w", a.up_w);
      v("up_b", a.up_b);
      v("row_w", a.row_w);
      v("row_b", a.row_b);
      v("enc_w", a.enc_w);
      v("enc_b", a.enc_b);
      v("dec_w", a.dec_w);
      v("dec_b", a.dec_b);
      v("rd_mean", a.rd_mean);
      v("rd_std", a.rd_std);
      v("task", a.task);
      v("trainable", a.trainable);
    });
  });
}

void Sema::after_load() {
  for (auto& block : blocks_) {
    for (auto& a : block.adapters) sema_set_trainable(sema_tensors(a), a.trainable);
  }
}

namespace {

const bool registered_sema = register_method(
    method_entry<Sema, SemaOptions>(
        "sema",
        "SEMA: adapters in every block, mixtures in the last blocks that grow when autoencoder "
        "descriptors flag a new task's data (z-score), a soft router, a linear head (ViT)",
        // exps/sema_*.json: SGD (momentum 0.9 in models/sema.py) lr 0.005, wd 5e-4, cosine
        // (CosineAnnealingLR over the functional epochs, eta_min 0), batch 32.
        {{"optimizer", "sgd"},
         {"lr", 0.005},
         {"momentum", 0.9},
         {"weight_decay", 5e-4},
         {"lr_schedule", "cosine"}},
        frozen_vit_requirements())
        .tiny_settings({{"bottleneck", 4}, {"rd_dim", 8}, {"rd_epochs", 1}, {"exp_threshold", 0}})
        // exps/sema_cifar.json (func_epoch 5) and sema_inr_10task.json (func_epoch 20): batch 32,
        // lr 0.005, wd 5e-4, rd_epoch 20, rd_lr 0.01, rd_dim 128, exp_threshold 2.
        .paper_settings({{"cifar100-10",
                          {{"epochs", 5},
                           {"batch_size", 32},
                           {"optimizer", "sgd"},
                           {"lr", 0.005},
                           {"momentum", 0.9},
                           {"weight_decay", 5e-4},
                           {"lr_schedule", "cosine"}}},
                         {"imagenet-r-10",
                          {{"epochs", 20},
                           {"batch_size", 32},
                           {"optimizer", "sgd"},
                           {"lr", 0.005},
                           {"momentum", 0.9},
                           {"weight_decay", 5e-4},
                           {"lr_schedule", "cosine"}}}}));

}  // namespace
}  // namespace clbench
