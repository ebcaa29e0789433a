// Image transforms: torchvision's RandomResizedCrop box, the train and test views (crop, resize,
// flip, normalisation) and the options check; the resampler itself: test_resample.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "datasets/images/transforms.h"
#include "datasets/readers/jpeg.h"
#include "harness/foundation/error.h"
#include "tests/core/fixtures.h"
#include "tests/core/transform_fixtures.h"

namespace clbench {
namespace {

using namespace transform_testing;

// ---- RandomResizedCrop box ----

TEST(TransformCropBox, SameSeedSameBoxDifferentSeedsDiffer) {
  const TransformOptions o = plain();
  std::set<std::tuple<int64_t, int64_t, int64_t, int64_t>> boxes;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    const CropBox a = random_resized_crop_box(375, 500, o, seed);
    const CropBox b = random_resized_crop_box(375, 500, o, seed);
    EXPECT_EQ(std::make_tuple(a.top, a.left, a.height, a.width),
              std::make_tuple(b.top, b.left, b.height, b.width));
    boxes.insert({a.top, a.left, a.height, a.width});
  }
  EXPECT_GE(boxes.size(), 195u);
}

TEST(TransformCropBox, BoxesFitTheImageWithTheirAreaAndAspectInRange) {
  TransformOptions o = plain();
  for (const auto& [h, w] : std::vector<std::array<int64_t, 2>>{{2000, 1600}, {1600, 2000}}) {
    double sum_fraction = 0;
    for (uint64_t seed = 0; seed < 2000; ++seed) {
      const CropBox b = random_resized_crop_box(h, w, o, seed);
      ASSERT_GE(b.top, 0);
      ASSERT_GE(b.left, 0);
      ASSERT_GT(b.height, 0);
      ASSERT_GT(b.width, 0);
      ASSERT_LE(b.top + b.height, h);
      ASSERT_LE(b.left + b.width, w);
      const double fraction = static_cast<double>(b.height * b.width) / static_cast<double>(h * w);
      const double aspect = static_cast<double>(b.width) / static_cast<double>(b.height);
      // Sides are rounded to whole pixels (> 350 px here): 0.5% slack.
      EXPECT_GE(fraction, o.scale_min * 0.995);
      EXPECT_LE(fraction, o.scale_max * 1.005);
      EXPECT_GE(aspect, o.ratio_min * 0.995);
      EXPECT_LE(aspect, o.ratio_max * 1.005);
      sum_fraction += fraction;
    }
    // Area fractions uniform in [0.05, 1] less the large crops whose aspect the image cannot
    // hold (redrawn): a mean of 0.437 by simulating torchvision's loop in Python.
    const double mean = sum_fraction / 2000;
    EXPECT_GT(mean, 0.41);
    EXPECT_LT(mean, 0.47);
  }
  o.scale_min = 0.3;
  o.scale_max = 0.4;
  o.ratio_min = o.ratio_max = 1.0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    const CropBox b = random_resized_crop_box(1000, 1000, o, seed);
    EXPECT_EQ(b.height, b.width);
    EXPECT_GE(b.height * b.width, 300000 - 1100);
    EXPECT_LE(b.height * b.width, 400000 + 1300);
  }
}

TEST(TransformCropBox, FullScaleSquareOfASquareImageIsTheWholeImage) {
  TransformOptions o = plain();
  o.scale_min = o.scale_max = 1.0;
  o.ratio_min = o.ratio_max = 1.0;
  const CropBox b = random_resized_crop_box(100, 100, o, 7);
  EXPECT_EQ(std::make_tuple(b.top, b.left, b.height, b.width), std::make_tuple(0, 0, 100, 100));
}

TEST(TransformCropBox, ExtremeShapesFallBackToTorchvisionsCentralCrop) {
  const TransformOptions o = plain();  // no crop of >= 5% area with ratio in [3/4, 4/3] fits
  for (uint64_t seed : {0u, 1u, 99u}) {
    // Tall: width 10 kept, height round(10 / (3/4)) = 13, top (1000 - 13) // 2 = 493.
    const CropBox tall = random_resized_crop_box(1000, 10, o, seed);
    EXPECT_EQ(std::make_tuple(tall.top, tall.left, tall.height, tall.width),
              std::make_tuple(493, 0, 13, 10));
    const CropBox wide = random_resized_crop_box(10, 1000, o, seed);
    EXPECT_EQ(std::make_tuple(wide.top, wide.left, wide.height, wide.width),
              std::make_tuple(0, 493, 10, 13));
  }
  // With the image's aspect inside the ratio range the fallback is the whole image: crops of a
  // 1x1 image of at most 10% area round a side to 0 in every attempt.
  TransformOptions tiny = o;
  tiny.scale_max = 0.1;
  const CropBox one = random_resized_crop_box(1, 1, tiny, 3);
  EXPECT_EQ(std::make_tuple(one.top, one.left, one.height, one.width), std::make_tuple(0, 0, 1, 1));
  // A side that would round to 0 (torchvision's crop then fails) stays 1 pixel.
  TransformOptions flat = o;
  flat.ratio_min = 3;
  flat.ratio_max = 4;
  const CropBox thin = random_resized_crop_box(100, 1, flat, 3);
  EXPECT_EQ(std::make_tuple(thin.top, thin.left, thin.height, thin.width),
            std::make_tuple(49, 0, 1, 1));
}

