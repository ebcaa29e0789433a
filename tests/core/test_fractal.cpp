// FractalDB-style generator: reproducibility, the filling-rate acceptance, intra-category
// variation and option validation.
#include "datasets/fractal/fractal.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <vector>

#include "tests/core/fixtures.h"

namespace clbench {
namespace {

using testing::expect_error;
using Image = std::vector<uint8_t>;

FractalOptions small(int64_t classes, uint64_t seed = 0) {
  FractalOptions o;
  o.classes = classes;
  o.seed = seed;
  return o;
}

bool same_systems(const std::vector<AffineMap>& x, const std::vector<AffineMap>& y) {
  if (x.size() != y.size()) return false;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i].a != y[i].a || x[i].b != y[i].b || x[i].c != y[i].c || x[i].d != y[i].d ||
        x[i].e != y[i].e || x[i].f != y[i].f) {
      return false;
    }
  }
  return true;
}

// Mean absolute difference of the ink density over 4x4 blocks: insensitive to which exact
// pixels the chaos game hit, sensitive to the shape.
double block_distance(const Image& x, const Image& y, int64_t size) {
  const int64_t blocks = size / 4;
  double total = 0;
  for (int64_t bi = 0; bi < blocks; ++bi) {
    for (int64_t bj = 0; bj < blocks; ++bj) {
      double sx = 0, sy = 0;
      for (int64_t u = 0; u < 4; ++u) {
        for (int64_t v = 0; v < 4; ++v) {
          const auto k = static_cast<size_t>((4 * bi + u) * size + 4 * bj + v);
          sx += x[k];
          sy += y[k];
        }
      }
      total += std::abs(sx - sy) / (16 * 255.0);
    }
  }
  return total / static_cast<double>(blocks * blocks);
}

TEST(Fractal, SameSeedGivesIdenticalImages) {
  const FractalSet a(small(6)), b(small(6));
  ASSERT_EQ(a.classes(), 6);
  for (int64_t c = 0; c < 6; ++c) {
    EXPECT_TRUE(same_systems(a.system(c), b.system(c))) << c;
    for (int64_t i : {0, 1, 13, 24, 25, 99}) EXPECT_EQ(a.render(c, i), b.render(c, i)) << c;
  }
  // A category does not depend on how many others there are.
  const FractalSet more(small(9));
  for (int64_t c = 0; c < 6; ++c) EXPECT_EQ(more.render(c, 3), a.render(c, 3)) << c;
}

TEST(Fractal, DifferentSeedGivesDifferentCategories) {
  const FractalSet a(small(5, 0)), b(small(5, 1));
  for (int64_t c = 0; c < 5; ++c) {
    EXPECT_FALSE(same_systems(a.system(c), b.system(c))) << c;
    EXPECT_NE(a.render(c, 0), b.render(c, 0)) << c;
  }
}

TEST(Fractal, SystemsHaveTwoToEightMapsInTheUnitRange) {
  const FractalSet set(small(40));
  for (int64_t c = 0; c < set.classes(); ++c) {
    const auto& maps = set.system(c);
    EXPECT_GE(maps.size(), 2u);
    EXPECT_LE(maps.size(), 8u);
    for (const auto& m : maps) {
      for (double v : {m.a, m.b, m.c, m.d, m.e, m.f}) {
        EXPECT_GE(v, -1.0);
        EXPECT_LE(v, 1.0);
      }
    }
  }
}

TEST(Fractal, EveryAcceptedCategoryMeetsTheFillingThreshold) {
  for (double threshold : {0.1, 0.2, 0.3}) {
    FractalOptions o = small(30);
    o.fill_threshold = threshold;
    const FractalSet set(o);
    for (int64_t c = 0; c < set.classes(); ++c) {
      const Image image = set.render(c, 0);
      ASSERT_EQ(image.size(), 28u * 28u);
      EXPECT_GE(filling_rate(image), threshold) << "category " << c;
      for (uint8_t v : image) ASSERT_TRUE(v == 0 || v == 255);
    }
  }
  EXPECT_DOUBLE_EQ(filling_rate({0, 255, 0, 7}), 0.5);
}

