// The parameter-efficient ViT methods (seq-lora, sd-lora*, fm-lora, inflora) on the synthetic
// stream with the small ViT: their state, gradients, counts and variants.
#include <filesystem>

#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include "datasets/loader.h"
#include "harness/engine/trainer.h"
#include "harness/foundation/error.h"
#include "harness/models/weights.h"
#include "methods/adapters/adapter_method.h"
#include "methods/adapters/fm_lora.h"
#include "methods/adapters/inflora.h"
#include "methods/adapters/lora.h"
#include "results/metrics.h"
#include "support.h"
#include "tests/common/accuracy_bits.h"

namespace clbench {
namespace {

using testing::setup;

nlohmann::json vit_run(const std::string& method, nlohmann::json extra = nlohmann::json::object()) {
  nlohmann::json user = {{"benchmark", "synthetic"},
                         {"method", method},
                         {"backbone", "vit-tiny28"},
                         {"synthetic", {{"side", 28}, {"classes", 6}}},
                         {"epochs", 1},
                         {"batch_size", 64},
                         {"threads", 1}};
  user.merge_patch(extra);
  return user;
}

AdapterMethod& adapters(testing::Setup& s) {
  auto* m = dynamic_cast<AdapterMethod*>(s.method);
  EXPECT_NE(m, nullptr);
  return *m;
}

Batch batch_of(const TaskStream& stream, const Task& task, int64_t n) {
  std::vector<int64_t> idx(task.train.begin(), task.train.begin() + n);
  return load_batch(stream, *stream.train_set, idx, n, 1);
}

// begin_task, `steps` SGD steps on the task's first samples (`check` after each backward),
// end_task.
void train_task(testing::Setup& s, AdapterMethod& m, const Task& task, int steps,
                const std::function<void(int step)>& check = {}) {
  m.begin_task(task);
  auto params = m.trainable_parameters();
  torch::optim::SGD sgd(params, torch::optim::SGDOptions(0.05).momentum(0.9));
  for (int step = 0; step < steps; ++step) {
    sgd.zero_grad();
    m.loss(batch_of(*s.stream, task, 32)).backward();
    if (check) check(step);
    sgd.step();
  }
  m.end_task(task);
}

TEST(SdLora, OldDirectionsStayBitwiseAndOnlyMagnitudesCurrentAdapterAndHeadGetGradients) {
  auto s = setup(vit_run("sd-lora"));
  auto& m = adapters(*s);
  const auto& tasks = s->stream->tasks;
  std::vector<torch::Tensor> snapshot;  // factors of task 0, copied when task 0 ends
  for (int t = 0; t < 3; ++t) {
    train_task(*s, m, tasks[t], 3, [&](int step) {
      for (const auto& p : s->model->backbone->parameters()) {
        ASSERT_FALSE(p.grad().defined()) << "a backbone weight got a gradient";
      }
      for (auto& layer : m.layers()) {
        for (auto* linear : layer->linears()) {
          ASSERT_EQ(static_cast<int>(linear->updates.size()), t + 1);
          for (const auto& u : linear->updates) {
            for (const auto& f : u.factors) {
              if (u.task < t) {
                ASSERT_FALSE(f.grad().defined()) << "an old direction got a gradient";
              } else if (step > 0) {  // B starts at 0, so A's first gradient is 0 but defined
                ASSERT_TRUE(f.grad().defined());
              }
            }
            ASSERT_TRUE(u.magnitude.requires_grad());
            if (t > 0) {
              ASSERT_TRUE(u.magnitude.grad().defined()) << "magnitude of task " << u.task;
            }
          }
        }
      }
      ASSERT_TRUE(s->model->head->weight.grad().defined());
    });
    if (t == 0) {
      for (auto& layer : m.layers())
        for (auto* linear : layer->linears())
          for (const auto& f : linear->updates[0].factors) snapshot.push_back(f.detach().clone());
    }
  }
  size_t k = 0;
  for (auto& layer : m.layers())
    for (auto* linear : layer->linears())
      for (const auto& f : linear->updates[0].factors) {
        EXPECT_TRUE(torch::equal(f, snapshot[k++])) << "task 0's direction changed";
      }
  // Old directions are normalised by ||B|| ||A|| (official code).
  const auto& u0 = m.layers()[0]->part(QkvPart::kQ).updates[0];
  EXPECT_NEAR((u0.inv_norm * u0.factors[0].norm() * u0.factors[1].norm()).item<double>(), 1.0,
              1e-5);
}

TEST(SdLora, TrainableCountOnVitB16MatchesTheFormula) {
  auto s = setup({{"benchmark", "synthetic"}, {"method", "sd-lora"}, {"backbone", "vit-b16"}});
  auto& m = adapters(*s);
  m.begin_task(s->stream->tasks[0]);
  int64_t lora = 0;
  for (auto& layer : m.layers())
    for (auto* linear : layer->linears())
      for (const auto& u : linear->updates) lora += u.numel();
  EXPECT_EQ(lora, 368640);  // 12 blocks x {q, v} x (768 x 10 + 10 x 768)
  const int64_t head = 768 * 10 + 10;
  EXPECT_EQ(count_parameters(m.trainable_parameters()), lora + 1 + head);  // + alpha_1
  EXPECT_EQ(m.stored_parameters(), lora + 1 + head);
}

TEST(SdLora, RankReductionFollowsTheSchedule) {
  auto s = setup(vit_run("sd-lora-rr", {{"sd-lora-rr", {{"rank_schedule", "1:8,2:6"}}}}));
  auto& m = adapters(*s);
  for (int t = 0; t < 3; ++t) {
    m.begin_task(s->stream->tasks[t]);
    m.end_task(s->stream->tasks[t]);
  }
  for (auto& layer : m.layers()) {
    for (auto* linear : layer->linears()) {
      ASSERT_EQ(linear->updates.size(), 3u);
      EXPECT_EQ(linear->updates[0].rank(), 10);
      EXPECT_EQ(linear->updates[1].rank(), 8);
      EXPECT_EQ(linear->updates[2].rank(), 6);
    }
  }
  EXPECT_EQ(find_method("sd-lora-rr").keys.back().default_value, "4:8,8:6");
  EXPECT_THROW(setup(vit_run("sd-lora-rr", {{"sd-lora-rr", {{"rank_schedule", "4:8,3:6"}}}})),
               Error);
}

TEST(SdLora, NeedsAVitBackboneWhichThePlanChecksBeforeReadingData) {
  try {
    // A data root that does not exist: the requirement fails first.
    testing::plan({{"benchmark", "split-fmnist"},
                   {"method", "sd-lora"},
                   {"backbone", "mlp"},
                   {"data_root", "/nonexistent"}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs a vit backbone, not 'mlp'"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("vit-tiny28"), std::string::npos) << e.what();
  }
}

TEST(FmLora, SharedBasesFrozenAfterTaskOneAndEachTaskAddsTwoRSquared) {
  auto s = setup(vit_run("fm-lora", {{"fm-lora", {{"warmup_steps", 3}, {"warmup_samples", 100}}}}));
  auto& m = adapters(*s);
  auto* selector = dynamic_cast<RankSelector*>(s->method);
  ASSERT_NE(selector, nullptr);
  std::vector<torch::Tensor> bases_after_task1;
  int64_t stored_before = 0;
  const auto& tasks = s->stream->tasks;
  const int64_t matrices = static_cast<int64_t>(m.layers().size()) * 2;  // q, v per block
  for (int t = 0; t < 3; ++t) {
    train_task(*s, m, tasks[t], 3);
    const auto& layer0 = m.layers()[0]->part(QkvPart::kQ);
    const int64_t r = layer0.updates.back().factors[1].size(0);
    EXPECT_EQ(r, selector->selections()[static_cast<size_t>(t)].rank);
    if (t == 0) {
      EXPECT_EQ(r, 10);
      for (auto& layer : m.layers())
        for (auto* linear : layer->linears()) {
          bases_after_task1.push_back(linear->updates[0].factors[0].detach().clone());
          bases_after_task1.push_back(linear->updates[0].factors[3].detach().clone());
        }
    } else {
      EXPECT_EQ(m.stored_parameters() - stored_before, matrices * 2 * r * r) << "task " << t;
    }
    stored_before = m.stored_parameters();
  }
  size_t k = 0;
  for (auto& layer : m.layers())
    for (auto* linear : layer->linears()) {
      EXPECT_TRUE(torch::equal(linear->updates[0].factors[0], bases_after_task1[k++]));
      EXPECT_TRUE(torch::equal(linear->updates[0].factors[3], bases_after_task1[k++]));
    }
}

TEST(FmLora, RankSelectorPicksWhatTheFormulaGives) {
  const std::vector<int64_t> ranks = {2, 4, 6, 8, 10};
  std::vector<double> w, b, zero(5, 0.0);
  for (auto r : ranks) w.push_back(2.0 * r / 10.0), b.push_back(-(r / 10.0) * (r / 10.0));
  // argmax of w_r h + b_r = the candidate nearest 10 h.
  EXPECT_EQ(select_rank(0.05, ranks, w, b, 1.0, zero), 2);
  EXPECT_EQ(select_rank(0.58, ranks, w, b, 1.0, zero), 6);
  EXPECT_EQ(select_rank(1.4, ranks, w, b, 1.0, zero), 10);
  // Gumbel noise large enough flips the choice; the paper's b = 0 picks the largest w for h > 0.
  EXPECT_EQ(select_rank(0.58, ranks, w, b, 1.0, {5.0, 0, 0, 0, 0}), 2);
  EXPECT_EQ(select_rank(0.3, ranks, w, zero, 1.0, zero), 10);

  // Inside the method: the recorded complexity and noise give the recorded rank.
  auto s = setup(vit_run(
      "fm-lora", {{"fm-lora", {{"warmup_steps", 3}, {"warmup_samples", 100}, {"gumbel", true}}}}));
  auto& m = adapters(*s);
  for (int t = 0; t < 3; ++t) {
    m.begin_task(s->stream->tasks[t]);
    m.end_task(s->stream->tasks[t]);
  }
  const auto& sel = dynamic_cast<RankSelector*>(s->method)->selections();
  ASSERT_EQ(sel.size(), 3u);
  for (size_t t = 1; t < 3; ++t) {
    EXPECT_GT(sel[t].complexity, 0.0);
    EXPECT_EQ(sel[t].rank, select_rank(sel[t].complexity, ranks, w, b, 1.0, sel[t].gumbel));
  }
}

TEST(InfLora, DesignedAIsOrthogonalToTheRetainedSubspace) {
  auto s = setup(vit_run("inflora", {{"inflora", {{"moment_samples", 200}}}}));
  auto& m = adapters(*s);
  auto* keeper = dynamic_cast<SubspaceKeeper*>(s->method);
  ASSERT_NE(keeper, nullptr);
  const auto& tasks = s->stream->tasks;
  for (int t = 0; t < 3; ++t) {
    m.begin_task(tasks[t]);
    if (t > 0) {
      for (size_t i = 0; i < m.layers().size(); ++i) {
        const auto& basis = keeper->retained_bases()[i];
        ASSERT_GT(basis.size(1), 0);
        ASSERT_LT(basis.size(1), basis.size(0));
        const auto A =
            m.layers()[i]->part(QkvPart::kK).updates.back().factors[1].to(torch::kDouble);
        EXPECT_LT(A.matmul(basis).abs().max().item<double>(), 1e-5) << "block " << i;
        EXPECT_NEAR(A.norm().item<double>(), std::sqrt(10.0 / 3.0), 1e-4);  // orthonormal / sqrt 3
      }
    }
    // Only B_t (and the head) train.
    const auto params = m.trainable_parameters();
    EXPECT_EQ(params.size(), m.layers().size() * 2 + 2);
    torch::optim::Adam adam(params, torch::optim::AdamOptions(1e-3));
    adam.zero_grad();
    m.loss(batch_of(*s->stream, tasks[t], 32)).backward();
    adam.step();
    m.end_task(tasks[t]);
  }
}

TEST(VitMethods, EveryMethodRunsOnTheVitAndStoresWhatItClaims) {
  for (const std::string method : {"finetune", "ewc", "lwf", "er", "seq-lora", "sd-lora",
                                   "sd-lora-rr", "sd-lora-kd", "fm-lora", "inflora"}) {
    nlohmann::json extra = {{"synthetic", {{"classes", 4}}},
                            {"out", ::testing::TempDir() + "vit-" + method}};
    if (method == "fm-lora") extra["fm-lora"] = {{"warmup_steps", 2}};
    if (method == "inflora") extra["inflora"] = {{"moment_samples", 100}};
    auto r = testing::run_quiet(vit_run(method, extra));
    ASSERT_EQ(r.stored_params.size(), 2u) << method;
    if (method == "finetune" || method == "ewc" || method == "lwf" || method == "er") {
      EXPECT_EQ(r.stored_params[0], r.total_params) << method;
    } else {
      EXPECT_LT(r.stored_params[1], r.total_params / 5) << method;
      EXPECT_LT(r.trainable_params[1], r.total_params / 5) << method;
      if (method != "fm-lora") {  // one epoch of 10 steps: enough for a LoRA at lr 0.01
        EXPECT_GT(r.acc_task_il.back().back(), 65.0) << method;  // the task just learned, 2-way
      }
    }
  }
}

TEST(Pretrained, EveryVitMethodStartsFromTheGivenWeightsAndAMismatchIsAClearError) {
  const std::string dir = ::testing::TempDir() + "pretrained";
  std::filesystem::create_directories(dir);
  torch::manual_seed(11);
  Vit source(vit_preset("vit-tiny28"));
  save_backbone_weights(*source, dir + "/tiny.safetensors");
  for (const std::string method : {"finetune", "sd-lora", "inflora"}) {
    auto s = setup(vit_run(method, {{"pretrained", dir + "/tiny.safetensors"}}));
    const auto loaded = s->model->backbone->named_parameters();
    for (const auto& p : source->named_parameters()) {
      EXPECT_TRUE(torch::equal(loaded[p.key()], p.value())) << method << " " << p.key();
    }
  }
  torch::manual_seed(12);
  Vit other(vit_preset("vit-small28"));
  save_backbone_weights(*other, dir + "/small.safetensors");
  std::string out;
  const int code = testing::run_command(
      testing::clbench_cmd("run -b synthetic -m sd-lora --backbone vit-tiny28 --pretrained " + dir +
                           "/small.safetensors --out " + dir + "/runs"),
      out);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("small.safetensors"), std::string::npos) << out;
  EXPECT_NE(out.find("blocks.0.attn.qkv.weight: file has [384, 128], model has [192, 64]"),
            std::string::npos)
      << out;
}

// Resuming the state paths the default configurations do not reach (every method's defaults
// resume bitwise in the conformance suite): Gumbel noise in FM-LoRA's rank choice, SD-LoRA-KD
// absorbing every new direction, SD-LoRA keeping its learned old magnitudes.
struct Variant {
  std::string method;
  nlohmann::json keys;
};

class AdapterVariantResume : public ::testing::TestWithParam<Variant> {};

TEST_P(AdapterVariantResume, StoppedRunsResumeToTheUninterruptedNumbers) {
  const std::string method = GetParam().method;
  // 3 tasks x 2 classes x 48 samples, batch 32, 2 epochs: 6 steps per task.
  auto user = [&](const std::string& out) {
    nlohmann::json extra = {{"synthetic", {{"classes", 6}, {"train_per_class", 48}}},
                            {"batch_size", 32},
                            {"epochs", 2},
                            {"out", ::testing::TempDir() + "resume-" + method + "-" + out}};
    extra[method] = GetParam().keys;
    return testing::plan(vit_run(method, extra));
  };
  LocalCommunicator comm;
  Progress quiet(false, false);
  const auto full = execute(user("full"), comm, quiet);
  for (int stop_at : {9, 12}) {  // mid task 2; the end of task 2's training
    const auto plan = user("stop" + std::to_string(stop_at));
    int steps = 0;
    RunOptions stop;
    stop.checkpoint_every = 4;
    stop.stop_requested = [&] { return ++steps == stop_at; };
    EXPECT_THROW(execute(plan, comm, quiet, stop), Interrupted);
    RunOptions resume;
    resume.resume = true;
    const auto resumed = execute(plan, comm, quiet, resume);
    EXPECT_EQ(testing::bits(resumed.acc_class_il), testing::bits(full.acc_class_il))
        << method << " stopped at " << stop_at;
    EXPECT_EQ(testing::bits(resumed.acc_task_il), testing::bits(full.acc_task_il))
        << method << " stopped at " << stop_at;
    EXPECT_EQ(resumed.stored_params, full.stored_params) << method;
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, AdapterVariantResume,
                         ::testing::Values(Variant{"fm-lora",
                                                   {{"warmup_steps", 2}, {"gumbel", true}}},
                                           Variant{"sd-lora-kd", {{"tau", 10.0}}},
                                           Variant{"sd-lora", {{"reset_magnitudes", false}}}),
                         [](const auto& info) {
                           std::string n = info.param.method;
                           for (auto& c : n) c = c == '-' ? '_' : c;
                           return n;
                         });

}  // namespace
}  // namespace clbench
