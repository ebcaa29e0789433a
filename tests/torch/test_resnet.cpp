// ResNets with torchvision's layout (harness/models/resnet.h): names, parameter counts, weights,
// and the batch norm whose running statistics do not depend on how a batch is spread over ranks
// (harness/models/batch_norm.h, harness/engine/running_statistics.h).
#include <set>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "harness/distributed/communicator.h"
#include "harness/engine/progress.h"
#include "harness/engine/running_statistics.h"
#include "harness/models/backbones.h"
#include "harness/models/resnet.h"
#include "harness/models/weights.h"
#include "harness/run/session.h"
#include "support.h"
#include "tests/core/fixtures.h"
#include "vit_fixtures.h"

namespace clbench {
namespace {

using testing::TempDir;
using vit_testing::error_of;
using vit_testing::state_of;

std::shared_ptr<ResNetImpl> make(const std::string& name,
                                 std::vector<int64_t> input = {3, 32, 32}) {
  return std::dynamic_pointer_cast<ResNetImpl>(find_backbone(name).make(input));
}

std::set<std::string> names_of(const torch::nn::Module& m) {
  std::set<std::string> out;
  for (const auto& p : m.named_parameters(true)) out.insert(p.key());
  for (const auto& b : m.named_buffers(true)) out.insert(b.key());
  return out;
}

TEST(ResNet, TorchvisionParameterCountsWithoutTheHead) {
  // torchvision: 11,689,512 / 21,797,672 / 25,557,032 with the 1000-class fc.
  EXPECT_EQ(count_parameters(make("resnet18")->parameters()), 11689512 - (512 * 1000 + 1000));
  EXPECT_EQ(count_parameters(make("resnet18")->parameters()), 11176512);
  EXPECT_EQ(count_parameters(make("resnet34")->parameters()), 21797672 - (512 * 1000 + 1000));
  EXPECT_EQ(count_parameters(make("resnet50")->parameters()), 25557032 - (2048 * 1000 + 1000));
}

TEST(ResNet, ParametersAndBuffersCarryTorchvisionNames) {
  const auto r18 = names_of(*make("resnet18"));
  for (const char* n : {"conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean",
                        "bn1.running_var", "bn1.num_batches_tracked", "layer1.0.conv1.weight",
                        "layer1.1.bn2.running_var", "layer2.0.downsample.0.weight",
                        "layer2.0.downsample.1.num_batches_tracked", "layer4.1.conv2.weight"}) {
    EXPECT_TRUE(r18.count(n)) << n;
  }
  EXPECT_FALSE(r18.count("layer1.0.downsample.0.weight"));  // 64 -> 64, stride 1: identity
  EXPECT_FALSE(r18.count("fc.weight"));
  // 20 convolutions and 20 norms: 60 parameters and 60 buffers, as torchvision without fc.
  EXPECT_EQ(r18.size(), 120u);
  const auto r50 = names_of(*make("resnet50"));
  for (const char* n : {"layer1.0.conv3.weight", "layer1.0.downsample.0.weight",
                        "layer4.2.bn3.running_mean", "layer3.5.conv2.weight"}) {
    EXPECT_TRUE(r50.count(n)) << n;
  }
}

TEST(ResNet, StemsWidthsAndFeatures) {
  torch::NoGradGuard no_grad;
  const auto tiny = make("resnet-tiny", {1, 28, 28});
  tiny->eval();
  EXPECT_EQ(tiny->feature_dim(), 128);
  EXPECT_EQ(tiny->forward(torch::rand({2, 1, 28, 28})).sizes(), (std::vector<int64_t>{2, 128}));
  EXPECT_EQ(tiny->stem(torch::rand({1, 1, 28, 28})).size(2), 28);  // CIFAR stem: no downsampling
  const auto r18 = make("resnet18", {1, 28, 28});
  r18->eval();
  EXPECT_EQ(r18->stem(torch::rand({1, 3, 64, 64})).size(2), 16);  // 7x7 stride 2 + max-pool
  // A grey image is repeated to the three input channels of the torchvision network.
  const auto grey = torch::rand({1, 1, 32, 32});
  EXPECT_TRUE(torch::equal(r18->forward(grey), r18->forward(grey.expand({-1, 3, -1, -1}))));
  EXPECT_EQ(make("resnet18-reduced", {3, 32, 32})->feature_dim(), 160);
  EXPECT_EQ(make("resnet50")->feature_dim(), 2048);
}

TEST(ResNetWeights, TorchvisionNamedSafetensorsRoundTripWithTheirBatchNormBuffers) {
  TempDir dir;
  torch::manual_seed(3);
  const auto a = make("resnet-tiny", {1, 12, 12});
  {
    torch::NoGradGuard no_grad;
    for (auto& b : a->buffers()) {
      if (b.is_floating_point())
        b.uniform_(0.5, 1.5);
      else
        b.fill_(7);
    }
  }
  auto state = state_of(*a);
  for (const auto& b : a->named_buffers(true)) state[b.key()] = b.value().clone();
  state["fc.weight"] = torch::zeros({10, 128});  // a torchvision head: ignored
  state["fc.bias"] = torch::zeros({10});
  write_safetensors(dir / "a.safetensors", state);
  torch::manual_seed(4);
  const auto b = make("resnet-tiny", {1, 12, 12});
  load_backbone_weights(*b, dir / "a.safetensors");
  for (const auto& p : a->named_parameters(true))
    EXPECT_TRUE(torch::equal(p.value(), b->named_parameters(true)[p.key()])) << p.key();
  for (const auto& p : a->named_buffers(true))
    EXPECT_TRUE(torch::equal(p.value(), b->named_buffers(true)[p.key()])) << p.key();

  auto missing = state;
  missing.erase("layer1.0.bn1.running_var");
  write_safetensors(dir / "missing.safetensors", missing);
  auto message = error_of([&] { load_backbone_weights(*b, dir / "missing.safetensors"); });
  EXPECT_NE(message.find("layer1.0.bn1.running_var: missing from the file (model has [16])"),
            std::string::npos)
      << message;
  auto shaped = state;
  shaped["conv1.weight"] = torch::zeros({16, 3, 3, 3});
  write_safetensors(dir / "shaped.safetensors", shaped);
  message = error_of([&] { load_backbone_weights(*b, dir / "shaped.safetensors"); });
  EXPECT_NE(message.find("conv1.weight: file has [16, 3, 3, 3], model has [16, 1, 3, 3]"),
            std::string::npos)
      << message;
}

TEST(BatchNorm, TrainingNormalisesWithTheBatchAndUpdatesLikePyTorch) {
  torch::manual_seed(5);
  BatchNorm2d ours(4);
  torch::nn::BatchNorm2d theirs(4);
  const auto x = torch::randn({6, 4, 5, 5}) * 3 + 1;
  EXPECT_TRUE(torch::allclose(ours->forward(x), theirs->forward(x), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(ours->running_mean, theirs->running_mean, 1e-6, 1e-7));
  EXPECT_TRUE(torch::allclose(ours->running_var, theirs->running_var, 1e-6, 1e-7));
  EXPECT_EQ(ours->num_batches_tracked.item<int64_t>(), 1);
  ours->eval();
  theirs->eval();
  const auto before = ours->running_mean.clone();
  EXPECT_TRUE(torch::allclose(ours->forward(x), theirs->forward(x), 1e-5, 1e-6));
  EXPECT_TRUE(torch::equal(before, ours->running_mean));  // eval mode: no update
}

TEST(BatchNorm, UpdatesOfShardsWaitForTheStepAndApplyInShardOrder) {
  torch::manual_seed(6);
  BatchNorm2d deferred(3), direct(3);
  const auto x0 = torch::randn({4, 3, 2, 2}), x1 = torch::randn({4, 3, 2, 2}) + 2;
  std::vector<torch::Tensor> out;
  {
    const ShardScope second(1);  // this rank's shards may run in any order
    out.push_back(deferred->forward(x1));
  }
  {
    const ShardScope first(0);
    out.push_back(deferred->forward(x0));
  }
  EXPECT_TRUE(torch::equal(deferred->running_mean, torch::zeros({3})));  // not yet
  LocalCommunicator comm;
  apply_running_statistics(comm, 2);
  direct->forward(x0);
  direct->forward(x1);
  EXPECT_TRUE(torch::allclose(deferred->running_mean, direct->running_mean, 1e-6, 1e-7));
  EXPECT_TRUE(torch::allclose(deferred->running_var, direct->running_var, 1e-6, 1e-7));
  EXPECT_EQ(deferred->num_batches_tracked.item<int64_t>(), 2);
  // Normalisation is each shard's own, exactly as an unsharded forward of that shard.
  BatchNorm2d plain(3);
  EXPECT_TRUE(torch::equal(out[0], plain->forward(x1)));
  // An empty shard normalises nothing and records no update.
  {
    const ShardScope empty(0);
    EXPECT_EQ(deferred->forward(torch::zeros({0, 3, 2, 2})).size(0), 0);
  }
  const auto mean = deferred->running_mean.clone();
  apply_running_statistics(comm, 1);
  EXPECT_TRUE(torch::equal(mean, deferred->running_mean));
}

// Train mode at every training step (one running-statistics update per shard of each step), eval
// mode in every evaluation (none there): the counter of batches tracked is exactly the formula.
TEST(BatchNorm, ARunUpdatesTheStatisticsOncePerShardOfEveryTrainingStepAndNeverWhileEvaluating) {
  for (int shards : {1, 2}) {
    auto s = testing::setup({{"benchmark", "synthetic"},
                             {"method", "finetune"},
                             {"backbone", "resnet-tiny"},
                             {"epochs", 2},
                             {"batch_size", 16},
                             {"threads", 1},
                             {"grad_shards", shards},
                             {"synthetic.classes", 4},
                             {"synthetic.train_per_class", 24},
                             {"synthetic.test_per_class", 10}});
    Progress quiet(false, false);
    train_session(*s->session, s->comm, quiet);
    const int64_t steps = 2 /*tasks*/ * 2 /*epochs*/ * (2 * 24 / 16);
    for (const auto& b : s->model->backbone->named_buffers(true)) {
      if (b.key().find("num_batches_tracked") == std::string::npos) continue;
      EXPECT_EQ(b.value().item<int64_t>(), steps * shards) << b.key();
    }
  }
}

}  // namespace
}  // namespace clbench