TEST(Fractal, InstancesVaryButStayCloserToTheirCategory) {
  const int64_t classes = 20, instances = 10, size = 28;
  const FractalSet set(small(classes));
  std::vector<std::vector<Image>> images(classes);
  for (int64_t c = 0; c < classes; ++c) {
    for (int64_t i = 0; i < instances; ++i) images[c].push_back(set.render(c, i));
    for (int64_t i = 1; i < instances; ++i) EXPECT_NE(images[c][i], images[c][0]) << c << " " << i;
  }
  double intra = 0, inter = 0;
  int64_t n_intra = 0, n_inter = 0;
  for (int64_t c = 0; c < classes; ++c) {
    for (int64_t i = 0; i < instances; ++i) {
      for (int64_t d = c; d < classes; ++d) {
        for (int64_t j = d == c ? i + 1 : 0; j < instances; ++j) {
          const double dist = block_distance(images[c][i], images[d][j], size);
          (d == c ? intra : inter) += dist;
          ++(d == c ? n_intra : n_inter);
        }
      }
    }
  }
  intra /= static_cast<double>(n_intra);
  inter /= static_cast<double>(n_inter);
  // Measured over seeds 0..7: intra / inter is 0.67..0.88.
  EXPECT_LT(intra, 0.92 * inter) << "intra " << intra << ", inter " << inter;
}

TEST(Fractal, ChannelsRepeatTheGreyImage) {
  FractalOptions o = small(2);
  o.channels = 3;
  o.image_size = 32;
  const FractalSet rgb(o);
  const Image image = rgb.render(1, 4);
  ASSERT_EQ(image.size(), 3u * 32u * 32u);
  const Image grey(image.begin(), image.begin() + 32 * 32);
  for (size_t ch = 1; ch < 3; ++ch)
    EXPECT_TRUE(std::equal(grey.begin(), grey.end(), image.begin() + ch * 32 * 32));
  o.channels = 1;
  EXPECT_EQ(FractalSet(o).render(1, 4), grey);
}

TEST(Fractal, HundredCategoriesTakeWellUnderASecond) {
  for (int64_t size : {28, 32}) {
    FractalOptions o = small(100);
    o.image_size = size;
    const auto start = std::chrono::steady_clock::now();
    const FractalSet set(o);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(set.classes(), 100);
    EXPECT_LT(took.count(), 0.5) << size;  // about 0.02 s on the 2-core build machine
  }
}

TEST(Fractal, BadOptionsNameTheOption) {
  auto with = [](auto change) {
    FractalOptions o;
    change(o);
    return o;
  };
  expect_error([&] { FractalSet(with([](FractalOptions& o) { o.classes = 0; })); },
               {"classes", "0"});
  expect_error([&] { FractalSet(with([](FractalOptions& o) { o.image_size = 0; })); },
               {"image_size", "0"});
  expect_error([&] { FractalSet(with([](FractalOptions& o) { o.channels = 0; })); }, {"channels"});
  expect_error([&] { FractalSet(with([](FractalOptions& o) { o.points = -5; })); },
               {"points", "-5"});
  expect_error([&] { FractalSet(with([](FractalOptions& o) { o.fill_threshold = 1.5; })); },
               {"fill_threshold", "1.5"});
  // An unreachable threshold: an 8x8 image has a one-pixel margin, so at most 36/64 lit.
  expect_error(
      [&] {
        FractalSet(with([](FractalOptions& o) {
          o.image_size = 8;
          o.fill_threshold = 0.9;
        }));
      },
      {"fill_threshold", "category 0"});
  const FractalSet set(small(3));
  expect_error([&] { set.render(3, 0); }, {"category 3"});
  expect_error([&] { set.render(-1, 0); }, {"category -1"});
  expect_error([&] { set.render(0, -2); }, {"instance -2"});
}

}  // namespace
}  // namespace clbench
