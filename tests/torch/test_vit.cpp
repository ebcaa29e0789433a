// The ViT backbone (timm layout, Dosovitskiy et al. 2021): shapes, parameter names, attention,
// resizing, the qkv adapter hook, and a PyTorch reference. Its weights files: test_weights.cpp.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include "harness/foundation/error.h"
#include "harness/models/backbones.h"
#include "harness/models/vit.h"
#include "harness/models/weights.h"
#include "support.h"
#include "tests/core/fixtures.h"
#include "tests/torch/vit_fixtures.h"

namespace clbench {
namespace {

using namespace vit_testing;
namespace fs = std::filesystem;

// --- ViT ----------------------------------------------------------------------------------------

TEST(Vit, B16HasTimmParameterCountAndGives768Features) {
  torch::manual_seed(0);
  std::shared_ptr<BackboneImpl> vit;
  for (const auto& b : backbones()) {
    if (b.name == "vit-b16") vit = b.make({3, 224, 224});
  }
  ASSERT_NE(vit, nullptr);
  // timm vit_base_patch16_224 with num_classes=0.
  EXPECT_EQ(count_parameters(vit->parameters()), 85'798'656);
  EXPECT_EQ(vit->feature_dim(), 768);
  torch::NoGradGuard no_grad;
  vit->eval();
  auto features = vit->forward(torch::rand({2, 3, 224, 224}));
  EXPECT_EQ(features.sizes(), (std::vector<int64_t>{2, 768}));
  EXPECT_TRUE(torch::isfinite(features).all().item<bool>());
}

TEST(Vit, SmallPresetsTrainOn28x28GreyImages) {
  torch::manual_seed(0);
  for (const auto& [name, dim] :
       std::vector<std::pair<std::string, int64_t>>{{"vit-tiny28", 64}, {"vit-small28", 128}}) {
    auto model = make_classifier(name, {1, 28, 28}, 10);
    auto logits = model->forward(torch::rand({4, 1, 28, 28}));
    EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{4, 10})) << name;
    EXPECT_EQ(model->backbone->feature_dim(), dim) << name;
    logits.sum().backward();
    for (const auto& p : model->named_parameters()) {
      EXPECT_TRUE(p.value().grad().defined()) << name << " " << p.key();
    }
  }
}

TEST(Vit, ParameterNamesAreTimmStateDictKeys) {
  Vit vit(small_options());
  std::vector<std::string> names;
  for (const auto& item : vit->named_parameters(true)) names.push_back(item.key());
  EXPECT_EQ(names, timm_keys(2));  // same keys, in timm's state_dict order
  EXPECT_TRUE(vit->named_buffers(true).is_empty());
  auto params = vit->named_parameters(true);
  EXPECT_EQ(params["pos_embed"].sizes(), (std::vector<int64_t>{1, 50, 64}));
  EXPECT_EQ(params["cls_token"].sizes(), (std::vector<int64_t>{1, 1, 64}));
  EXPECT_EQ(params["patch_embed.proj.weight"].sizes(), (std::vector<int64_t>{64, 3, 4, 4}));
  EXPECT_EQ(params["blocks.1.attn.qkv.weight"].sizes(), (std::vector<int64_t>{192, 64}));
  EXPECT_EQ(params["blocks.1.mlp.fc1.weight"].sizes(), (std::vector<int64_t>{128, 64}));
}

TEST(Vit, FusedAttentionEqualsExplicitSoftmaxAttention) {
  torch::manual_seed(1);
  VitAttention attn(32, 4, true);
  {
    torch::NoGradGuard g;
    attn->qkv->bias.normal_(0, 0.5);
    attn->proj->bias.normal_(0, 0.5);
  }
  auto x = torch::randn({3, 10, 32});
  auto fused = attn->forward(x);
  // softmax(q k^T / sqrt(d)) v per head, from the same weights.
  auto qkv = torch::nn::functional::linear(x, attn->qkv->weight, attn->qkv->bias);
  auto heads = [&](int64_t part) {
    return qkv.narrow(2, part * 32, 32).reshape({3, 10, 4, 8}).permute({0, 2, 1, 3});
  };
  auto q = heads(0), k = heads(1), v = heads(2);
  auto weights = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(8.0), -1);
  auto out = torch::matmul(weights, v).permute({0, 2, 1, 3}).reshape({3, 10, 32});
  auto expected = attn->proj->forward(out);
  EXPECT_TRUE(torch::allclose(fused, expected, 1e-5, 1e-5))
      << (fused - expected).abs().max().item<double>();
}

