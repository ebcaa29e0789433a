// The resampler of the transforms against Pillow: bicubic and bilinear, crops, fractional boxes,
// flips, and the image cache's shorter-side resize.
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

}  // namespace
}  // namespace clbench
