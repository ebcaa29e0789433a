// Progressive Neural Networks (Rusu et al. 2016, arXiv 1606.04671, Sec. 2): one column per task, a
// fresh randomly initialised copy of the backbone with lateral connections from every earlier
// column into each of its layers (Eq. 1-2) and its own head. The earlier columns are frozen, so an
// old task's predictions never change. Task-IL: task t's classes come from column t's head.
// The columns are methods/pnn_columns.h: Avalanche's scheme on the MLP, Mammoth's on the ResNets.
#include <algorithm>
#include <functional>
#include <mutex>
#include <numeric>
#include <optional>
#include <string>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/foundation/random.h"
#include "methods/method.h"
#include "methods/pnn_columns.h"
#include "methods/services.h"

namespace clbench {

std::vector<torch::Tensor> PnnColumnImpl::all_parameters() {
  auto params = trunk_->parameters();
  for (const auto& p : parameters()) params.push_back(p);
  return params;
}

void PnnColumnImpl::set_training(bool on) {
  train(on);
  trunk_->train(on);
}

std::shared_ptr<PnnColumnImpl> make_pnn_column(std::shared_ptr<BackboneImpl> trunk,
                                               const PnnColumnOptions& options) {
  if (auto c = make_pnn_mlp_column(trunk, options)) return c;
  if (auto c = make_pnn_resnet_column(trunk, options)) return c;
  throw Error("pnn has columns for the mlp and resnet backbones only");
}

namespace {

struct PnnOptions {
  TORCH_ARG(bool, input_laterals) = true;
  TORCH_ARG(std::string, head_laterals) = "auto";
  TORCH_ARG(std::string, lateral_inputs) = "columns";
  TORCH_ARG(int64_t, record_mib) = 1024;

 public:
  template <class V>
  void visit(V& v) {
    v("input_laterals", input_laterals_,
      "mlp: laterals from the input into the first layer, as Avalanche (false: none, as the paper "
      "and Mammoth)");
    v("head_laterals", head_laterals_,
      "laterals into each head from the earlier columns' last layer; auto: mlp off (Avalanche), "
      "resnet on (Mammoth's lateral classifier)",
      {"auto", "on", "off"});
    v("lateral_inputs", lateral_inputs_,
      "what an earlier column gives the laterals: columns = its activations, laterals included "
      "(the paper's Eq. 1, Avalanche); trunks = its own layers alone (Mammoth's copies)",
      {"columns", "trunks"});
    v("record_mib", record_mib_,
      "the earlier columns' outputs on a task's training samples are recorded once before it "
      "trains (they are frozen) where the data are not augmented and the table fits in this many "
      "MiB; otherwise they run at every step (0: always)",
      {0, 1e9});
  }
};

// Runs `make` with the default CPU generator seeded by `seed`, then puts the generator back: every
// rank, and a run resumed from a checkpoint, builds the same column.
template <class F>
auto with_cpu_seed(uint64_t seed, F make) {
  auto gen = at::detail::getDefaultCPUGenerator();
  torch::Tensor saved;
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    saved = gen.get_state();
    gen.set_current_seed(seed);
  }
  auto made = make();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(saved);
  return made;
}

class Pnn : public Method {
 public:
  explicit Pnn(PnnOptions o) : opt_(std::move(o)) {}

  void on_attach() override {
    // Column 0's trunk is the run's backbone (as initialised, or --pretrained); the model's own
    // head over all classes is not used: each column has its task's head.
    columns_.clear();
    columns_.push_back(make_column(0));
  }

  void on_begin_task(const Task& task) override {
    const auto t = static_cast<size_t>(task.index);
    while (columns_.size() <= t) columns_.push_back(make_column(columns_.size()));
    record_earlier_columns(task);
  }

  torch::Tensor loss(const Batch& batch) override {
    const auto t = static_cast<size_t>(task_->index);
    std::optional<Laterals> recorded;
    if (earlier_.recorded()) recorded = unpack(earlier_.of(batch, {}));
    const auto heads = forward(batch.x, t + 1, t, ctx_.model->is_training(), false,
                               recorded ? &*recorded : nullptr);
    return classification_loss(place(heads, batch.x.size(0)), batch);
  }

  // Logits of every class: with the task id (the evaluation) its task's from columns 0..t only,
  // else each task's from its head on columns 0..t; zero where a task has no column (yet).
  torch::Tensor logits(const Batch& batch) override {
    const size_t n = columns_.size();
    if (batch.task && static_cast<size_t>(*batch.task) < n) {
      const auto t = static_cast<size_t>(*batch.task);
      return place(forward(batch.x, t + 1, n, false, false), batch.x.size(0));
    }
    return place(forward(batch.x, n, n, false, true), batch.x.size(0));
  }