TEST(Vit, ResizesImagesAndAdaptsChannels) {
  torch::manual_seed(2);
  Vit grey(vit_preset("vit-tiny28"));
  grey->eval();
  torch::NoGradGuard no_grad;
  auto rgb = torch::rand({2, 3, 32, 32});
  EXPECT_EQ(grey->prepare(rgb).sizes(), (std::vector<int64_t>{2, 1, 28, 28}));
  EXPECT_EQ(grey->forward(rgb).sizes(), (std::vector<int64_t>{2, 64}));
  auto x = torch::rand({2, 1, 28, 28});
  EXPECT_TRUE(torch::equal(grey->prepare(x), x));  // right size: untouched

  Vit color(small_options());
  color->eval();
  auto g = torch::rand({2, 1, 20, 20});
  EXPECT_EQ(color->prepare(g).sizes(), (std::vector<int64_t>{2, 3, 28, 28}));
  EXPECT_TRUE(torch::equal(color->forward(g), color->forward(g.repeat({1, 3, 1, 1}))));
  EXPECT_NE(error_of([&] { color->forward(torch::rand({2, 2, 28, 28})); }), "");
  EXPECT_NE(error_of([&] { Vit(VitOptions().image_size(30).patch_size(4)); }).find("patch_size"),
            std::string::npos);
  EXPECT_NE(error_of([&] { Vit(VitOptions().dim(100).heads(3)); }).find("heads"),
            std::string::npos);
}

// Adds `delta` to the q rows of block 0's fused qkv output (what a LoRA on q does).
struct AddToQ : VitHooks {
  explicit AddToQ(double d) : delta(d) {}
  torch::Tensor qkv(size_t block, const torch::Tensor&, const torch::Tensor& qkv) override {
    if (block != 0) return qkv;
    const int64_t d = qkv.size(-1) / 3;
    return torch::cat({qkv.narrow(-1, 0, d) + delta, qkv.narrow(-1, d, 2 * d)}, -1);
  }
  double delta;
};

// Prefix-tuning: P keys and values in front of the block's own, the queries unchanged.
TEST(Vit, APrefixKeepsTheSequenceLengthAndAttendsAsTheFormulaSays) {
  torch::manual_seed(11);
  VitAttention attn(32, 4, true);
  {
    torch::NoGradGuard g;
    attn->qkv->bias.normal_(0, 0.5);
  }
  const auto x = torch::randn({3, 10, 32});
  const KeyValuePrefix prefix{torch::randn({3, 2, 32}), torch::randn({3, 2, 32})};
  const auto with = [&](const KeyValuePrefix& p) {
    TestHooks hooks;
    hooks.prefixes = {p};
    return attn->forward(x, &hooks, 0);
  };
  const auto got = with(prefix);
  EXPECT_EQ(got.sizes(), x.sizes());
  // softmax(q [pk; k]^T / sqrt(d)) [pv; v] per head, from the same weights.
  const auto qkv = torch::nn::functional::linear(x, attn->qkv->weight, attn->qkv->bias);
  const auto heads = [](const torch::Tensor& t) {
    return t.reshape({3, t.size(1), 4, 8}).permute({0, 2, 1, 3});
  };
  const auto q = heads(qkv.narrow(2, 0, 32));
  const auto k = torch::cat({heads(prefix.keys), heads(qkv.narrow(2, 32, 32))}, 2);
  const auto v = torch::cat({heads(prefix.values), heads(qkv.narrow(2, 64, 32))}, 2);
  const auto weights = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(8.0), -1);
  const auto expected =
      attn->proj->forward(torch::matmul(weights, v).permute({0, 2, 1, 3}).reshape({3, 10, 32}));
  EXPECT_TRUE(torch::allclose(got, expected, 1e-5, 1e-5))
      << (got - expected).abs().max().item<double>();
  EXPECT_FALSE(torch::allclose(got, attn->forward(x), 1e-3, 1e-3)) << "the prefix changed nothing";
  // One prefix {P, D} for every sample is that prefix repeated.
  const KeyValuePrefix shared{prefix.keys[0], prefix.values[0]};
  const KeyValuePrefix repeated{prefix.keys[0].expand({3, -1, -1}),
                                prefix.values[0].expand({3, -1, -1})};
  EXPECT_TRUE(torch::equal(with(shared), with(repeated)));
  testing::expect_error(
      [&] {
        with({torch::zeros({2, 31}), torch::zeros({2, 31})});
      },
      {"key/value prefix", "[2, 31]"});
  testing::expect_error(
      [&] {
        with({torch::zeros({2, 32}), torch::zeros({3, 32})});
      },
      {"as many keys as values"});
}

