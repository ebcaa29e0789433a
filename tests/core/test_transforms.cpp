// Image transforms: Pillow-style resampling, torchvision's RandomResizedCrop box, the train and
// test views. Reference values come from Pillow 13 (bench/transforms_vectors.py prints them).
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

namespace clbench {
namespace {

using testing::expect_error;

// ---- Pillow reference vectors (bench/transforms_vectors.py), uint8 HWC ----
const std::vector<int> kSmall7x5 = {
    0,   50,  100, 37,  87,  137, 74,  124, 174, 111, 161, 211, 148, 198, 248, 185, 235, 29,
    222, 16,  66,  91,  141, 191, 141, 191, 241, 191, 241, 35,  241, 35,  85,  35,  85,  135,
    85,  135, 185, 135, 185, 235, 182, 232, 26,  245, 39,  89,  52,  102, 152, 115, 165, 215,
    178, 228, 22,  241, 35,  85,  48,  98,  148, 17,  67,  117, 93,  143, 193, 169, 219, 13,
    245, 39,  89,  65,  115, 165, 141, 191, 241, 217, 11,  61,  108, 158, 208, 197, 247, 41,
    30,  80,  130, 119, 169, 219, 208, 2,   52,  41,  91,  141, 130, 180, 230};
const std::vector<int> kSmallBicubic3x4 = {
    45,  101, 143, 124, 155, 182, 172, 148, 112, 163, 163, 141, 151, 126, 108, 114, 123, 157,
    121, 121, 103, 153, 137, 118, 161, 100, 130, 113, 176, 126, 131, 101, 128, 119, 106, 162};
const std::vector<int> kSmallBilinear4x6 = {
    19,  69,  119, 77,  127, 177, 145, 195, 194, 203, 119, 59,  93,  143, 184, 166, 162, 112,
    114, 110, 147, 133, 149, 172, 167, 153, 120, 144, 135, 129, 144, 134, 107, 125, 111, 154,
    142, 128, 95,  136, 126, 121, 155, 146, 118, 154, 84,  127, 78,  128, 142, 153, 149, 87,
    136, 99,  149, 157, 103, 153, 142, 192, 133, 88,  138, 137, 150, 67,  117, 96,  133, 183};
const std::vector<int> kSmallShorter3 = {
    57,  111, 158, 131, 147, 142, 126, 148, 169, 162, 139, 120, 155, 141, 110, 148, 132, 121,
    148, 139, 110, 139, 95,  146, 103, 157, 136, 127, 146, 106, 143, 81,  136, 130, 116, 166};
const std::vector<int> kTextureBicubic4x3 = {3,  0, 3,  6,  0, 12, 9,  0, 21, 12, 0, 29,
                                             9,  0, 12, 12, 1, 8,  15, 1, 17, 18, 2, 38,
                                             15, 0, 21, 18, 1, 15, 21, 3, 19, 24, 4, 31};
const std::vector<int> kTextureBilinear4x3 = {4,  0, 4,  7,  0, 12, 10, 0, 21, 13, 0, 29,
                                              9,  0, 12, 12, 1, 10, 15, 1, 18, 18, 2, 37,
                                              15, 0, 20, 18, 1, 16, 21, 3, 19, 24, 4, 31};
const std::vector<int> kTextureRegionBicubic5x4 = {
    4,  0,  4,  6,  0,  11, 7,  0,  17, 9,  0,  20, 11, 0,  28, 8, 0,  6,  10, 0,
    11, 11, 0,  14, 13, 1,  18, 15, 1,  33, 12, 0,  19, 14, 1,  9, 15, 1,  1,  17,
    2,  15, 19, 2,  41, 15, 0,  17, 17, 1,  13, 18, 2,  7,  20, 3, 15, 22, 3,  40};
const std::vector<int> kTextureCropBilinear4x5 = {
    6,  0,  8,  8,  0,  15, 10, 0,  21, 12, 0,  28, 8,  0,  5,  10, 0,  17, 12, 1,
    20, 14, 1,  29, 11, 0,  14, 13, 1,  6,  15, 1,  18, 17, 2,  38, 14, 0,  14, 16,
    1,  5,  18, 2,  17, 20, 2,  40, 16, 1,  13, 18, 2,  6,  20, 3,  16, 22, 3,  41};
const std::vector<int> kBigTestSamples = {
    132, 126, 219, 203, 97,  148, 18,  76,  23,  89, 66,  64,  158, 185, 158, 73,
    192, 138, 28,  192, 216, 215, 110, 122, 111, 89, 194, 114, 128, 205, 98,  126,
    161, 41,  200, 160, 20,  198, 244, 17,  98,  30, 148, 184, 85,  233, 56,  55};
const std::vector<int> kBigTestBilinearSamples = {
    132, 126, 218, 203, 98,  148, 18,  75,  29,  89, 65,  72,  158, 185, 158, 73,
    192, 136, 28,  191, 208, 215, 110, 124, 111, 88, 197, 114, 129, 204, 98,  126,
    161, 41,  200, 161, 20,  193, 241, 17,  100, 29, 148, 184, 86,  233, 64,  58};
const std::vector<int> kBigTestSquareSamples = {
    2,   0,   2,   243, 11,  215, 236, 15,  98,  221, 117, 143, 33,  9,   64,  26,
    146, 185, 38,  210, 141, 150, 222, 189, 111, 99,  196, 117, 152, 204, 182, 114,
    196, 42,  174, 109, 142, 155, 122, 235, 65,  93,  158, 45,  76,  255, 95,  37};
const std::vector<int> kBigCropSamples = {
    175, 233, 193, 168, 41, 112, 83, 25, 182, 76,  25, 251, 192, 27,  210, 63,
    192, 161, 207, 95,  71, 142, 88, 25, 253, 207, 72, 104, 231, 68,  169, 28,
    227, 109, 115, 229, 32, 48,  56, 82, 37,  177, 23, 155, 118, 179, 231, 76};

// ---- helpers ----

// A width x height image with pixel (x, y) channel c = f(x, y, c).
template <typename F>
DecodedImage make_image(int64_t width, int64_t height, F f) {
  DecodedImage img;
  img.width = width;
  img.height = height;
  img.pixels.resize(static_cast<size_t>(width * height * 3));
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c)
        img.pixels[static_cast<size_t>((y * width + x) * 3 + c)] = static_cast<uint8_t>(f(x, y, c));
  return img;
}

DecodedImage from_values(int64_t width, int64_t height, const std::vector<int>& hwc) {
  return make_image(width, height, [&](int64_t x, int64_t y, int c) {
    return hwc[static_cast<size_t>((y * width + x) * 3 + c)];
  });
}

// The formulas of bench/transforms_vectors.py.
int texture(int64_t x, int64_t y, int c) {
  if (c == 0) return static_cast<int>((x + 2 * y) & 255);
  if (c == 1) return static_cast<int>((x * y / 16) & 255);
  return static_cast<int>(((x ^ y) * 3) & 255);
}

int halves(int64_t x, int64_t, int c) {
  const int left[3] = {255, 0, 0}, right[3] = {0, 0, 255};
  return x < 250 ? left[c] : right[c];
}

// Our float CHW output against Pillow's uint8 HWC: every |ours * 255 - pillow| <= tol.
void expect_matches_pillow(const std::vector<float>& chw, int64_t h, int64_t w,
                           const std::vector<int>& hwc, double tol) {
  ASSERT_EQ(chw.size(), static_cast<size_t>(3 * h * w));
  ASSERT_EQ(hwc.size(), chw.size());
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        const double ours = 255.0 * chw[static_cast<size_t>((c * h + y) * w + x)];
        const double pil = hwc[static_cast<size_t>((y * w + x) * 3 + c)];
        EXPECT_NEAR(ours, pil, tol) << "y " << y << " x " << x << " c " << c;
      }
}