  // Only the task's column (its trunk, laterals and head) is trained; the earlier ones are frozen
  // (Sec. 2: "the parameters Theta^(1) are frozen" when column 2 is added): the optimiser never
  // sees them, and they run without gradients in eval mode (forward()). Their requires_grad flags
  // are left as made, so a checkpoint's state does not depend on when it was taken.
  std::vector<torch::Tensor> trainable_parameters() override {
    return columns_.at(task_ ? static_cast<size_t>(task_->index) : 0)->all_parameters();
  }

  // Everything the predictions need: every column's trunk, laterals and head.
  int64_t stored_parameters() const override {
    int64_t n = 0;
    for (const auto& c : columns_) n += count_parameters(c->all_parameters());
    return n;
  }

  void state(StateVisitor& v) override {
    auto n = static_cast<int64_t>(columns_.size());
    v("columns", n);
    if (v.loading()) {
      columns_.resize(std::min(columns_.size(), static_cast<size_t>(n)));
      while (columns_.size() < static_cast<size_t>(n))
        columns_.push_back(make_column(columns_.size()));
    }
    for (size_t c = 0; c < columns_.size(); ++c) {
      const std::string at = "column." + std::to_string(c);
      v(at + ".joints", *columns_[c]);                    // its laterals and head
      if (c > 0) v(at + ".trunk", columns_[c]->trunk());  // column 0's is the model's backbone
    }
  }

 private:
  // Column c, seeded by (run seed, c): a fresh model's backbone (column 0: the run's) with
  // laterals from columns 0..c-1 and a head for task c.
  std::shared_ptr<PnnColumnImpl> make_column(size_t c) {
    const Task& task = ctx_.stream->tasks.at(c);
    PnnColumnOptions o;
    o.earlier = static_cast<int64_t>(c);
    o.classes = task.class_end - task.class_begin;
    o.input_laterals = opt_.input_laterals();
    if (opt_.head_laterals() != "auto") o.head_laterals = opt_.head_laterals() == "on";
    o.input_shape = ctx_.stream->input_shape();
    auto column = with_cpu_seed(mix_seed({uint64_t(run().seed), uint64_t(c), 0x9AA}), [&] {
      auto trunk = c == 0 ? ctx_.model->backbone : ctx_.make_model()->backbone;
      return make_pnn_column(trunk, o);
    });
    column->to(run().device);
    return column;
  }

  // laterals[l][c]: what column c gives the laterals that read its layer l's outputs.
  using Laterals = std::vector<std::vector<torch::Tensor>>;

  // Columns 0..n-1 on `images`, and the heads of all of them (or of the last). Column `trained`
  // runs in the given mode with gradients; every other one in eval mode (frozen batch-norm
  // statistics) without. Layer by layer, so that only one layer's outputs are held per column,
  // except that `record` receives every layer's laterals of all n columns. With `recorded` (the
  // earlier columns' laterals, as recorded), the columns before `trained` do not run.
  std::vector<torch::Tensor> forward(const torch::Tensor& images, size_t n, size_t trained,
                                     bool training, bool all_heads,
                                     const Laterals* recorded = nullptr,
                                     Laterals* record = nullptr) {
    for (size_t c = 0; c < n; ++c) columns_[c]->set_training(c == trained && training);
    // Eq. 1: the laterals read the earlier columns' activations (as Avalanche);
    // pnn.lateral_inputs=trunks: their own layers alone (Mammoth's copies of the old layers).
    const bool trunks = opt_.lateral_inputs() == "trunks";
    const size_t skipped = recorded ? trained : 0;
    // Each column's input to the next layer, with and without its laterals (layer 0: the images);
    // the last column's alone is read by no lateral unless it is recorded.
    std::vector<torch::Tensor> full(n, columns_[0]->input(images));
    std::vector<torch::Tensor> alone(trunks ? (record ? n : n - 1) : 0, full[0]);
    const auto& sources = trunks ? alone : full;
    const auto step = [&](size_t c, const std::function<torch::Tensor()>& f) {
      std::optional<torch::NoGradGuard> no_grad;
      if (c != trained) no_grad.emplace();
      return f();
    };
    for (size_t l = 0; l < columns_[0]->depth(); ++l) {
      std::vector<torch::Tensor> next(n), next_alone(alone.size());
      for (size_t c = 0; c < skipped; ++c) {
        next[c] = recorded->at(l).at(c);
        if (c < alone.size()) next_alone[c] = next[c];
      }
      for (size_t c = skipped; c < n; ++c) {
        const std::vector<torch::Tensor> earlier(sources.begin(),
                                                 sources.begin() + static_cast<std::ptrdiff_t>(c));
        next[c] = step(c, [&] { return columns_[c]->layer(l, full[c], earlier); });
        if (c < alone.size()) {
          next_alone[c] =
              c == 0 ? next[0] : step(c, [&] { return columns_[c]->layer(l, alone[c], {}); });
        }
      }
      full = std::move(next);
      alone = std::move(next_alone);
      if (record) record->push_back(sources);
    }
    std::vector<torch::Tensor> heads(n);
    for (size_t c = all_heads ? 0 : n - 1; c < n; ++c) {
      const std::vector<torch::Tensor> earlier(sources.begin(),
                                               sources.begin() + static_cast<std::ptrdiff_t>(c));
      heads[c] = step(c, [&] { return columns_[c]->head(full[c], earlier); });
    }
    return heads;
  }