// ---- train view ----

TEST(TransformTrain, IsTheRandomCropResampledBilinearAndMaybeFlipped) {
  const DecodedImage img = make_image(50, 40, texture);
  TransformOptions o = plain(24);
  int flipped = 0, straight = 0;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    std::vector<float> out(3 * 24 * 24);
    train_transform(img, o, seed, out.data());
    const CropBox box = random_resized_crop_box(40, 50, o, seed);
    const std::vector<float> a = crop(img, box, 24, 24, Resample::kBilinear, false);
    const std::vector<float> b = crop(img, box, 24, 24, Resample::kBilinear, true);
    if (out == a)
      ++straight;
    else if (out == b)
      ++flipped;
    else
      ADD_FAILURE() << "seed " << seed << ": neither the crop nor its mirror";
  }
  EXPECT_GE(flipped, 8);
  EXPECT_GE(straight, 8);
  o.flip = false;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::vector<float> out(3 * 24 * 24);
    train_transform(img, o, seed, out.data());
    EXPECT_EQ(out, crop(img, random_resized_crop_box(40, 50, o, seed), 24, 24, Resample::kBilinear,
                        false))
        << seed;
  }
}

TEST(TransformTrain, CropOfALargeImageMatchesPillow) {
  const DecodedImage img = make_image(500, 375, texture);
  // PIL: img.crop((101, 37, 351, 248)).resize((224, 224), BILINEAR).
  expect_samples_match(crop(img, {37, 101, 211, 250}, 224, 224, Resample::kBilinear),
                       kBigCropSamples, 1.0);
}

TEST(TransformTrain, ConstantImageGivesTheNormalisedConstant) {
  const DecodedImage img = make_image(61, 47, [](int64_t, int64_t, int c) { return 60 + 70 * c; });
  TransformOptions o = plain(32);
  o.mean = {0.485f, 0.456f, 0.406f};
  o.std = {0.229f, 0.224f, 0.225f};
  std::vector<float> out(3 * 32 * 32);
  for (uint64_t seed = 0; seed < 10; ++seed) {
    train_transform(img, o, seed, out.data());
    for (int c = 0; c < 3; ++c) {
      const double want = ((60 + 70 * c) / 255.0 - o.mean[c]) / o.std[c];
      for (int64_t i = 0; i < 32 * 32; ++i)
        ASSERT_NEAR(out[static_cast<size_t>(c * 32 * 32 + i)], want, 1e-5) << c << " " << i;
    }
  }
}