// Points (y, x) of the 224x224 views sampled in the k*Samples vectors.
const std::vector<std::array<int64_t, 2>> kPoints = {
    {0, 0},     {0, 223},   {223, 0},   {223, 223}, {5, 7},     {17, 100}, {64, 150},  {100, 31},
    {111, 112}, {112, 113}, {150, 200}, {199, 64},  {200, 222}, {222, 1},  {120, 120}, {33, 177}};

void expect_samples_match(const std::vector<float>& chw, const std::vector<int>& samples,
                          double tol) {
  ASSERT_EQ(samples.size(), kPoints.size() * 3);
  for (size_t p = 0; p < kPoints.size(); ++p)
    for (int c = 0; c < 3; ++c) {
      const int64_t y = kPoints[p][0], x = kPoints[p][1];
      EXPECT_NEAR(255.0 * chw[static_cast<size_t>((c * 224 + y) * 224 + x)],
                  samples[p * 3 + static_cast<size_t>(c)], tol)
          << "y " << y << " x " << x << " c " << c;
    }
}

std::vector<float> crop(const DecodedImage& img, const CropBox& box, int64_t h, int64_t w,
                        Resample f, bool flip = false) {
  std::vector<float> out(static_cast<size_t>(3 * h * w), -1.0f);
  resample_crop(img, box, h, w, f, flip, out.data());
  return out;
}

CropBox whole(const DecodedImage& img) {
  return {0, 0, img.height, img.width};
}

