#include "datasets/benchmarks/class_order.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "harness/foundation/error.h"

namespace clbench {
namespace {

using Order = std::vector<int64_t>;

Order prefix(const Order& order, size_t n) {
  return Order(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n));
}

bool is_permutation_of_range(const Order& order) {
  Order sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (sorted[i] != static_cast<int64_t>(i)) return false;
  }
  return true;
}

// Vectors from numpy (legacy np.random.seed(s); np.random.permutation(C)).
TEST(ClassOrder, PycilSeed1993Cifar100FullOrder) {
  const Order expected = {68, 56, 78, 8,  23, 84, 90, 65, 74, 76, 40, 89, 3,  92, 55, 9,  26,
                          80, 43, 38, 58, 70, 77, 1,  85, 19, 17, 50, 28, 53, 13, 81, 45, 82,
                          6,  59, 83, 16, 15, 44, 91, 41, 72, 60, 79, 52, 20, 10, 31, 54, 37,
                          95, 14, 71, 96, 98, 97, 2,  64, 66, 42, 22, 35, 86, 24, 34, 87, 21,
                          99, 0,  88, 27, 18, 94, 11, 12, 47, 25, 30, 46, 62, 69, 36, 61, 7,
                          63, 75, 5,  32, 4,  51, 48, 73, 93, 39, 67, 29, 49, 57, 33};
  EXPECT_EQ(pycil_order(1993, 100), expected);
  EXPECT_EQ(class_order("pycil", 1993, 100), expected);
}

TEST(ClassOrder, PycilTenClasses) {
  EXPECT_EQ(pycil_order(1993, 10), (Order{4, 2, 7, 6, 0, 3, 5, 8, 9, 1}));
  EXPECT_EQ(pycil_order(0, 10), (Order{2, 8, 4, 9, 1, 6, 7, 3, 0, 5}));
  // Largest seed numpy's RandomState accepts.
  EXPECT_EQ(pycil_order(4294967295U, 10), (Order{6, 9, 5, 1, 8, 0, 7, 4, 2, 3}));
  EXPECT_EQ(class_order("pycil", 4294967295LL, 10), (Order{6, 9, 5, 1, 8, 0, 7, 4, 2, 3}));
}

TEST(ClassOrder, PycilPrefixesForOtherSeedsAndSizes) {
  EXPECT_EQ(prefix(pycil_order(1994, 100), 10), (Order{72, 6, 33, 96, 60, 94, 29, 40, 45, 66}));
  EXPECT_EQ(prefix(pycil_order(1995, 200), 12),
            (Order{146, 198, 169, 126, 142, 183, 108, 86, 79, 35, 112, 29}));
  EXPECT_EQ(prefix(pycil_order(1993, 200), 12),
            (Order{168, 136, 51, 9, 183, 101, 171, 99, 42, 159, 191, 70}));
  EXPECT_EQ(prefix(pycil_order(1993, 345), 12),
            (Order{214, 80, 343, 268, 224, 97, 253, 55, 165, 170, 14, 305}));
}

// Vectors from CPython (random.seed(s); random.shuffle(list(range(n)))).
TEST(ClassOrder, CodaPrefixesAndFullOrders) {
  EXPECT_EQ(prefix(coda_order(1, 100), 12), (Order{53, 37, 65, 51, 4, 20, 38, 9, 10, 81, 44, 36}));
  EXPECT_EQ(prefix(coda_order(1, 200), 12),
            (Order{33, 146, 79, 19, 23, 131, 12, 187, 174, 32, 86, 123}));
  EXPECT_EQ(prefix(coda_order(1993, 345), 12),
            (Order{260, 50, 123, 2, 28, 268, 133, 69, 142, 162, 73, 77}));
  EXPECT_EQ(coda_order(1, 10), (Order{6, 8, 9, 7, 5, 3, 0, 4, 1, 2}));
  EXPECT_EQ(class_order("coda", 1, 10), (Order{6, 8, 9, 7, 5, 3, 0, 4, 1, 2}));
}

TEST(ClassOrder, CodaSeedZeroAndMultiWordKeys) {
  // Seed 0: CPython seeds with the one-word key {0}.
  EXPECT_EQ(coda_order(0, 10), (Order{7, 8, 1, 5, 3, 4, 2, 0, 9, 6}));
  // 2^32: key {0, 1}.
  EXPECT_EQ(coda_order(4294967296ULL, 10), (Order{8, 9, 3, 2, 4, 7, 0, 6, 5, 1}));
  // 2^40 + 5: key {5, 256}.
  EXPECT_EQ(coda_order(1099511627781ULL, 10), (Order{1, 2, 3, 6, 7, 0, 5, 4, 9, 8}));
  EXPECT_EQ(class_order("coda", 1099511627781LL, 10), (Order{1, 2, 3, 6, 7, 0, 5, 4, 9, 8}));
}

TEST(ClassOrder, Identity) {
  EXPECT_EQ(identity_order(5), (Order{0, 1, 2, 3, 4}));
  EXPECT_EQ(class_order("identity", 1993, 4), (Order{0, 1, 2, 3}));
  EXPECT_TRUE(identity_order(0).empty());
}

TEST(ClassOrder, EveryResultIsAPermutation) {
  for (const std::string algorithm : {"identity", "pycil", "coda"}) {
    for (int64_t seed : {0, 1, 1993, 12345}) {
      for (int64_t n : {1, 2, 3, 10, 100, 345, 1000}) {
        const Order order = class_order(algorithm, seed, n);
        ASSERT_EQ(order.size(), static_cast<size_t>(n)) << algorithm << " " << seed << " " << n;
        EXPECT_TRUE(is_permutation_of_range(order)) << algorithm << " " << seed << " " << n;
      }
    }
  }
}

TEST(ClassOrder, DifferentSeedsGiveDifferentOrders) {
  EXPECT_NE(pycil_order(1993, 100), pycil_order(1994, 100));
  EXPECT_NE(coda_order(1, 100), coda_order(2, 100));
  EXPECT_NE(pycil_order(1, 100), coda_order(1, 100));
}

TEST(ClassOrder, UnknownAlgorithmListsValidNames) {
  try {
    class_order("bogus", 0, 10);
    FAIL() << "expected clbench::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("bogus"), std::string::npos) << msg;
    EXPECT_NE(msg.find("identity"), std::string::npos) << msg;
    EXPECT_NE(msg.find("pycil"), std::string::npos) << msg;
    EXPECT_NE(msg.find("coda"), std::string::npos) << msg;
  }
}

TEST(ClassOrder, BadSeedsThrow) {
  EXPECT_THROW(class_order("pycil", -1, 10), Error);
  EXPECT_THROW(class_order("coda", -1, 10), Error);
  // numpy's RandomState rejects seeds >= 2^32.
  EXPECT_THROW(class_order("pycil", 4294967296LL, 10), Error);
}

}  // namespace
}  // namespace clbench
