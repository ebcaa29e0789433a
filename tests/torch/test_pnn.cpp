// Progressive neural networks (methods/pnn.cpp): old tasks never change, what is stored is every
// column with its laterals and head, and the sharded runs agree.
#include <gtest/gtest.h>

#include "datasets/loader.h"
#include "harness/engine/progress.h"
#include "harness/engine/trainer.h"
#include "harness/models/mlp.h"
#include "harness/models/resnet.h"
#include "methods/pnn_columns.h"
#include "support.h"
#include "tests/common/conformance.h"

namespace clbench {
namespace {

// 3 tasks x 2 classes of noisy 12x12 prototypes (noisy enough that accuracies are not all 100),
// task-IL (pnn's default scenario).
nlohmann::json tiny_pnn(const std::string& backbone,
                        nlohmann::json more = nlohmann::json::object()) {
  nlohmann::json user = {{"benchmark", "synthetic"},
                         {"method", "pnn"},
                         {"backbone", backbone},
                         {"name", "pnn-" + backbone},
                         {"epochs", 2},
                         {"batch_size", 16},
                         {"threads", 1},
                         {"lr", 0.03},
                         {"synthetic.classes", 6},
                         {"synthetic.train_per_class", 24},
                         {"synthetic.test_per_class", 16},
                         {"synthetic.noise", 0.8}};
  user.update(more);
  return user;
}

// Trains `task` (begun) for `steps` SGD steps of 16 samples through the method's own hooks.
void train_task(testing::Setup& s, const Task& task, int steps) {
  const auto groups = s.method->parameter_groups();
  ASSERT_EQ(groups.size(), 1u);
  torch::optim::SGD sgd(groups[0].params, torch::optim::SGDOptions(0.05));
  s.model->train();
  for (int k = 0; k < steps; ++k) {
    std::vector<int64_t> idx;
    for (int i = 0; i < 16; ++i) idx.push_back(task.train[(16 * k + i) % task.train.size()]);
    const Batch b = load_batch(*s.stream, *s.stream->train_set, idx, 16);
    sgd.zero_grad();
    s.method->loss(b).backward();
    sgd.step();
  }
  s.method->end_task(task);
}

// The logits of `task`'s classes on its test set, evaluated as the harness does (eval mode).
torch::Tensor task_logits(testing::Setup& s, const Task& task) {
  torch::NoGradGuard no_grad;
  s.model->eval();
  Batch b =
      load_batch(*s.stream, *s.stream->test_set, task.test, static_cast<int64_t>(task.test.size()));
  b.task = task.index;
  const auto out =
      s.method->logits(b).narrow(1, task.class_begin, task.class_end - task.class_begin);
  s.model->train();
  return out.clone();
}

// After each task: every earlier task's logits are bitwise those right after its own training,
// while the new task's have moved with its training.
std::vector<torch::Tensor> check_old_tasks_frozen(nlohmann::json user) {
  auto s = testing::setup(std::move(user));
  std::vector<torch::Tensor> after;  // task t's logits right after task t
  // Column t's parameters (what task t trained) and their gradients at the end of task t.
  std::vector<std::vector<torch::Tensor>> columns, grads;
  for (const auto& task : s->stream->tasks) {
    s->method->begin_task(task);
    const auto before = task_logits(*s, task);  // its new column, untrained
    train_task(*s, task, 4);
    after.push_back(task_logits(*s, task));
    EXPECT_FALSE(torch::equal(before, after.back())) << "task " << task.index << " did not train";
    columns.push_back(s->method->trainable_parameters());
    grads.emplace_back();
    for (const auto& p : columns.back()) grads.back().push_back(p.grad().clone());
    for (int j = 0; j < task.index; ++j) {
      EXPECT_TRUE(torch::equal(task_logits(*s, s->stream->tasks[j]), after[j]))
          << "task " << j << " changed while task " << task.index << " trained";
      for (size_t i = 0; i < columns[j].size(); ++i) {  // no gradient reached column j
        EXPECT_TRUE(torch::equal(columns[j][i].grad(), grads[j][i])) << j << ", " << i;
      }
    }
  }
  return after;
}

TEST(Pnn, OldTasksLogitsAreBitwiseConstantOnMlp) {
  check_old_tasks_frozen(tiny_pnn("mlp"));
}

TEST(Pnn, OldTasksLogitsAreBitwiseConstantOnResNetTinyWithItsBatchNorms) {
  check_old_tasks_frozen(tiny_pnn("resnet-tiny"));
}

// Mammoth's laterals read the earlier columns' own layers alone: tasks 1 and 2 are the same (column
// 0 has no laterals), task 3 differs.
TEST(Pnn, TrunkLateralInputsChangeOnlyTheThirdColumn) {
  const auto columns = check_old_tasks_frozen(tiny_pnn("mlp"));
  const auto trunks = check_old_tasks_frozen(tiny_pnn("mlp", {{"pnn.lateral_inputs", "trunks"}}));
  EXPECT_TRUE(torch::equal(columns[0], trunks[0]));
  EXPECT_TRUE(torch::equal(columns[1], trunks[1]));
  EXPECT_FALSE(torch::equal(columns[2], trunks[2]));
}

// In a whole run: R[i][j] (task-IL) of an old task j is the same number after every later task i.
void expect_old_columns_of_r_constant(const RunResult& r) {
  const auto& R = r.acc_task_il;
  ASSERT_EQ(R.size(), 3u);
  bool below_100 = false;
  double learned = 0;
  for (size_t j = 0; j < R.size(); ++j) {
    learned += R[j][j] / 3;
    below_100 = below_100 || R[j][j] < 100.0;
    for (size_t i = j + 1; i < R.size(); ++i) EXPECT_EQ(R[i][j], R[j][j]) << i << "," << j;
  }
  // The check sees something only if the tasks were learned. A model at chance (50% on 2 classes)
  // scores above 60% on these 3 x 128 test samples with probability < 1e-4 (binomial: 3.9
  // standard deviations); the runs score 20 points above that bound (bench/README.md, "Test
  // margins": the same bits on every machine in the portable mode, Intel's MKL branch included).
  EXPECT_GT(learned, 60.0) << "the tasks were barely learned";
  EXPECT_TRUE(below_100) << "every task is at 100%: the check would not see a change";
  std::printf("[ margin ] learned %.2f (threshold 60)\n", learned);
}

TEST(Pnn, TaskIlAccuracyOfOldTasksIsConstantInARunOnMlp) {
  expect_old_columns_of_r_constant(
      testing::run_quiet(tiny_pnn("mlp", {{"synthetic.test_per_class", 64}})));
}

// (64 samples per class: a BatchNorm ResNet's running statistics need a few more steps.)
TEST(Pnn, TaskIlAccuracyOfOldTasksIsConstantInARunOnResNetTiny) {
  expect_old_columns_of_r_constant(testing::run_quiet(tiny_pnn(
      "resnet-tiny", {{"synthetic.train_per_class", 64}, {"synthetic.test_per_class", 64}})));
}

int64_t numel(const std::vector<torch::Tensor>& ps) {
  return count_parameters(ps);
}

// Stored after task t: every column 0..t (trunk, head, laterals from its k earlier columns).
void expect_stored(const RunResult& r, const std::function<int64_t(int64_t k)>& column) {
  ASSERT_EQ(r.stored_params.size(), 3u);
  int64_t total = 0;
  for (int64_t k = 0; k < 3; ++k) {
    total += column(k);
    EXPECT_EQ(r.stored_params[k], total) << "after " << k + 1 << " tasks";
    // What is trained at task k is exactly what is added to the store.
    EXPECT_EQ(r.trainable_params[k], column(k)) << "task " << k + 1;
  }
}

TEST(Pnn, StoredParametersOnMlpAreColumnsLateralsAndHeads) {
  const int64_t in = 144, h = 400, classes = 2;  // 12x12 pixels, 2 x 400 hidden, 2 per task
  const int64_t trunk = (in * h + h) + (h * h + h), head = h * classes + classes;
  // Avalanche's MLPAdapter from k columns: alphas (k), V (in k -> h), U (h -> h).
  const auto adapter = [&](int64_t from, int64_t k) {
    return k + (from * k * h + h) + (h * h + h);
  };
  expect_stored(testing::run_quiet(tiny_pnn("mlp")), [&](int64_t k) {
    return trunk + head + (k > 0 ? adapter(in, k) + adapter(h, k) : 0);
  });
  // Without input laterals, with head laterals (V: h k -> h, U: h -> classes).
  const auto head_lateral = [&](int64_t k) {
    return k + (h * k * h + h) + (h * classes + classes);
  };
  expect_stored(
      testing::run_quiet(tiny_pnn(
          "mlp",
          {{"name", "pnn-mlp-keys"}, {"pnn.input_laterals", false}, {"pnn.head_laterals", "on"}})),
      [&](int64_t k) { return trunk + head + (k > 0 ? adapter(h, k) + head_lateral(k) : 0); });
}

TEST(Pnn, StoredParametersOnResNetTinyAreColumnsAdaptorsLateralStagesAndHeads) {
  ResNetOptions o;
  for (const auto& p : resnet_presets()) {
    if (p.name == "resnet-tiny") o = p.options;
  }
  ResNet net(o.in_channels(1));  // the synthetic images are grey
  const int64_t trunk = numel(net->parameters()), classes = 2, last = net->stage_channels(3);
  const int64_t side[] = {12, 6, 3};  // stage outputs of 12x12 images (CIFAR stem)
  const auto column = [&](bool head_laterals, int64_t k) {
    int64_t n = trunk + last * classes + classes;
    if (k == 0) return n;
    for (size_t s = 1; s < 4; ++s) {
      const int64_t c = net->stage_channels(s - 1);
      n += c * k * side[s - 1] * side[s - 1];    // alpha per channel and position
      n += c * k * c + c;                        // 1x1 convolution to one column's channels
      n += numel(net->layers[s]->parameters());  // the lateral stage, shaped as stage s
    }
    if (head_laterals) n += last * k + (last * k * last + last) + (last * classes + classes);
    return n;
  };
  expect_stored(testing::run_quiet(tiny_pnn("resnet-tiny")),
                [&](int64_t k) { return column(true, k); });
  expect_stored(testing::run_quiet(tiny_pnn(
                    "resnet-tiny", {{"name", "pnn-resnet-keys"}, {"pnn.head_laterals", "off"}})),
                [&](int64_t k) { return column(false, k); });
}

// The trained parameters of a whole run (the model and the last column, as the 2-rank test reads
// them) and its state.
struct PnnTrained {
  torch::Tensor parameters;
  std::string state;
  RunResult result;
};

PnnTrained train(nlohmann::json user) {
  const auto plan = testing::plan(std::move(user));
  LocalCommunicator comm;
  auto session = build_session(plan, comm);
  Progress quiet(false, false);
  const auto record = train_session(*session, comm, quiet);
  std::vector<torch::Tensor> flat;
  for (const auto& p : session->model->parameters()) flat.push_back(p.detach().reshape({-1}));
  for (const auto& p : session->method->trainable_parameters())
    flat.push_back(p.detach().reshape({-1}));
  RunResult r;
  r.acc_task_il = record.task_il;
  return {torch::cat(flat), capture_state(*session->model, *session->method), r};
}

// 47 of a task's 48 samples per step: the second step's shard 1 of 2 is empty.
nlohmann::json sharded(const std::string& backbone, int shards) {
  return tiny_pnn(backbone, {{"grad_shards", shards}, {"batch_size", 47}, {"epochs", 2}});
}

// The MLP column's layers against Eq. 2 written out from its parameters: each lateral is
// U ReLU(V [a_0 x_0, ..., a_{k-1} x_{k-1}]), layer 0's on k copies of the input. The column
// computes it with the alphas on V's blocks (one product for the copies); the outputs and every
// parameter's gradient agree to float32 rounding: relative gaps near 1e-7 (printed), where a
// block scaled by the wrong alpha moves them by order 1.
TEST(Pnn, MlpColumnLayersAreEquationTwoWrittenOut) {
  torch::manual_seed(3);
  const int64_t k = 3, in = 20, hidden = 16, batch = 8;
  PnnColumnOptions o;
  o.earlier = k;
  o.classes = 2;
  o.input_shape = {1, 4, 5};
  auto column = make_pnn_column(Mlp(MlpOptions(in).hidden(hidden)).ptr(), o);
  auto params = column->named_parameters();
  for (const auto& p : column->trunk().named_parameters())
    params.insert("trunk." + p.key(), p.value());
  const auto written_out = [&](size_t l, const torch::Tensor& own,
                               const std::vector<torch::Tensor>& earlier) {
    const std::string at = "lateral" + std::to_string(l) + ".";
    std::vector<torch::Tensor> scaled;
    for (int64_t j = 0; j < k; ++j) scaled.push_back(params[at + "alphas"][j] * earlier[size_t(j)]);
    const auto v = torch::relu(
        torch::linear(torch::cat(scaled, 1), params[at + "V.weight"], params[at + "V.bias"]));
    const std::string w = "trunk.body." + std::to_string(2 * l) + ".";
    return torch::relu(torch::linear(own, params[w + "weight"], params[w + "bias"]) +
                       torch::linear(v, params[at + "U.weight"], params[at + "U.bias"]));
  };
  const auto relative_gap = [](const torch::Tensor& a, const torch::Tensor& b) {
    return ((a - b).abs().max() / b.abs().max()).item<double>();
  };
  const auto x = torch::randn({batch, in});
  std::vector<torch::Tensor> hidden_outputs;
  for (int64_t j = 0; j < k; ++j) hidden_outputs.push_back(torch::randn({batch, hidden}));
  for (size_t l : {0, 1}) {
    SCOPED_TRACE(l);
    const auto own = l == 0 ? x : torch::randn({batch, hidden});
    const auto earlier = l == 0 ? std::vector<torch::Tensor>(size_t(k), x) : hidden_outputs;
    const auto weights = torch::randn({batch, hidden});
    std::vector<std::vector<torch::Tensor>> grads;
    std::vector<torch::Tensor> outputs;
    for (bool literal : {false, true}) {
      for (auto& p : params) p.value().mutable_grad() = torch::Tensor();
      outputs.push_back(literal ? written_out(l, own, earlier) : column->layer(l, own, earlier));
      (outputs.back() * weights).sum().backward();
      grads.emplace_back();
      for (const auto& p : params)
        if (p.value().grad().defined()) grads.back().push_back(p.value().grad().clone());
    }
    double worst = relative_gap(outputs[0], outputs[1]);
    EXPECT_LT(worst, 1e-5);
    ASSERT_EQ(grads[0].size(), grads[1].size());
    ASSERT_GE(grads[0].size(), 6u) << "the trunk's and the lateral's weights, biases and alphas";
    for (size_t i = 0; i < grads[0].size(); ++i) {
      const double gap = relative_gap(grads[0][i], grads[1][i]);
      EXPECT_LT(gap, 1e-5) << "gradient " << i;
      worst = std::max(worst, gap);
    }
    std::printf("[ margin ] layer %zu: worst relative gap %.3g\n", l, worst);
  }
}

// Two shards on one rank sum to the gradient of the whole batch (no batch norm: the same up to
// rounding), as the 2-rank conformance test (tests/mpi) expects of one shard per rank; the gap is
// measured, as there, against what halving the learning rate does to the same run.
TEST(Pnn, TwoGradientShardsWithAnEmptyOneMatchOneShardOnMlp) {
  const auto one = train(sharded("mlp", 0)), two = train(sharded("mlp", 2));
  auto slower = sharded("mlp", 0);
  slower["lr"] = tiny_pnn("mlp")["lr"].get<double>() / 2;
  EXPECT_TRUE(
      testing::within_rounding_of(two.parameters, one.parameters, train(slower).parameters));
}

// With batch norms each shard normalises with its own statistics (as each rank would); the run is
// reproducible to the bit, and old tasks still never change.
TEST(Pnn, TwoGradientShardsWithAnEmptyOneAreBitwiseReproducibleOnResNetTiny) {
  const auto a = train(sharded("resnet-tiny", 2)), b = train(sharded("resnet-tiny", 2));
  EXPECT_TRUE(torch::equal(a.parameters, b.parameters));
  EXPECT_TRUE(a.state == b.state);
  const auto& R = a.result.acc_task_il;
  for (size_t j = 0; j < R.size(); ++j) {
    for (size_t i = j + 1; i < R.size(); ++i) EXPECT_EQ(R[i][j], R[j][j]) << i << "," << j;
  }
}

// The loss of task 2's first batch after task 1 trained (4 steps), and again after column 0
// (frozen: nothing trains it) is perturbed: with the earlier columns' outputs recorded at
// begin_task (pnn.record_mib) the perturbation is not seen, as column 0 does not run again;
// without, it is.
struct SecondTaskLoss {
  torch::Tensor loss, perturbed;
};

SecondTaskLoss second_task_loss(nlohmann::json user) {
  auto s = testing::setup(std::move(user));
  const auto& tasks = s->stream->tasks;
  s->method->begin_task(tasks[0]);
  train_task(*s, tasks[0], 4);
  s->method->begin_task(tasks[1]);
  s->model->train();
  const std::vector<int64_t> idx(tasks[1].train.begin(), tasks[1].train.begin() + 16);
  const Batch b = load_batch(*s->stream, *s->stream->train_set, idx, 16);
  SecondTaskLoss out;
  out.loss = s->method->loss(b).detach().clone();
  {
    torch::NoGradGuard no_grad;
    for (auto& p : s->model->backbone->parameters()) p.add_(0.5);
  }
  out.perturbed = s->method->loss(b).detach().clone();
  return out;
}

void expect_recorded_columns_not_run(const std::string& backbone) {
  const auto recorded = second_task_loss(tiny_pnn(backbone));
  const auto run = second_task_loss(tiny_pnn(backbone, {{"pnn.record_mib", 0}}));
  EXPECT_TRUE(torch::equal(recorded.perturbed, recorded.loss));
  EXPECT_FALSE(torch::equal(run.perturbed, run.loss));
  // The same arithmetic on batches of other sizes (the record's): float32 rounding of a loss near
  // 1, far below 1e-5 (measured: printed), where the perturbation moves it by more than 1e-2.
  const double gap = (recorded.loss - run.loss).abs().item<double>();
  std::printf("[ margin ] recorded vs run: %.3g; the perturbation: %.3g\n", gap,
              (run.perturbed - run.loss).abs().item<double>());
  EXPECT_LT(gap, 1e-5);
}

TEST(Pnn, RecordedEarlierColumnsDoNotRunAgainOnMlp) {
  expect_recorded_columns_not_run("mlp");
}

TEST(Pnn, RecordedEarlierColumnsDoNotRunAgainOnResNetTiny) {
  expect_recorded_columns_not_run("resnet-tiny");
}

// Whole runs with the earlier columns recorded train as with them run at every step, up to
// rounding (measured against what halving the learning rate changes), in both lateral modes.
TEST(Pnn, RecordingEarlierColumnsTrainsAsRunningThem) {
  for (const std::string inputs : {"columns", "trunks"}) {
    SCOPED_TRACE(inputs);
    const auto user = tiny_pnn("mlp", {{"pnn.lateral_inputs", inputs}});
    auto run = user, slower = user;
    run["pnn.record_mib"] = 0;
    slower["pnn.record_mib"] = 0;
    slower["lr"] = user["lr"].get<double>() / 2;
    EXPECT_TRUE(testing::within_rounding_of(train(user).parameters, train(run).parameters,
                                            train(slower).parameters));
  }
}

TEST(Pnn, RefusesClassIncrementalRuns) {
  EXPECT_THROW(testing::plan(tiny_pnn("mlp", {{"scenario", "class-il"}})), Error);
}

}  // namespace
}  // namespace clbench
