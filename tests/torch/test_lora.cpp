// LoRA infrastructure (methods/adapters/lora.h): zero-initialised updates, factors against the
// dense update, merging, parts, SD-LoRA-KD's assimilation. The methods: test_adapter_methods.cpp.
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

namespace clbench {
namespace {

using testing::setup;

Vit tiny_vit() {
  torch::manual_seed(3);
  return Vit(vit_preset("vit-tiny28"));
}

at::Generator gen(uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

void randomize(LowRankUpdate& u, at::Generator& g) {
  torch::NoGradGuard no_grad;
  for (auto& f : u.factors) f.normal_(0.0, 0.5, g);
}

TEST(Lora, ZeroInitialisedAdapterLeavesOutputsBitIdentical) {
  auto vit = tiny_vit();
  vit->eval();
  const auto x = torch::rand({3, 1, 28, 28});
  torch::NoGradGuard no_grad;
  const auto plain = vit->forward(x);
  auto g = gen(1);
  for (auto& layer : install_qkv_lora(*vit, {QkvPart::kQ, QkvPart::kV})) {
    for (auto* linear : layer->linears())
      linear->updates.push_back(
          make_lora_update(linear->out_features(), linear->in_features(), 4, g));
  }
  EXPECT_TRUE(torch::equal(vit->forward(x), plain));
}

TEST(Lora, DeltaThroughTheFactorsEqualsTheDenseUpdate) {
  auto g = gen(2);
  const auto bias = torch::randn({12});
  LoraLinear linear(torch::randn({12, 16}), bias);
  for (int k = 0; k < 3; ++k) {
    auto u = make_lora_update(12, 16, 3, g);
    randomize(u, g);
    linear.updates.push_back(u);
  }
  linear.updates[0].magnitude = torch::full({1}, 0.7);
  linear.updates[1].freeze(LoraNorm::kFactorNorms);
  linear.updates[1].assimilated = torch::full({1}, 0.25);
  linear.updates[2].freeze(LoraNorm::kProduct);
  const auto x = torch::randn({5, 4, 16});
  const auto dense = torch::linear(x, linear.weight() + linear.delta_weight(), bias);
  EXPECT_TRUE(torch::allclose(linear.forward(x), dense, 1e-4, 1e-5));
  // Normalised directions have the norm the option names.
  const auto& f = linear.updates[1].factors;
  EXPECT_NEAR(linear.updates[1].direction().norm().item<double>(),
              (f[0].matmul(f[1]).norm() / (f[0].norm() * f[1].norm())).item<double>(), 1e-6);
  EXPECT_NEAR(linear.updates[2].direction().norm().item<double>(), 1.0, 1e-5);
}

TEST(Lora, MergedAndUnmergedForwardAgree) {
  auto vit = tiny_vit();
  vit->eval();
  auto g = gen(3);
  auto layers = install_qkv_lora(*vit, {QkvPart::kQ, QkvPart::kV});
  for (auto& layer : layers) {
    for (auto* linear : layer->linears()) {
      auto u = make_lora_update(linear->out_features(), linear->in_features(), 4, g);
      randomize(u, g);
      u.magnitude = torch::full({1}, 0.8);
      linear->updates.push_back(u);
    }
  }
  torch::NoGradGuard no_grad;
  const auto x = torch::rand({4, 1, 28, 28});
  const auto before = layers[0]->part(QkvPart::kQ).weight().clone();
  const auto unmerged = vit->forward(x);
  for (auto& layer : layers) layer->merge();
  EXPECT_FALSE(torch::equal(layers[0]->part(QkvPart::kQ).weight(), before));
  const auto merged = vit->forward(x);
  EXPECT_TRUE(torch::allclose(merged, unmerged, 1e-5, 1e-5))
      << (merged - unmerged).abs().max().item<double>();
  for (auto& layer : layers) layer->unmerge();
  EXPECT_TRUE(torch::allclose(layers[0]->part(QkvPart::kQ).weight(), before, 0, 1e-6));
  EXPECT_TRUE(torch::allclose(vit->forward(x), unmerged, 1e-5, 1e-5));
}

TEST(Lora, PartsNameTheSlicesOfTheFusedQkv) {
  EXPECT_EQ(qkv_parts({"k", "v"}), (std::vector<QkvPart>{QkvPart::kK, QkvPart::kV}));
  EXPECT_EQ(qkv_parts({"v", "q"}), (std::vector<QkvPart>{QkvPart::kV, QkvPart::kQ}));
  // The spec refuses other words and repeats (the error names the key: tests/core/test_config.cpp).
  EXPECT_THROW(list_elements(qkv_parts_spec(), {}, "q,x"), Error);
  EXPECT_THROW(list_elements(qkv_parts_spec(), {}, "q,q"), Error);
  EXPECT_THROW(list_elements(qkv_parts_spec(), {}, ""), Error);
  EXPECT_THROW(parse_lora_norm("l2", "m.norm"), Error);
}

TEST(Lora, KnowledgeDistillationAbsorbsASpannedDirectionAndKeepsAnOrthogonalOne) {
  auto g = gen(4);
  LoraLinear linear(torch::randn({10, 12}));
  // Two old directions whose A rows live in input dims [0, 6).
  for (int k = 0; k < 2; ++k) {
    auto u = make_lora_update(10, 12, 2, g);
    randomize(u, g);
    torch::NoGradGuard no_grad;
    u.factors[1].narrow(1, 6, 6).zero_();
    u.freeze(LoraNorm::kFactorNorms);
    linear.updates.push_back(u);
  }
  const auto& u0 = linear.updates[0];
  const auto& u1 = linear.updates[1];
  // New update = 0.3 dir0 + 0.5 dir1 (exactly, as [B0 B1] [A0; A1] with scaled B).
  LowRankUpdate spanned;
  spanned.factors = {
      torch::cat({u0.factors[0] * (0.3 * u0.inv_norm), u1.factors[0] * (0.5 * u1.inv_norm)}, 1),
      torch::cat({u0.factors[1], u1.factors[1]}, 0)};
  spanned.task = 2;
  const double n = (spanned.factors[0].norm() * spanned.factors[1].norm()).item<double>();
  linear.updates.push_back(spanned);
  ASSERT_TRUE(assimilate_last_update(linear, LoraNorm::kFactorNorms, 9e-4));
  EXPECT_TRUE(linear.updates.back().dropped);
  EXPECT_EQ(linear.updates.back().factors[0].abs().sum().item<double>(), 0.0);
  // The coefficients fitted on the normalised direction: c_k = w_k / ||B|| ||A|| of the new one.
  EXPECT_NEAR(linear.updates[0].assimilated.item<double>(), 0.3 / n, 1e-4);
  EXPECT_NEAR(linear.updates[1].assimilated.item<double>(), 0.5 / n, 1e-4);

  // A direction on input dims [6, 12) is orthogonal to both: kept.
  auto orthogonal = make_lora_update(10, 12, 2, g);
  randomize(orthogonal, g);
  {
    torch::NoGradGuard no_grad;
    orthogonal.factors[1].narrow(1, 0, 6).zero_();
  }
  linear.updates.push_back(orthogonal);
  EXPECT_FALSE(assimilate_last_update(linear, LoraNorm::kFactorNorms, 9e-4));
  EXPECT_FALSE(linear.updates.back().dropped);
}

}  // namespace
}  // namespace clbench
