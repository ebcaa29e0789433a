#pragma once
// Pillow reference vectors (bench/transforms_vectors.py) and image helpers shared by the transform
// tests (test_transforms.cpp, test_resample.cpp).
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

namespace clbench::transform_testing {

using testing::expect_error;

// ---- Pillow reference vectors (bench/transforms_vectors.py), uint8 HWC ----
inline const std::vector<int> kSmall7x5 = {
    0,   50,  100, 37,  87,  137, 74,  124, 174, 111, 161, 211, 148, 198, 248, 185, 235, 29,
    222, 16,  66,  91,  141, 191, 141, 191, 241, 191, 241, 35,  241, 35,  85,  35,  85,  135,
    85,  135, 185, 135, 185, 235, 182, 232, 26,  245, 39,  89,  52,  102, 152, 115, 165, 215,
    178, 228, 22,  241, 35,  85,  48,  98,  148, 17,  67,  117, 93,  143, 193, 169, 219, 13,
    245, 39,  89,  65,  115, 165, 141, 191, 241, 217, 11,  61,  108, 158, 208, 197, 247, 41,
    30,  80,  130, 119, 169, 219, 208, 2,   52,  41,  91,  141, 130, 180, 230};
inline const std::vector<int> kSmallBicubic3x4 = {
    45,  101, 143, 124, 155, 182, 172, 148, 112, 163, 163, 141, 151, 126, 108, 114, 123, 157,
    121, 121, 103, 153, 137, 118, 161, 100, 130, 113, 176, 126, 131, 101, 128, 119, 106, 162};
inline const std::vector<int> kSmallBilinear4x6 = {
    19,  69,  119, 77,  127, 177, 145, 195, 194, 203, 119, 59,  93,  143, 184, 166, 162, 112,
    114, 110, 147, 133, 149, 172, 167, 153, 120, 144, 135, 129, 144, 134, 107, 125, 111, 154,
    142, 128, 95,  136, 126, 121, 155, 146, 118, 154, 84,  127, 78,  128, 142, 153, 149, 87,
    136, 99,  149, 157, 103, 153, 142, 192, 133, 88,  138, 137, 150, 67,  117, 96,  133, 183};
inline const std::vector<int> kSmallShorter3 = {
    57,  111, 158, 131, 147, 142, 126, 148, 169, 162, 139, 120, 155, 141, 110, 148, 132, 121,
    148, 139, 110, 139, 95,  146, 103, 157, 136, 127, 146, 106, 143, 81,  136, 130, 116, 166};
inline const std::vector<int> kTextureBicubic4x3 = {3,  0, 3,  6,  0, 12, 9,  0, 21, 12, 0, 29,
                                                    9,  0, 12, 12, 1, 8,  15, 1, 17, 18, 2, 38,
                                                    15, 0, 21, 18, 1, 15, 21, 3, 19, 24, 4, 31};
inline const std::vector<int> kTextureBilinear4x3 = {4,  0, 4,  7,  0, 12, 10, 0, 21, 13, 0, 29,
                                                     9,  0, 12, 12, 1, 10, 15, 1, 18, 18, 2, 37,
                                                     15, 0, 20, 18, 1, 16, 21, 3, 19, 24, 4, 31};
inline const std::vector<int> kTextureRegionBicubic5x4 = {
    4,  0,  4,  6,  0,  11, 7,  0,  17, 9,  0,  20, 11, 0,  28, 8, 0,  6,  10, 0,
    11, 11, 0,  14, 13, 1,  18, 15, 1,  33, 12, 0,  19, 14, 1,  9, 15, 1,  1,  17,
    2,  15, 19, 2,  41, 15, 0,  17, 17, 1,  13, 18, 2,  7,  20, 3, 15, 22, 3,  40};
inline const std::vector<int> kTextureCropBilinear4x5 = {
    6,  0,  8,  8,  0,  15, 10, 0,  21, 12, 0,  28, 8,  0,  5,  10, 0,  17, 12, 1,
    20, 14, 1,  29, 11, 0,  14, 13, 1,  6,  15, 1,  18, 17, 2,  38, 14, 0,  14, 16,
    1,  5,  18, 2,  17, 20, 2,  40, 16, 1,  13, 18, 2,  6,  20, 3,  16, 22, 3,  41};
inline const std::vector<int> kBigTestSamples = {
    132, 126, 219, 203, 97,  148, 18,  76,  23,  89, 66,  64,  158, 185, 158, 73,
    192, 138, 28,  192, 216, 215, 110, 122, 111, 89, 194, 114, 128, 205, 98,  126,
    161, 41,  200, 160, 20,  198, 244, 17,  98,  30, 148, 184, 85,  233, 56,  55};
inline const std::vector<int> kBigTestBilinearSamples = {
    132, 126, 218, 203, 98,  148, 18,  75,  29,  89, 65,  72,  158, 185, 158, 73,
    192, 136, 28,  191, 208, 215, 110, 124, 111, 88, 197, 114, 129, 204, 98,  126,
    161, 41,  200, 161, 20,  193, 241, 17,  100, 29, 148, 184, 86,  233, 64,  58};
inline const std::vector<int> kBigTestSquareSamples = {
    2,   0,   2,   243, 11,  215, 236, 15,  98,  221, 117, 143, 33,  9,   64,  26,
    146, 185, 38,  210, 141, 150, 222, 189, 111, 99,  196, 117, 152, 204, 182, 114,
    196, 42,  174, 109, 142, 155, 122, 235, 65,  93,  158, 45,  76,  255, 95,  37};
inline const std::vector<int> kBigCropSamples = {
    175, 233, 193, 168, 41, 112, 83, 25, 182, 76,  25, 251, 192, 27,  210, 63,
    192, 161, 207, 95,  71, 142, 88, 25, 253, 207, 72, 104, 231, 68,  169, 28,
    227, 109, 115, 229, 32, 48,  56, 82, 37,  177, 23, 155, 118, 179, 231, 76};

// ---- helpers ----

// A width x height image with pixel (x, y) channel c = f(x, y, c).
template <typename F>
inline DecodedImage make_image(int64_t width, int64_t height, F f) {
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

inline DecodedImage from_values(int64_t width, int64_t height, const std::vector<int>& hwc) {
  return make_image(width, height, [&](int64_t x, int64_t y, int c) {
    return hwc[static_cast<size_t>((y * width + x) * 3 + c)];
  });
}

// The formulas of bench/transforms_vectors.py.
inline int texture(int64_t x, int64_t y, int c) {
  if (c == 0) return static_cast<int>((x + 2 * y) & 255);
  if (c == 1) return static_cast<int>((x * y / 16) & 255);
  return static_cast<int>(((x ^ y) * 3) & 255);
}

inline int halves(int64_t x, int64_t, int c) {
  const int left[3] = {255, 0, 0}, right[3] = {0, 0, 255};
  return x < 250 ? left[c] : right[c];
}

// Our float CHW output against Pillow's uint8 HWC: every |ours * 255 - pillow| <= tol.
inline void expect_matches_pillow(const std::vector<float>& chw, int64_t h, int64_t w,
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

inline void expect_samples_match(const std::vector<float>& chw, const std::vector<int>& samples,
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

inline std::vector<float> crop(const DecodedImage& img, const CropBox& box, int64_t h, int64_t w,
                               Resample f, bool flip = false) {
  std::vector<float> out(static_cast<size_t>(3 * h * w), -1.0f);
  resample_crop(img, box, h, w, f, flip, out.data());
  return out;
}

inline CropBox whole(const DecodedImage& img) {
  return {0, 0, img.height, img.width};
}

inline TransformOptions plain(int64_t size = 224) {
  TransformOptions o;
  o.size = size;
  o.resize = size * 256 / 224;
  return o;
}

}  // namespace clbench::transform_testing