TEST(TransformTrain, ThreadsGiveTheSameViewsAsOneThread) {
  const DecodedImage img = make_image(120, 90, texture);
  const TransformOptions o = plain(32);
  const size_t n = 3 * 32 * 32;
  std::vector<float> serial(16 * n), parallel(16 * n);
  for (uint64_t s = 0; s < 16; ++s) train_transform(img, o, s, serial.data() + s * n);
  std::vector<std::thread> threads;
  for (uint64_t t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      for (uint64_t s = t; s < 16; s += 2) train_transform(img, o, s, parallel.data() + s * n);
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(serial, parallel);
}

// ---- test view ----

TEST(TransformTest, ShorterSideShapeUsesTorchvisionsRounding) {
  EXPECT_EQ(shorter_side_shape(375, 500, 256), (std::array<int64_t, 2>{256, 341}));
  EXPECT_EQ(shorter_side_shape(500, 375, 256), (std::array<int64_t, 2>{341, 256}));
  EXPECT_EQ(shorter_side_shape(32, 32, 224), (std::array<int64_t, 2>{224, 224}));
  EXPECT_EQ(shorter_side_shape(5, 7, 3), (std::array<int64_t, 2>{3, 4}));
  expect_error([] { shorter_side_shape(0, 7, 3); }, {"0x7"});
}

TEST(TransformTest, PicksTheCenterRegion) {
  // 500x375, left half red, right half blue. Resize(256): 341x256; CenterCrop(224): left
  // round(58.5) = 58 (half to even), top 16. The edge at x = 250 maps to 250 * 341 / 500 - 58 =
  // 112.5: column 112 is centred on it (Pillow gives 128 there), 111 is red and 113 blue.
  const DecodedImage img = make_image(500, 375, halves);
  TransformOptions o = plain();
  std::vector<float> out(3 * 224 * 224);
  test_transform(img, o, out.data());
  const auto at = [&](int c, int64_t y, int64_t x) {
    return out[static_cast<size_t>((c * 224 + y) * 224 + x)];
  };
  for (int64_t y = 0; y < 224; y += 37) {
    for (int64_t x = 0; x <= 111; ++x) {
      ASSERT_NEAR(at(0, y, x), 1.0f, 1e-5) << x;
      ASSERT_NEAR(at(2, y, x), 0.0f, 1e-5) << x;
    }
    EXPECT_NEAR(at(0, y, 112), 0.5, 0.01);
    EXPECT_NEAR(at(2, y, 112), 0.5, 0.01);
    for (int64_t x = 113; x < 224; ++x) {
      ASSERT_NEAR(at(0, y, x), 0.0f, 1e-5) << x;
      ASSERT_NEAR(at(2, y, x), 1.0f, 1e-5) << x;
    }
    for (int64_t x = 0; x < 224; ++x) ASSERT_NEAR(at(1, y, x), 0.0f, 1e-5);
  }
}

TEST(TransformTest, MatchesPillowResizeThenCenterCrop) {
  // The high-frequency texture is the worst case for Pillow's uint8 rounding between its two
  // passes; whole-image differences stay below 1.1 (mean 0.3).
  const DecodedImage img = make_image(500, 375, texture);
  TransformOptions o = plain();
  std::vector<float> out(3 * 224 * 224);
  test_transform(img, o, out.data());
  expect_samples_match(out, kBigTestSamples, 1.1);
  o.test_filter = Resample::kBilinear;
  test_transform(img, o, out.data());
  expect_samples_match(out, kBigTestBilinearSamples, 1.1);
  o.test_filter = Resample::kBicubic;
  o.resize = 0;  // Resize((224, 224))
  test_transform(img, o, out.data());
  expect_samples_match(out, kBigTestSquareSamples, 1.1);
}

// The loader ships uint8 views (HWC): each is its float view (CHW, unit normalisation) rounded
// half up, so it stays within Pillow's rounding of the same view.
TEST(TransformViews, Uint8ViewsAreTheFloatViewsRounded) {
  const DecodedImage img = make_image(500, 375, texture);
  TransformOptions o = plain();
  const int64_t S = 224, n = 3 * S * S;
  std::vector<float> f(n);
  std::vector<uint8_t> u(n);
  std::vector<float> u_chw(n);  // u / 255 as CHW
  auto expect_rounded = [&](const std::string& what) {
    int64_t differing = 0;
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t p = 0; p < S * S; ++p) {
        const float v = 255.0f * f[c * S * S + p];
        const uint8_t got = u[3 * p + c];
        ASSERT_NEAR(got, v, 0.5 + 1e-3) << what << " channel " << c << " pixel " << p;
        differing += got != static_cast<uint8_t>(std::lround(v));
        u_chw[c * S * S + p] = got / 255.0f;
      }
    EXPECT_LT(differing, n / 1000) << what;  // halves, up to float error
  };
  for (uint64_t seed : {0, 1, 2, 3}) {
    train_transform(img, o, seed, f.data());
    train_transform(img, o, seed, u.data());
    expect_rounded("train seed " + std::to_string(seed));
  }
  test_transform(img, o, f.data());
  test_transform(img, o, u.data());
  expect_rounded("test");
  expect_samples_match(u_chw, kBigTestSamples, 1.6);  // Pillow's own rounding + ours
}

TEST(TransformTest, ConstantImageGivesTheNormalisedConstant) {
  const DecodedImage img = make_image(32, 32, [](int64_t, int64_t, int c) { return 200 - 90 * c; });
  for (int64_t resize : {0, 256}) {
    TransformOptions o = plain();
    o.resize = resize;
    o.mean = {0.5f, 0.25f, 0.125f};
    o.std = {0.5f, 2.0f, 0.25f};
    std::vector<float> out(3 * 224 * 224);
    test_transform(img, o, out.data());
    for (int c = 0; c < 3; ++c) {
      const double want = ((200 - 90 * c) / 255.0 - o.mean[c]) / o.std[c];
      for (int64_t i = 0; i < 224 * 224; ++i)
        ASSERT_NEAR(out[static_cast<size_t>(c * 224 * 224 + i)], want, 1e-5) << c << " " << i;
    }
  }
}