TransformOptions plain(int64_t size = 224) {
  TransformOptions o;
  o.size = size;
  o.resize = size * 256 / 224;
  return o;
}

// ---- resampling ----

TEST(TransformResample, MatchesPillowBicubicAndBilinearOnASmallImage) {
  const DecodedImage img = from_values(7, 5, kSmall7x5);
  expect_matches_pillow(crop(img, whole(img), 4, 3, Resample::kBicubic), 4, 3, kSmallBicubic3x4,
                        1.0);
  expect_matches_pillow(crop(img, whole(img), 6, 4, Resample::kBilinear), 6, 4, kSmallBilinear4x6,
                        1.0);
}

TEST(TransformResample, MatchesPillowWhenDownscalingByThree) {
  const DecodedImage img = make_image(12, 9, texture);
  expect_matches_pillow(crop(img, whole(img), 3, 4, Resample::kBicubic), 3, 4, kTextureBicubic4x3,
                        1.0);
  expect_matches_pillow(crop(img, whole(img), 3, 4, Resample::kBilinear), 3, 4, kTextureBilinear4x3,
                        1.0);
}

TEST(TransformResample, CropStopsTheTapsAtItsEdgesLikePilCropThenResize) {
  const DecodedImage img = make_image(12, 9, texture);
  // PIL: img.crop((2, 1, 11, 8)).resize((4, 5), BILINEAR).
  const std::vector<float> cropped = crop(img, {1, 2, 7, 9}, 5, 4, Resample::kBilinear);
  expect_matches_pillow(cropped, 5, 4, kTextureCropBilinear4x5, 1.0);
  // The same rectangle as a region lets the taps read the pixels around it: a different image.
  std::vector<float> region(cropped.size());
  resample_region(img, 2, 1, 11, 8, 5, 4, Resample::kBilinear, false, region.data());
  double most = 0;
  for (size_t i = 0; i < region.size(); ++i)
    most = std::max(most, 255.0 * std::fabs(region[i] - cropped[i]));
  EXPECT_GT(most, 2.0);
}

TEST(TransformResample, FractionalRegionMatchesPilResizeWithBox) {
  const DecodedImage img = make_image(12, 9, texture);
  std::vector<float> out(3 * 4 * 5);
  resample_region(img, 1.5, 0.75, 10.25, 8.0, 4, 5, Resample::kBicubic, false, out.data());
  expect_matches_pillow(out, 4, 5, kTextureRegionBicubic5x4, 1.0);
}

TEST(TransformResample, ConstantImageStaysConstant) {
  const DecodedImage img = make_image(37, 23, [](int64_t, int64_t, int c) {
    const int v[3] = {10, 128, 250};
    return v[c];
  });
  const std::vector<std::tuple<CropBox, int64_t, int64_t>> cases = {{whole(img), 5, 9},
                                                                    {whole(img), 100, 61},
                                                                    {{3, 4, 11, 30}, 224, 224},
                                                                    {{0, 36, 23, 1}, 7, 3}};
  for (const auto& [box, h, w] : cases)
    for (Resample f : {Resample::kBilinear, Resample::kBicubic})
      for (bool flip : {false, true}) {
        const std::vector<float> out = crop(img, box, h, w, f, flip);
        for (int c = 0; c < 3; ++c)
          for (int64_t i = 0; i < h * w; ++i)
            ASSERT_NEAR(out[static_cast<size_t>(c * h * w + i)],
                        (c == 0   ? 10
                         : c == 1 ? 128
                                  : 250) /
                            255.0,
                        2e-6)
                << "c " << c << " i " << i << " box " << box.height << "x" << box.width;
      }
}

TEST(TransformResample, SameSizeIsTheIdentity) {
  const DecodedImage img = make_image(13, 9, [](int64_t x, int64_t y, int c) {
    return static_cast<int>((x * 97 + y * 31 + c * 71 + x * y * 7) % 256);
  });
  for (Resample f : {Resample::kBilinear, Resample::kBicubic}) {
    const std::vector<float> out = crop(img, whole(img), 9, 13, f);
    std::vector<float> region(out.size());
    resample_region(img, 0, 0, 13, 9, 9, 13, f, false, region.data());
    for (int64_t y = 0; y < 9; ++y)
      for (int64_t x = 0; x < 13; ++x)
        for (int c = 0; c < 3; ++c) {
          const float want = img.pixels[static_cast<size_t>((y * 13 + x) * 3 + c)] / 255.0f;
          EXPECT_FLOAT_EQ(out[static_cast<size_t>((c * 9 + y) * 13 + x)], want);
          EXPECT_FLOAT_EQ(region[static_cast<size_t>((c * 9 + y) * 13 + x)], want);
        }
  }
}

