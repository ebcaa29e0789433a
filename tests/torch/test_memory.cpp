#include "methods/memory.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <vector>

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

}  // namespace
}  // namespace clbench