TEST(TransformTest, ImageAlreadyAtTheSizeIsUnchanged) {
  const DecodedImage img = make_image(224, 224, texture);
  TransformOptions o = plain();
  o.resize = 224;
  std::vector<float> out(3 * 224 * 224);
  for (int64_t resize : {0, 224}) {
    o.resize = resize;
    test_transform(img, o, out.data());
    for (int64_t y = 0; y < 224; y += 13)
      for (int64_t x = 0; x < 224; ++x)
        for (int c = 0; c < 3; ++c)
          ASSERT_FLOAT_EQ(out[static_cast<size_t>((c * 224 + y) * 224 + x)],
                          texture(x, y, c) / 255.0f);
  }
}

// ---- options ----

TEST(TransformOptionsCheck, InvalidOptionsThrowNamingTheKeyAndValue) {
  const DecodedImage img = make_image(12, 9, texture);
  std::vector<float> out(3 * 8 * 8);
  const auto fails = [&](TransformOptions o, const std::vector<std::string>& parts) {
    expect_error([&] { validate_transform_options(o); }, parts);
    expect_error([&] { train_transform(img, o, 1, out.data()); }, parts);
    expect_error([&] { test_transform(img, o, out.data()); }, parts);
    expect_error([&] { random_resized_crop_box(9, 12, o, 1); }, parts);
  };
  TransformOptions o = plain(8);
  validate_transform_options(o);
  o.size = 0;
  fails(o, {"size = 0"});
  o = plain(8);
  o.resize = 7;
  fails(o, {"resize = 7", "size (8)"});
  o = plain(8);
  o.scale_min = 0;
  fails(o, {"scale_min = 0"});
  o = plain(8);
  o.scale_max = 1.5;
  fails(o, {"scale_max = 1.5"});
  o = plain(8);
  o.scale_min = 0.6;
  o.scale_max = 0.5;
  fails(o, {"scale_min = 0.6", "scale_max (0.5)"});
  o = plain(8);
  o.ratio_min = -1;
  fails(o, {"ratio_min = -1"});
  o = plain(8);
  o.ratio_min = 2;
  o.ratio_max = 1;
  fails(o, {"ratio_min = 2", "ratio_max (1)"});
  o = plain(8);
  o.std[1] = 0;
  fails(o, {"std[1] = 0"});
  o = plain(8);
  o.scale_max = std::nan("");
  fails(o, {"scale_max = nan"});
}

// ---- cost (run on demand: --gtest_also_run_disabled_tests --gtest_filter='TransformBench*') ----

TEST(TransformBench, DISABLED_PerImageCostOf500x375To224) {
  const DecodedImage img = make_image(500, 375, texture);
  TransformOptions o = plain();
  std::vector<float> out(3 * 224 * 224);
  // Thread CPU time, best of 40 rounds of 25: the build machine is shared.
  const auto cpu_us = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
  };
  const auto measure = [&](const char* what, auto fn) {
    for (int i = 0; i < 20; ++i) fn(i);  // warm-up
    double best = 1e18;
    for (int round = 0; round < 40; ++round) {
      const int n = 25;
      const double t0 = cpu_us();
      for (int i = 0; i < n; ++i) fn(round * n + i);
      best = std::min(best, (cpu_us() - t0) / n);
    }
    std::printf("%-46s %8.1f us/image (thread CPU time, best of 40 x 25)\n", what, best);
  };
  measure("train_transform (RRC scale 0.05..1, bilinear)",
          [&](int i) { train_transform(img, o, static_cast<uint64_t>(i), out.data()); });
  o.scale_min = o.scale_max = 1;
  o.ratio_min = o.ratio_max = 500.0 / 375;
  measure("train_transform (whole image)",
          [&](int i) { train_transform(img, o, static_cast<uint64_t>(i), out.data()); });
  measure("test_transform (bicubic 256, crop 224)",
          [&](int) { test_transform(img, o, out.data()); });
  o.test_filter = Resample::kBilinear;
  measure("test_transform (bilinear 256, crop 224)",
          [&](int) { test_transform(img, o, out.data()); });
  measure("resize_shorter_side(256) (uint8 out)", [&](int) {
    const DecodedImage r = resize_shorter_side(img, 256);
    out[0] = r.pixels[0];
  });
}

}  // namespace
}  // namespace clbench
