#include "harness/engine/services.h"

#include <unordered_map>

#include <torch/torch.h>

#include "datasets/loader.h"
#include "harness/distributed/communicator.h"
#include "harness/engine/optim.h"
#include "harness/engine/running_statistics.h"
#include "harness/engine/shard_tree.h"
#include "harness/foundation/error.h"
#include "harness/foundation/random.h"
#include "harness/models/batch_norm.h"

namespace clbench {
namespace {

// Sets a model's train/eval mode for a scope and restores it after.
class ModeScope {
 public:
  ModeScope(Classifier& model, bool train) : model_(model), was_(model->is_training()) {
    model_->train(train);
  }
  ~ModeScope() { model_->train(was_); }

 private:
  Classifier& model_;
  bool was_;
};

}  // namespace

EngineServices::EngineServices(Communicator& comm, const TaskStream& stream, Classifier model,
                               std::shared_ptr<const RunContext> run, const StepControl& control)
    : comm_(comm),
      stream_(stream),
      model_(std::move(model)),
      run_(std::move(run)),
      own_control_(control) {}

void EngineServices::enter_stage(int task, int stage, std::optional<FitCheckpoint> resume,
                                 std::function<void(const FitCheckpoint&)> save,
                                 StepControl* control) {
  task_ = task;
  stage_ = stage;
  fits_ = 0;
  resume_ = std::move(resume);
  save_ = std::move(save);
  control_ = control != nullptr ? control : &own_control_;
}

Batch EngineServices::load(const std::vector<int64_t>& samples, int shard,
                           std::optional<uint64_t> augment_seed) {
  return load_shard(stream_, *stream_.train_set, samples, shard, run_->shard_count, run_->device,
                    augment_seed);
}

std::vector<Batch> EngineServices::load_shards(const std::vector<int64_t>& global,
                                               std::optional<uint64_t> augment_seed) {
  std::vector<Batch> out;
  for (int s : run_->shards) out.push_back(load(global, s, augment_seed));
  return out;
}

std::vector<Batch> EngineServices::row_shards(const std::vector<int64_t>& global) const {
  std::vector<Batch> out;
  for (int s : run_->shards) {
    Batch b;
    b.indices = shard(global, s, run_->shard_count);
    b.global_size = static_cast<int64_t>(global.size());
    b.shards = run_->shard_count;
    b.shard = s;
    out.push_back(std::move(b));
  }
  return out;
}

std::vector<torch::Tensor> EngineServices::sum_over_samples(const std::vector<int64_t>& samples,
                                                            const SampleSum& fn, int64_t batch_size,
                                                            SampleSet set) {
  return sums(samples, fn, batch_size, set, true);
}

std::vector<torch::Tensor> EngineServices::step_sum_over_samples(
    const std::vector<int64_t>& samples, const SampleSum& fn) {
  return sums(samples, fn, 0, SampleSet::kTrain, false);
}

std::vector<torch::Tensor> EngineServices::sums(const std::vector<int64_t>& samples,
                                                const SampleSum& fn, int64_t batch_size,
                                                SampleSet set, bool stoppable) {
  const Dataset& data = set == SampleSet::kTest ? *stream_.test_set : *stream_.train_set;
  ModeScope eval(model_, false);
  // This rank's shards' sums, in order.
  std::vector<std::vector<torch::Tensor>> per_shard(run_->shards.size());
  // A shard's first batch's sums are kept as fn returned them (most sums are one batch); the
  // second makes new tensors, which the later ones are added to in place (fn's may be its own).
  std::vector<size_t> batches(run_->shards.size(), 0);
  const auto add = [&](size_t j, const Batch& b) {
    auto sums = fn(b);
    auto& acc = per_shard[j];
    if (batches[j] == 0) {
      for (auto& t : sums) acc.push_back(t.detach());
    } else if (batches[j] == 1) {
      for (size_t i = 0; i < acc.size(); ++i) acc[i] = acc[i] + sums[i].detach();
    } else {
      for (size_t i = 0; i < acc.size(); ++i) acc[i].add_(sums[i].detach());
    }
    ++batches[j];
  };
  for_each_batch(samples, data, batch_size > 0 ? batch_size : run_->eval_batch_size, stoppable,
                 add);
  for (size_t j = 0; j < per_shard.size(); ++j) {
    if (per_shard[j].empty()) add(j, unaugmented(data, {}));  // fn's zeros give the shapes
  }
  // One shard on each of one or two ranks: the sum over ranks is it (a + b is b + a; the order of
  // a sum over more ranks is the transport's, so the table below adds them).
  if (run_->shard_count == comm_.size() && comm_.size() <= 2) {
    if (comm_.size() > 1 && batches[0] == 1) {  // the transport sums in place: not into fn's own
      for (auto& t : per_shard[0]) t = t.clone();
    }
    comm_.allreduce_sum(per_shard[0]);
    return per_shard[0];
  }
  // Several shards per rank: every rank contributes its shards' rows of a {K, ...} table (the
  // others are zeros, so the sum over ranks is exact), then the rows are added in shard order.
  std::vector<torch::Tensor> rows;
  for (size_t i = 0; i < per_shard[0].size(); ++i) {
    auto shape = per_shard[0][i].sizes().vec();
    shape.insert(shape.begin(), run_->shard_count);
    rows.push_back(torch::zeros(shape, per_shard[0][i].options()));
    for (size_t j = 0; j < run_->shards.size(); ++j)
      rows[i][run_->shards[j]].copy_(per_shard[j][i]);
  }
  comm_.allreduce_sum(rows);
  std::vector<torch::Tensor> total;
  for (auto& r : rows) {
    auto sum = r[0].clone();
    for (int s = 1; s < run_->shard_count; ++s) sum.add_(r[s]);
    total.push_back(sum);
  }
  return total;
}

Batch EngineServices::unaugmented(const Dataset& data, const std::vector<int64_t>& part) const {
  return load_batch(stream_, data, part, static_cast<int64_t>(part.size()), 1, 0, std::nullopt,
                    run_->device);
}

void EngineServices::for_each_batch(const std::vector<int64_t>& samples, const Dataset& data,
                                    int64_t chunk, bool stoppable,
                                    const std::function<void(size_t, const Batch&)>& each) {
  const auto n = static_cast<int64_t>(samples.size());
  const int64_t largest = (n + run_->shard_count - 1) / run_->shard_count;
  const int64_t rounds = (largest + chunk - 1) / chunk;
  for (size_t j = 0; j < run_->shards.size(); ++j) {
    const auto mine = shard(samples, run_->shards[j], run_->shard_count);
    for (int64_t r = 0; r < rounds; ++r) {
      const auto begin = std::min<size_t>(mine.size(), static_cast<size_t>(r * chunk));
      const auto end = std::min<size_t>(mine.size(), begin + static_cast<size_t>(chunk));
      const auto batch = [&] {
        if (begin < end) each(j, unaugmented(data, {mine.begin() + begin, mine.begin() + end}));
      };
      if (stoppable) {
        control_->stoppable_batch(comm_, batch);
      } else {
        batch();
      }
    }
  }
}

torch::Tensor EngineServices::sample_rows(const std::vector<int64_t>& samples, int64_t dim,
                                          const std::function<torch::Tensor(const Batch&)>& fn) {
  ModeScope eval(model_, false);
  torch::NoGradGuard no_grad;
  std::unordered_map<int64_t, int64_t> row;
  for (size_t i = 0; i < samples.size(); ++i) row[samples[i]] = static_cast<int64_t>(i);
  std::vector<torch::Tensor> table{
      torch::zeros({static_cast<int64_t>(samples.size()), dim},
                   torch::dtype(torch::kFloat32).device(run_->device))};
  for_each_batch(samples, *stream_.train_set, run_->eval_batch_size, true,
                 [&](size_t, const Batch& b) {
                   std::vector<int64_t> at;
                   for (int64_t s : b.indices) at.push_back(row.at(s));
                   table[0].index_copy_(0, torch::tensor(at, torch::kLong).to(run_->device),
                                        fn(b).to(torch::kFloat32));
                 });
  comm_.allreduce_sum(table);  // one rank writes each row; the others add zeros to it
  return table[0];
}

std::vector<torch::Tensor> EngineServices::gradients(const std::vector<int64_t>& samples,
                                                     const LossFn& loss,
                                                     const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> total;
  ShardTree tree;
  for (const Batch& b : load_shards(samples, std::nullopt)) {
    const ShardScope batch_norm_shard(b.shard);
    auto value = loss(b);
    if (run_->shard_count > 1) value = value * (1.0 / run_->shard_count);
    // autograd::grad, not backward: the parameters' own .grad stay as they are.
    auto grads = torch::autograd::grad({value}, params, {}, false, false, true);
    for (size_t i = 0; i < grads.size(); ++i) {
      if (!grads[i].defined()) grads[i] = torch::zeros_like(params[i]);
    }
    if (control_->shard_tree) {
      tree.add(std::move(grads));
    } else if (total.empty()) {
      total = std::move(grads);
    } else {
      for (size_t i = 0; i < total.size(); ++i) total[i].add_(grads[i]);
    }
  }
  if (control_->shard_tree) {  // fixed shards: the training step's tree (shard_tree.h)
    total = sum_blocks_over_ranks(comm_, tree.total());
  } else {
    comm_.allreduce_sum(total);
  }
  apply_running_statistics(comm_, run_->shard_count);
  return total;
}

GlobalRows EngineServices::gather(const std::vector<ShardRows>& mine, int64_t global_size) {
  // Each rank writes its shards' rows into a zero table of the global batch (a shard's rows sit
  // where datasets/loader.h's shard() cut them); the sum over ranks is then exact.
  const int64_t K = run_->shard_count;
  auto begin = [&](int64_t s) { return s * (global_size / K) + std::min(s, global_size % K); };
  auto indices = torch::zeros({global_size}, torch::kFloat64);
  auto* slot = indices.data_ptr<double>();  // sample + 1 (0: not this rank's)
  torch::Tensor rows;
  for (const auto& part : mine) {
    const int64_t at = begin(part.shard), n = static_cast<int64_t>(part.indices.size());
    if (part.shard < 0 || part.shard >= K || at + n > global_size) {
      throw Error("internal: gather got shard " + std::to_string(part.shard) + " of " +
                  std::to_string(n) + " samples for a global batch of " +
                  std::to_string(global_size));
    }
    for (int64_t i = 0; i < n; ++i) slot[at + i] = static_cast<double>(part.indices[i] + 1);
    if (!part.rows.defined()) continue;
    if (!rows.defined()) {
      auto shape = part.rows.sizes().vec();
      shape[0] = global_size;
      rows = torch::zeros(shape, part.rows.options().dtype(torch::kFloat32));
    }
    if (n > 0) rows.narrow(0, at, n).copy_(part.rows.detach());
  }
  std::vector<torch::Tensor> reduce{indices};
  comm_.allreduce_sum(reduce);
  if (rows.defined()) {
    std::vector<torch::Tensor> table{rows};
    comm_.allreduce_sum(table);
  }
  GlobalRows out;
  const auto* got = reduce[0].data_ptr<double>();
  for (int64_t i = 0; i < global_size; ++i) {
    if (got[i] < 1) throw Error("internal: gather is missing sample " + std::to_string(i));
    out.indices.push_back(static_cast<int64_t>(got[i]) - 1);
  }
  out.rows = rows;
  return out;
}

void EngineServices::fit(const FitSpec& spec) {
  const int index = fits_++;
  if (spec.steps < 0 || (spec.steps > 0 && (spec.samples.empty() || spec.batch_size < 1))) {
    throw Error("internal: fit '" + spec.name + "' needs steps >= 0, samples and a batch size");
  }
  auto optimizer = make_optimizer(spec.params, spec.optimizer, control_->fused_optimizers);
  const auto params = flat_params(spec.params);
  int64_t first = 0;
  if (resume_ && resume_->index == index) {
    if (resume_->name != spec.name) {
      throw Error("the checkpoint stopped in fit '" + resume_->name + "' but fit " +
                  std::to_string(index) + " of this task is '" + spec.name + "'");
    }
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < params.size() && i < resume_->params.size(); ++i)
      params[i].copy_(resume_->params[i]);
    if (resume_->restore_optimizer) resume_->restore_optimizer(*optimizer);
    first = resume_->next_step;
    resume_.reset();
  }
  ModeScope train(model_, true);
  const auto n = static_cast<int64_t>(spec.samples.size());
  Steps s;
  s.first = first;
  s.end = spec.steps;
  s.load = [&](int64_t k) {
    std::vector<int64_t> global;
    for (int64_t i = 0; i < spec.batch_size; ++i)
      global.push_back(spec.samples[static_cast<size_t>((k * spec.batch_size + i) % n)]);
    if (!spec.images) return row_shards(global);
    std::optional<uint64_t> augment;
    if (spec.augment) {
      augment = mix_seed({uint64_t(run_->seed), uint64_t(task_), uint64_t(stage_), uint64_t(index),
                          uint64_t(k), 0xF17});
    }
    return load_shards(global, augment);
  };
  s.loss = spec.loss;
  s.params = params;
  if (spec.lr_factor) {
    const auto base = base_learning_rates(spec.params, spec.optimizer);
    s.before_step = [&, base](int64_t k) {
      auto lrs = base;
      for (auto& lr : lrs) lr *= spec.lr_factor(k);
      set_learning_rates(*optimizer, lrs);
    };
  }
  s.where = [&](int64_t k) {
    return "task " + std::to_string(task_ + 1) + ", fit '" + spec.name + "', step " +
           std::to_string(k + 1);
  };
  if (save_) {
    s.checkpoint = [&](int64_t next) {
      FitCheckpoint c;
      c.index = index;
      c.name = spec.name;
      c.next_step = next;
      c.params = params;
      c.optimizer = optimizer.get();
      save_(c);
    };
  }
  run_steps(s, *run_, *optimizer, comm_, *control_);
}

}  // namespace clbench