TEST(TransformResample, HorizontalGradientStaysMonotone) {
  const DecodedImage img =
      make_image(64, 20, [](int64_t x, int64_t, int c) { return static_cast<int>(x * 4 + c); });
  for (Resample f : {Resample::kBilinear, Resample::kBicubic})
    for (int64_t w : {20, 64, 150})
      for (bool flip : {false, true}) {
        const int64_t h = 7;
        const std::vector<float> out = crop(img, whole(img), h, w, f, flip);
        for (int c = 0; c < 3; ++c)
          for (int64_t y = 0; y < h; ++y)
            for (int64_t x = 1; x < w; ++x) {
              const float prev = out[static_cast<size_t>((c * h + y) * w + x - 1)];
              const float cur = out[static_cast<size_t>((c * h + y) * w + x)];
              if (flip)
                ASSERT_LE(cur, prev + 1e-6f) << "w " << w << " x " << x;
              else
                ASSERT_GE(cur, prev - 1e-6f) << "w " << w << " x " << x;
              // Every row is the same: the image does not vary vertically.
              ASSERT_NEAR(cur, out[static_cast<size_t>((c * h + 0) * w + x)], 1e-6);
            }
      }
}

TEST(TransformResample, FlipMirrorsTheOutput) {
  const DecodedImage img = make_image(40, 30, texture);
  for (Resample f : {Resample::kBilinear, Resample::kBicubic}) {
    const CropBox box{3, 5, 20, 31};
    const int64_t h = 17, w = 23;
    const std::vector<float> a = crop(img, box, h, w, f, false);
    const std::vector<float> b = crop(img, box, h, w, f, true);
    for (int c = 0; c < 3; ++c)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x)
          ASSERT_EQ(b[static_cast<size_t>((c * h + y) * w + x)],
                    a[static_cast<size_t>((c * h + y) * w + (w - 1 - x))]);
  }
}

TEST(TransformResample, BoxOutsideTheImageThrows) {
  const DecodedImage img = make_image(12, 9, texture);
  std::vector<float> out(3 * 4 * 4);
  expect_error(
      [&] {
        resample_crop(img, {0, 0, 10, 12}, 4, 4, Resample::kBilinear, false, out.data());
      },
      {"crop box", "height 10", "9x12"});
  expect_error(
      [&] {
        resample_crop(img, {-1, 0, 3, 3}, 4, 4, Resample::kBilinear, false, out.data());
      },
      {"top -1"});
  expect_error(
      [&] {
        resample_crop(img, {0, 0, 0, 3}, 4, 4, Resample::kBilinear, false, out.data());
      },
      {"height 0"});
  expect_error(
      [&] { resample_crop(img, whole(img), 0, 4, Resample::kBilinear, false, out.data()); },
      {"output size 0x4"});
  expect_error(
      [&] { resample_region(img, 0, 0, 12.5, 9, 4, 4, Resample::kBicubic, false, out.data()); },
      {"region", "12.5"});
  DecodedImage broken = img;
  broken.pixels.pop_back();
  expect_error(
      [&] { resample_crop(broken, whole(img), 4, 4, Resample::kBilinear, false, out.data()); },
      {"9x12x3", "323 bytes"});
}

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

// ---- cache resize ----

TEST(TransformResizeShorterSide, MatchesPillowAndKeepsSmallerRequestsOut) {
  const DecodedImage img = from_values(7, 5, kSmall7x5);
  const DecodedImage r = resize_shorter_side(img, 3);
  ASSERT_EQ(r.height, 3);
  ASSERT_EQ(r.width, 4);
  ASSERT_EQ(r.pixels.size(), kSmallShorter3.size());
  for (size_t i = 0; i < r.pixels.size(); ++i) EXPECT_NEAR(r.pixels[i], kSmallShorter3[i], 1) << i;
  for (int64_t s : {0, -1, 5}) {
    const DecodedImage same = resize_shorter_side(img, s);
    EXPECT_EQ(same.height, 5);
    EXPECT_EQ(same.width, 7);
    EXPECT_EQ(same.pixels, img.pixels);
  }
  const DecodedImage big = resize_shorter_side(make_image(500, 375, texture), 256);
  EXPECT_EQ(big.height, 256);
  EXPECT_EQ(big.width, 341);
  const DecodedImage flat = resize_shorter_side(
      make_image(90, 70, [](int64_t, int64_t, int c) { return 3 + 120 * c; }), 40);
  ASSERT_EQ(flat.width, 51);
  for (size_t i = 0; i < flat.pixels.size(); ++i)
    ASSERT_EQ(int{flat.pixels[i]}, 3 + 120 * static_cast<int>(i % 3)) << i;
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
