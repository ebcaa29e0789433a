// torchvision's RandomCrop(size, padding) + RandomHorizontalFlip as the training view
// (TrainCrop::kPadded, Mammoth's CIFAR-10 and Tiny-ImageNet transforms).
#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <tuple>
#include <vector>

#include "datasets/images/transforms.h"
#include "harness/foundation/error.h"
#include "tests/core/fixtures.h"
#include "tests/core/transform_fixtures.h"

namespace clbench::padded_crop_testing {

using testing::expect_error;
using transform_testing::make_image;
using transform_testing::texture;

TransformOptions padded(int64_t size, int64_t padding) {
  TransformOptions o;
  o.size = size;
  o.resize = 0;
  o.train_crop = TrainCrop::kPadded;
  o.padding = padding;
  return o;
}

// The view RandomCrop would give with the window at (top, left) of the padded image, flipped or
// not: HWC uint8, black outside the image.
std::vector<uint8_t> window(const DecodedImage& img, int64_t size, int64_t padding, int64_t top,
                            int64_t left, bool flip) {
  std::vector<uint8_t> out(static_cast<size_t>(size * size * 3));
  for (int64_t y = 0; y < size; ++y)
    for (int64_t x = 0; x < size; ++x)
      for (int64_t c = 0; c < 3; ++c) {
        const int64_t sy = top + y - padding, sx = left + (flip ? size - 1 - x : x) - padding;
        const bool inside = sy >= 0 && sy < img.height && sx >= 0 && sx < img.width;
        out[static_cast<size_t>((y * size + x) * 3 + c)] =
            inside ? img.pixels[static_cast<size_t>((sy * img.width + sx) * 3 + c)] : 0;
      }
  return out;
}

TEST(TransformPaddedCrop, EveryViewIsAWindowOfThePaddedImageAndAllOccur) {
  const DecodedImage img = make_image(32, 32, texture);
  const TransformOptions o = padded(32, 4);
  std::set<std::tuple<int64_t, int64_t, bool>> seen;
  for (uint64_t seed = 0; seed < 1000; ++seed) {
    std::vector<uint8_t> view(32 * 32 * 3), again(view.size());
    train_transform(img, o, seed, view.data());
    train_transform(img, o, seed, again.data());
    ASSERT_EQ(view, again) << "seed " << seed;
    bool found = false;
    for (int64_t top = 0; top <= 8 && !found; ++top)
      for (int64_t left = 0; left <= 8 && !found; ++left)
        for (bool flip : {false, true}) {
          if (window(img, 32, 4, top, left, flip) == view) {
            seen.insert({top, left, flip});
            found = true;
            break;
          }
        }
    ASSERT_TRUE(found) << "seed " << seed << " is no padded window";
  }
  EXPECT_GE(seen.size(), 150u);  // of 9 x 9 x 2 = 162 equally likely views
}

TEST(TransformPaddedCrop, FloatViewIsTheUint8ViewNormalised) {
  const DecodedImage img = make_image(64, 64, texture);
  TransformOptions o = padded(64, 4);
  o.mean = {0.4802f, 0.4480f, 0.3975f};
  o.std = {0.2770f, 0.2691f, 0.2821f};
  for (uint64_t seed : {3u, 77u}) {
    std::vector<uint8_t> u8(64 * 64 * 3);
    std::vector<float> chw(u8.size());
    train_transform(img, o, seed, u8.data());
    train_transform(img, o, seed, chw.data());
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t p = 0; p < 64 * 64; ++p) {
        const float want = (static_cast<float>(u8[static_cast<size_t>(p * 3 + c)]) / 255.0f -
                            o.mean[static_cast<size_t>(c)]) /
                           o.std[static_cast<size_t>(c)];
        ASSERT_NEAR(chw[static_cast<size_t>(c * 64 * 64 + p)], want, 1e-5f) << c << " " << p;
      }
  }
}

TEST(TransformPaddedCrop, WithoutPaddingOrFlipAtTheNativeSizeIsTheImage) {
  const DecodedImage img = make_image(32, 32, texture);
  TransformOptions o = padded(32, 0);
  o.flip = false;
  std::vector<uint8_t> view(32 * 32 * 3);
  train_transform(img, o, 9, view.data());
  EXPECT_EQ(view, img.pixels);
}

TEST(TransformPaddedCrop, RejectsACropLargerThanThePaddedImageAndNegativePadding) {
  const DecodedImage img = make_image(20, 30, texture);
  std::vector<uint8_t> out(32 * 32 * 3);
  expect_error([&] { train_transform(img, padded(32, 4), 1, out.data()); },
               {"RandomCrop(32, padding 4)", "30x20", "smaller than the crop"});
  EXPECT_NO_THROW(train_transform(img, padded(32, 6), 1, out.data()));
  expect_error([&] { validate_transform_options(padded(32, -1)); }, {"padding", "-1"});
}

}  // namespace clbench::padded_crop_testing