TEST(Vit, EmptyHooksLeaveTheFeaturesBitIdenticalAndFilledOnesChangeThem) {
  torch::manual_seed(12);
  Vit vit(vit_preset("vit-tiny28"));
  torch::NoGradGuard no_grad;
  const auto images = torch::rand({2, 1, 28, 28});
  const auto plain = vit->forward(images);
  auto hooks = std::make_shared<TestHooks>();
  vit->hooks = hooks;
  EXPECT_TRUE(torch::equal(vit->forward(images), plain)) << "hooks that add nothing";
  hooks->tokens = torch::zeros({0, 64});
  hooks->prefixes = {{torch::zeros({0, 64}), torch::zeros({0, 64})}};
  EXPECT_TRUE(torch::equal(vit->forward(images), plain)) << "zero-length tokens and prefix";
  hooks->tokens = torch::randn({3, 64});
  const auto prompted = vit->forward(images);
  EXPECT_FALSE(torch::allclose(prompted, plain, 1e-3, 1e-3));
  hooks->tokens = hooks->tokens.unsqueeze(0).expand({2, -1, -1}).contiguous();
  EXPECT_TRUE(torch::equal(vit->forward(images), prompted)) << "{P, D} is {B, P, D} repeated";
  hooks->tokens = torch::Tensor();
  hooks->prefixes = {{}, {torch::randn({2, 4, 64}), torch::randn({2, 4, 64})}};  // block 1 only
  EXPECT_FALSE(torch::allclose(vit->forward(images), plain, 1e-3, 1e-3));
}

// The query of the prompt methods: the frozen backbone's features, whatever the hooks add, with no
// gradient; the hooks stay in place for the prompted forward.
TEST(Vit, TheQueryIsTheForwardWithoutHooksAndWithoutGradients) {
  torch::manual_seed(13);
  Vit vit(vit_preset("vit-tiny28"));
  const auto images = torch::rand({2, 1, 28, 28});
  torch::Tensor plain;
  {
    torch::NoGradGuard no_grad;
    plain = vit->forward(images);
  }
  auto hooks = std::make_shared<TestHooks>();
  hooks->tokens = torch::randn({3, 64}, torch::requires_grad());
  hooks->prefixes = {{torch::randn({4, 64}, torch::requires_grad()), torch::randn({4, 64})}};
  vit->hooks = hooks;
  const auto query = vit->query(images);
  EXPECT_TRUE(torch::equal(query, plain));
  EXPECT_FALSE(query.requires_grad());
  EXPECT_EQ(vit->hooks, hooks);
  const auto prompted = vit->forward(images);
  EXPECT_TRUE(prompted.requires_grad());
  EXPECT_FALSE(torch::allclose(prompted.detach(), plain, 1e-3, 1e-3));
}

