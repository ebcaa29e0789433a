#pragma once
// The conformance cases: every registered method on every tiny backbone preset of each backbone
// kind it declares, derived from the registries, so a new method or backbone is covered without
// editing a list. Each case is a tiny synthetic run (2 tasks x 2 classes, 6 steps per task). Used
// by tests/torch/test_conformance.cpp (one rank) and tests/mpi/test_distributed.cpp (two ranks).
#include <algorithm>
#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/types.h>
#include <nlohmann/json.hpp>

#include "harness/models/backbones.h"
#include "methods/method.h"

namespace clbench::testing {

struct ConformanceCase {
  std::string method, backbone;
};

inline void PrintTo(const ConformanceCase& c, std::ostream* os) {
  *os << c.method << " on " << c.backbone;
}

inline bool method_accepts(const MethodEntry& m, const BackboneEntry& b) {
  const auto& kinds = m.requirements.backbone_kinds;
  return kinds.empty() || std::find(kinds.begin(), kinds.end(), b.kind) != kinds.end();
}

inline std::vector<ConformanceCase> conformance_cases() {
  std::vector<ConformanceCase> cases;
  for (const auto& m : methods()) {
    for (const auto& b : backbones()) {
      if (b.tiny && method_accepts(m, b)) cases.push_back({m.name, b.name});
    }
  }
  return cases;
}

inline std::string case_name(const ::testing::TestParamInfo<ConformanceCase>& info) {
  std::string n = info.param.method + "_on_" + info.param.backbone;
  for (auto& c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return n;
}

// 2 tasks x 2 classes, 12 training samples per class, batch 8, 2 epochs: 3 steps per epoch.
// Images of 8 x 8 pixels (the ResNet's last stage still sees 1 x 1), 28 x 28 for the ViT's patches.
inline nlohmann::json conformance_config(const ConformanceCase& c) {
  const auto& backbone = find_backbone(c.backbone);
  nlohmann::json user = {{"benchmark", "synthetic"},
                         {"method", c.method},
                         {"backbone", c.backbone},
                         {"device", "cpu"},
                         {"epochs", 2},
                         {"batch_size", 8},
                         {"threads", 1},
                         {"synthetic.classes", 4},
                         {"synthetic.train_per_class", 12},
                         {"synthetic.test_per_class", 10},
                         {"synthetic.side", backbone.kind == "vit" ? 28 : 8}};
  const auto& method = find_method(c.method);
  if (!method.requirements.scenarios.empty()) user["scenario"] = method.requirements.scenarios[0];
  if (method.requirements.pretrained_backbone) user["pretrained"] = "none";  // tiny: random weights
  for (const auto& [key, value] : method.tiny.items()) user[c.method + "." + key] = value;
  return user;
}

constexpr int kConformanceStepsPerTask = 6;
// The stop signal is polled at every training step, every evaluation batch (one per task's test
// set here) and every batch of a sum over samples. Before task 2 begins: 2 evaluation batches, 6
// steps and 2 more evaluation batches (plus any sums of the method's end_task).
constexpr int kConformancePollsBeforeTask2 = 2 + kConformanceStepsPerTask + 2;

// Parameters trained in another order of summation (`other`) against the `reference` run: the gap
// as a fraction of how far halving the learning rate moves the same run (`halved`), a change of the
// arithmetic that a mistake (a mean taken twice) would make. Rounding, magnified by training, stays
// far below 1% of it on Intel's and AMD's kernels; a mistake is of its size. Prints the margin.
inline ::testing::AssertionResult within_rounding_of(const torch::Tensor& other,
                                                     const torch::Tensor& reference,
                                                     const torch::Tensor& halved) {
  const double gap = (other - reference).norm().item<double>();
  const double change = (halved - reference).norm().item<double>();
  if (!(change > 0)) {
    return ::testing::AssertionFailure()
           << "the learning rate changes nothing: the check cannot tell";
  }
  std::printf("[ margin ] gap %.3g of a halved learning rate's change\n", gap / change);
  if (gap / change <= 0.01) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "gap " << gap << " is " << gap / change
                                       << " of a halved learning rate's change " << change;
}

}  // namespace clbench::testing