  // {B, classes}: head t's logits at task t's classes; zeros where a task has no head here.
  torch::Tensor place(const std::vector<torch::Tensor>& heads, int64_t batch) const {
    std::vector<torch::Tensor> parts;
    for (const auto& task : ctx_.stream->tasks) {
      const auto t = static_cast<size_t>(task.index);
      const bool mine = t < heads.size() && heads[t].defined();
      parts.push_back(mine ? heads[t]
                           : torch::zeros({batch, task.class_end - task.class_begin},
                                          torch::TensorOptions().device(run().device)));
    }
    return torch::cat(parts, 1);
  }

  // The laterals of columns 0..t-1 on one batch, every layer's flattened and concatenated.
  torch::Tensor pack_earlier(const torch::Tensor& images, size_t t) {
    Laterals laterals;
    forward(images, t, t, false, false, nullptr, &laterals);
    std::vector<torch::Tensor> flat;
    for (const auto& layer : laterals)
      for (const auto& x : layer) flat.push_back(x.flatten(1));
    return torch::cat(flat, 1);
  }

  Laterals unpack(const torch::Tensor& rows) const {
    Laterals laterals;
    int64_t at = 0;
    for (const auto& layer : shapes_) {
      laterals.emplace_back();
      for (const auto& shape : layer) {
        std::vector<int64_t> full{rows.size(0)};
        full.insert(full.end(), shape.begin(), shape.end());
        const int64_t size =
            std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<int64_t>());
        laterals.back().push_back(rows.narrow(1, at, size).reshape(full));
        at += size;
      }
    }
    return laterals;
  }

  // The frozen columns 0..t-1 give column t's laterals the same outputs for a sample at every
  // step: recorded once per task where that is exact and fits pnn.record_mib (FrozenOutputs);
  // one probe image gives the layout.
  void record_earlier_columns(const Task& task) {
    earlier_.clear();
    const auto t = static_cast<size_t>(task.index);
    const auto samples = train_indices(task);
    if (t == 0 || samples.empty()) return;
    auto shape = ctx_.stream->input_shape();
    shape.insert(shape.begin(), 1);
    Laterals probe;
    {
      torch::NoGradGuard no_grad;
      forward(torch::zeros(shape, torch::TensorOptions().device(run().device)), t, t, false, false,
              nullptr, &probe);
    }
    shapes_.clear();
    int64_t dim = 0;
    for (const auto& layer : probe) {
      shapes_.emplace_back();
      for (const auto& x : layer) {
        shapes_.back().push_back(x.sizes().slice(1).vec());
        dim += x[0].numel();
      }
    }
    const double mib =
        4.0 * static_cast<double>(dim) * static_cast<double>(samples.size()) / 1048576;
    if (mib > static_cast<double>(opt_.record_mib())) return;
    earlier_.record(services(), *ctx_.stream->train_set, samples, dim,
                    [this, t](const Batch& b) { return pack_earlier(b.x, t); });
  }

  PnnOptions opt_;
  std::vector<std::shared_ptr<PnnColumnImpl>> columns_;    // column t: task t's
  FrozenOutputs earlier_;                                  // columns 0..t-1's laterals, packed
  std::vector<std::vector<std::vector<int64_t>>> shapes_;  // [layer][column]: one sample's shape
};

MethodRequirements pnn_requirements() {
  MethodRequirements r;
  r.backbone_kinds = {"mlp", "resnet"};
  r.scenarios = {"task-il"};
  r.task_id_at_test = true;
  return r;
}

const bool registered_pnn = register_method(method_entry<Pnn, PnnOptions>(
    "pnn", "Progressive Neural Networks (Rusu 2016): a new column per task, laterals, task-IL",
    {{"scenario", "task-il"}}, pnn_requirements()));

}  // namespace
}  // namespace clbench