TEST(Vit, QkvAdapterHookAndSliceViews) {
  torch::manual_seed(3);
  Vit vit(small_options());
  vit->eval();
  torch::NoGradGuard no_grad;
  auto x = torch::rand({2, 3, 28, 28});
  auto plain = vit->forward(x);
  auto& attn = *vit->block(0).attn;
  vit->hooks = std::make_shared<AddToQ>(0.0);
  EXPECT_TRUE(torch::equal(vit->forward(x), plain));
  vit->hooks = std::make_shared<AddToQ>(0.5);
  EXPECT_FALSE(torch::allclose(vit->forward(x), plain));
  vit->hooks.reset();
  EXPECT_TRUE(torch::equal(vit->forward(x), plain));
  // The q/k/v views share memory with the fused weight, laid out [q | k | v].
  auto v = attn.qkv_weight(QkvPart::kV);
  EXPECT_EQ(v.sizes(), (std::vector<int64_t>{64, 64}));
  EXPECT_TRUE(torch::equal(v, attn.qkv->weight.narrow(0, 128, 64)));
  EXPECT_EQ(v.data_ptr(), attn.qkv->weight[128].data_ptr());
  EXPECT_EQ(attn.qkv_bias(QkvPart::kK).data_ptr(), attn.qkv->bias[64].data_ptr());
  EXPECT_EQ(vit->depth(), 2u);
}

TEST(Vit, RegistryListsThePresets) {
  auto names = backbone_names();
  for (const char* n :
       {"mlp", "cnn", "vit-b16", "vit-s16", "vit-ti16", "vit-tiny28", "vit-small28"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  }
  EXPECT_EQ(vit_preset("vit-s16").dim(), 384);
  EXPECT_EQ(vit_preset("vit-ti16").heads(), 3);
  EXPECT_EQ(vit_preset("vit-small28").depth(), 6);
  EXPECT_NE(error_of([] { vit_preset("vit-huge"); }).find("vit-b16"), std::string::npos);
}

// Runs bench/vit_crosscheck.py (a timm-equivalent ViT in plain PyTorch) when a Python with torch
// is at hand, and compares features, resizing and pos_embed resampling with it.
TEST(Vit, MatchesPytorchReference) {
  std::string python = std::getenv("CLBENCH_PYTHON") ? std::getenv("CLBENCH_PYTHON") : "";
  if (python.empty()) {
    const std::string venv = std::string(CLBENCH_SOURCE_DIR) + "/.venv/bin/python";
    python = fs::exists(venv) ? venv : "python3";
  }
  TempDir dir;
  const std::string script = std::string(CLBENCH_SOURCE_DIR) + "/bench/vit_crosscheck.py";
  std::string output;
  const int status =
      testing::run_command(python + " " + script + " --out " + dir.root() + "/", output);
  if (status == 127 || output.find("No module named 'torch'") != std::string::npos) {
    GTEST_SKIP() << "no Python with torch (" << python << "); set CLBENCH_PYTHON";
  }
  ASSERT_EQ(status, 0) << output;
  std::map<std::string, std::string> meta;
  auto ref = read_safetensors(dir / "reference.safetensors", SafetensorsFloats::kFloat32, &meta);
  auto opts = VitOptions()
                  .image_size(std::stoll(meta.at("image_size")))
                  .patch_size(std::stoll(meta.at("patch_size")))
                  .in_channels(std::stoll(meta.at("in_channels")))
                  .dim(std::stoll(meta.at("dim")))
                  .depth(std::stoll(meta.at("depth")))
                  .heads(std::stoll(meta.at("heads")))
                  .mlp_ratio(std::stod(meta.at("mlp_ratio")));
  Vit vit(opts);
  load_backbone_weights(*vit, dir / "weights.safetensors");
  vit->eval();
  torch::NoGradGuard no_grad;
  for (const char* input : {"images", "small", "large"}) {
    auto got = vit->forward(ref.at(input));
    auto want =
        ref.at(input == std::string("images") ? "features" : input + std::string("_features"));
    EXPECT_TRUE(torch::allclose(got, want, 1e-4, 1e-5))
        << input << ": " << (got - want).abs().max().item<double>();
  }
  for (int64_t g : {4, 10}) {
    auto got = resample_pos_embed(vit->pos_embed, g);
    auto want = ref.at("pos_embed_" + std::to_string(g));
    EXPECT_TRUE(torch::allclose(got, want, 1e-5, 1e-6))
        << g << ": " << (got - want).abs().max().item<double>();
  }
}

}  // namespace
}  // namespace clbench
