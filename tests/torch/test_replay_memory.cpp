// The replay memories (methods/replay/): class-balanced, reservoir, ring buffers, herding.
#include "methods/replay/class_balanced.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "methods/replay/herding.h"
#include "methods/replay/stream_memories.h"

namespace clbench {
namespace {

using Samples = std::vector<int64_t>;
using Counts = std::map<int64_t, int64_t>;

// Candidates of class c: c*1000, c*1000+1, ... (n of them), so each sample reveals its class.
Samples candidates(int64_t c, int64_t n) {
  Samples s;
  for (int64_t i = 0; i < n; ++i) s.push_back(c * 1000 + i);
  return s;
}

Samples first(const Samples& s, size_t n) {
  return Samples(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(n));
}

// The stored samples of class c, in stored order.
Samples of_class(const ClassBalancedMemory& m, int64_t c) {
  Samples out;
  for (int64_t s : m.samples()) {
    if (s / 1000 == c) out.push_back(s);
  }
  return out;
}

TEST(ClassBalancedMemory, StartsEmpty) {
  ClassBalancedMemory m(10);
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(m.capacity(), 10);
  EXPECT_TRUE(m.samples().empty());
  EXPECT_TRUE(m.counts().empty());
  m.update({});
  EXPECT_TRUE(m.empty());
}

TEST(ClassBalancedMemory, SplitsCapacityAndKeepsFirstSamples) {
  ClassBalancedMemory m(10);
  m.update({{0, candidates(0, 20)}, {1, candidates(1, 20)}});
  EXPECT_FALSE(m.empty());
  EXPECT_EQ(m.counts(), (Counts{{0, 5}, {1, 5}}));
  EXPECT_EQ(m.samples().size(), 10u);
  EXPECT_EQ(of_class(m, 0), first(candidates(0, 20), 5));
  EXPECT_EQ(of_class(m, 1), first(candidates(1, 20), 5));

  const Samples old0 = of_class(m, 0), old1 = of_class(m, 1);
  m.update({{2, candidates(2, 20)}, {3, candidates(3, 20)}, {4, candidates(4, 20)}});
  EXPECT_EQ(m.counts(), (Counts{{0, 2}, {1, 2}, {2, 2}, {3, 2}, {4, 2}}));
  EXPECT_EQ(m.samples().size(), 10u);
  // Old classes keep a prefix of what they held.
  EXPECT_EQ(of_class(m, 0), first(old0, 2));
  EXPECT_EQ(of_class(m, 1), first(old1, 2));
  for (int64_t c = 2; c <= 4; ++c) EXPECT_EQ(of_class(m, c), first(candidates(c, 20), 2));
}

TEST(ClassBalancedMemory, RemainderGoesToLowerClassIds) {
  ClassBalancedMemory m(10);
  m.update({{7, candidates(7, 20)}, {2, candidates(2, 20)}, {5, candidates(5, 20)}});
  EXPECT_EQ(m.counts(), (Counts{{2, 4}, {5, 3}, {7, 3}}));
  EXPECT_EQ(m.samples().size(), 10u);

  ClassBalancedMemory m2(11);
  m2.update({{0, candidates(0, 20)}, {1, candidates(1, 20)}, {2, candidates(2, 20)}});
  EXPECT_EQ(m2.counts(), (Counts{{0, 4}, {1, 4}, {2, 3}}));
}

TEST(ClassBalancedMemory, ShortClassKeepsAllAndTotalWithinCapacity) {
  ClassBalancedMemory m(10);
  m.update({{0, candidates(0, 2)}, {1, candidates(1, 20)}});
  EXPECT_EQ(m.counts(), (Counts{{0, 2}, {1, 5}}));
  EXPECT_EQ(of_class(m, 0), candidates(0, 2));
  EXPECT_LE(m.samples().size(), 10u);
}

TEST(ClassBalancedMemory, NeverExceedsCapacityOverUpdates) {
  const int64_t capacity = 17;
  ClassBalancedMemory m(capacity);
  int64_t next_class = 0;
  std::map<int64_t, Samples> previous;
  for (int task = 0; task < 5; ++task) {
    std::map<int64_t, Samples> batch;
    for (int k = 0; k < 3; ++k, ++next_class) batch[next_class] = candidates(next_class, 50);
    m.update(batch);
    const Samples all = m.samples();
    EXPECT_LE(static_cast<int64_t>(all.size()), capacity) << "after task " << task;
    int64_t total = 0, lo = capacity, hi = 0;
    for (const auto& [c, n] : m.counts()) {
      total += n;
      lo = std::min(lo, n);
      hi = std::max(hi, n);
      // Every stored class is a prefix of what it held before.
      if (previous.count(c)) {
        EXPECT_EQ(of_class(m, c), first(previous[c], static_cast<size_t>(n)));
      }
    }
    EXPECT_EQ(total, static_cast<int64_t>(all.size()));
    EXPECT_EQ(total, capacity) << "candidates suffice, so the memory is full";
    EXPECT_LE(hi - lo, 1) << "balanced";
    EXPECT_EQ(static_cast<int64_t>(m.counts().size()), next_class);
    for (int64_t c = 0; c < next_class; ++c) previous[c] = of_class(m, c);
  }
}

TEST(ClassBalancedMemory, SamplesGroupedByClassAscending) {
  ClassBalancedMemory m(12);
  // Candidates deliberately not sorted within a class.
  m.update({{3, {3005, 3001, 3009, 3002}}, {1, {1007, 1000, 1003, 1004}}});
  m.update({{2, {2008, 2001, 2006, 2000}}});
  EXPECT_EQ(m.samples(),
            (Samples{1007, 1000, 1003, 1004, 2008, 2001, 2006, 2000, 3005, 3001, 3009, 3002}));
}

// The greedy choice worked out by hand: mu = (0.6, 0.6); step 1 ties rows 2 and 3 at distance 0.2
// (lowest first), step 2 puts (S + f) / 2 = (0.7, 0.7) for row 3, step 3 ties rows 0 and 1.
TEST(Herding, PicksTheGreedyExemplarsOfAHandComputedCase) {
  const auto f = torch::tensor({{1.0, 0.0}, {0.0, 1.0}, {0.6, 0.8}, {0.8, 0.6}});
  EXPECT_EQ(herding_order(f, 4), (Samples{2, 3, 0, 1}));
  EXPECT_EQ(herding_order(f, 2), (Samples{2, 3}));
  EXPECT_EQ(herding_order(f, 9), (Samples{2, 3, 0, 1})) << "a class with fewer samples keeps all";
  // Herding is not nearest-to-the-mean: the second pick balances the first.
  // Mean 0: first 0.1 (nearest), then -0.3 ((0.1 - 0.3) / 2 = -0.1), not the nearer 0.2.
  const auto g = torch::tensor({{0.1}, {0.2}, {-0.3}, {0.5}, {-0.5}});
  EXPECT_EQ(herding_order(g, 2), (Samples{0, 2}));
}

// The definition, step by step: the distance of every candidate mean to the class mean.
Samples herding_by_definition(const torch::Tensor& features, int64_t m) {
  const auto f = features.to(torch::kFloat64);
  const auto mu = f.mean(0);
  auto sum = torch::zeros_like(mu);
  auto taken = torch::zeros({f.size(0)}, torch::kBool);
  Samples order;
  for (int64_t k = 1; k <= std::min(m, f.size(0)); ++k) {
    auto cost = (mu - (sum + f) / static_cast<double>(k)).norm(2, 1);
    cost.masked_fill_(taken, std::numeric_limits<double>::infinity());
    order.push_back(cost.argmin().item<int64_t>());
    taken[order.back()] = true;
    sum += f[order.back()];
  }
  return order;
}

// One product per step picks the exemplars the definition picks, in the same order, on
// L2-normalised features of iCaRL's kind (ReLU features: non-negative), widths with and without a
// remainder of 4, and duplicated rows (ties go to the lowest index in both).
TEST(Herding, OneProductPerStepPicksWhatTheDefinitionPicks) {
  torch::manual_seed(3);
  for (const auto& [n, d, m] : {std::tuple{600, 64, 300}, {257, 37, 257}, {1000, 400, 120}}) {
    auto f = torch::relu(torch::randn({n, d}) + 0.3);
    f.narrow(0, n / 2, 5).copy_(f.narrow(0, 7, 5));  // five duplicates of earlier rows
    f = f / f.norm(2, 1, true);
    EXPECT_EQ(herding_order(f, m), herding_by_definition(f, m)) << n << " x " << d;
  }
}

TEST(Herding, RefusesFeaturesThatAreNotFinite) {
  auto f = torch::rand({6, 3});
  f[2][1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(herding_order(f, 1), std::runtime_error) << "a NaN makes every distance NaN";
  EXPECT_NO_THROW(herding_order(f.narrow(0, 3, 3), 3));
}

GlobalRows stream_batch(int64_t first, int64_t n, bool rows) {
  GlobalRows b;
  for (int64_t i = 0; i < n; ++i) b.indices.push_back(first + i);
  if (rows) b.rows = torch::arange(first, first + n, torch::kFloat32).unsqueeze(1).repeat({1, 3});
  return b;
}

TEST(ReservoirMemory, FillsThenKeepsEachSampleWithProbabilityCapacityOverSeen) {
  ReservoirMemory m(100, 7);
  m.add(stream_batch(0, 50, false), 0);
  EXPECT_EQ(m.size(), 50);
  EXPECT_EQ(m.samples(), stream_batch(0, 50, false).indices) << "filled in stream order";
  for (int64_t first = 50; first < 20000; first += 50) m.add(stream_batch(first, 50, false), 1);
  EXPECT_EQ(m.size(), 100);
  EXPECT_EQ(m.seen(), 20000);
  // Uniform over the stream: about half of the kept samples come from its first half.
  int64_t early = 0;
  for (int64_t s : m.samples()) early += s < 10000 ? 1 : 0;
  EXPECT_GT(early, 30);
  EXPECT_LT(early, 70);
  std::vector<int64_t> sorted = m.samples();
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end()) << "no sample twice";
}

TEST(ReservoirMemory, KeepsEachSamplesRowFromItsInsertionAndItsTask) {
  ReservoirMemory m(8, 3);
  for (int64_t first = 0; first < 200; first += 10)
    m.add(stream_batch(first, 10, true), first / 100);
  ASSERT_TRUE(m.rows().defined());
  for (int64_t slot = 0; slot < m.size(); ++slot) {
    const int64_t s = m.samples()[static_cast<size_t>(slot)];
    EXPECT_EQ(m.rows()[slot][2].item<float>(), static_cast<float>(s));
    EXPECT_EQ(m.tasks()[static_cast<size_t>(slot)], s / 100);
  }
  ReservoirMemory same(8, 3), other(8, 4);
  for (int64_t first = 0; first < 200; first += 10) {
    same.add(stream_batch(first, 10, true), 0);
    other.add(stream_batch(first, 10, true), 0);
  }
  EXPECT_EQ(same.samples(), m.samples()) << "the same seed keeps the same samples";
  EXPECT_NE(other.samples(), m.samples());
  const auto draw = m.draw(5, 11);
  EXPECT_EQ(draw.size(), 5u);
  EXPECT_EQ(draw, m.draw(5, 11));
  EXPECT_EQ(m.draw(50, 11).size(), 8u) << "at most what is stored";
}

TEST(RingMemory, KeepsTheLastSamplesOfEachGroup) {
  RingMemory m(3);
  m.add(1, {10, 11});
  EXPECT_EQ(m.samples(1), (Samples{10, 11}));
  EXPECT_TRUE(m.samples(0).empty());
  m.add(1, {12, 13, 14});
  m.add(0, {1, 2, 3, 4, 5, 6, 7});
  // Cyclic overwrite: the same set as the last three, in slot order.
  EXPECT_EQ(m.samples(1), (Samples{13, 14, 12}));
  EXPECT_EQ(m.samples(0), (Samples{7, 5, 6}));
  EXPECT_EQ(m.samples(0, 2), (Samples{7, 5, 6, 13, 14, 12}));
  EXPECT_EQ(m.size(), 6);
}

}  // namespace
}  // namespace clbench
