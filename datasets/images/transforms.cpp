#include "datasets/images/transforms.h"

#include "datasets/images/resampler.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "harness/foundation/error.h"
#include "harness/foundation/random.h"

namespace clbench {
namespace {

// Python's round(): to nearest, ties to even (independent of the FPU rounding mode).
int64_t round_half_even(double x) {
  const double f = std::floor(x);
  const double d = x - f;
  int64_t r = static_cast<int64_t>(f);
  if (d > 0.5 || (d == 0.5 && (r % 2 != 0))) ++r;
  return r;
}

template <typename T>
std::string str(const T& v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

[[noreturn]] void bad_option(const std::string& key, const std::string& value,
                             const std::string& why) {
  throw Error("transform option " + key + " = " + value + ": " + why);
}

void check_image(const DecodedImage& img) {
  if (img.height <= 0 || img.width <= 0)
    throw Error("transform: empty image (" + str(img.height) + "x" + str(img.width) + ")");
  if (img.pixels.size() != static_cast<size_t>(img.height * img.width * 3))
    throw Error("transform: image of " + str(img.height) + "x" + str(img.width) + "x3 has " +
                str(img.pixels.size()) + " bytes");
}

void check_out_size(int64_t out_h, int64_t out_w) {
  if (out_h <= 0 || out_w <= 0)
    throw Error("transform: output size " + str(out_h) + "x" + str(out_w) + " must be positive");
}

void normalisation(const TransformOptions& o, std::array<float, 3>* gain,
                   std::array<float, 3>* bias) {
  for (size_t c = 0; c < 3; ++c) {
    (*gain)[c] = 1.0f / (255.0f * o.std[c]);
    (*bias)[c] = -o.mean[c] / o.std[c];
  }
}

constexpr std::array<float, 3> kUnitGain{1.0f / 255, 1.0f / 255, 1.0f / 255};
constexpr std::array<float, 3> kZeroBias{0, 0, 0};

ResampleRegion crop_region(const DecodedImage& img, const CropBox& b) {
  if (b.height <= 0 || b.width <= 0 || b.top < 0 || b.left < 0 || b.top + b.height > img.height ||
      b.left + b.width > img.width)
    throw Error("transform: crop box (top " + str(b.top) + ", left " + str(b.left) + ", height " +
                str(b.height) + ", width " + str(b.width) + ") is not inside the " +
                str(img.height) + "x" + str(img.width) + " image");
  return {static_cast<double>(b.left),
          static_cast<double>(b.top),
          static_cast<double>(b.left + b.width),
          static_cast<double>(b.top + b.height),
          b.top,
          b.left,
          b.height,
          b.width};
}

// Python's int(round((n - size) / 2.0)) for n >= size.
int64_t center_offset(int64_t n, int64_t size) {
  return round_half_even(static_cast<double>(n - size) / 2.0);
}

CropBox draw_crop_box(int64_t height, int64_t width, const TransformOptions& o, SplitMix64& rng) {
  const double area = static_cast<double>(height) * static_cast<double>(width);
  const double log_r0 = std::log(o.ratio_min), log_r1 = std::log(o.ratio_max);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * rng.uniform(o.scale_min, o.scale_max);
    const double aspect = std::exp(rng.uniform(log_r0, log_r1));
    const int64_t w = round_half_even(std::sqrt(target_area * aspect));
    const int64_t h = round_half_even(std::sqrt(target_area / aspect));
    if (0 < w && w <= width && 0 < h && h <= height) {
      const int64_t top = rng.below(height - h + 1);
      const int64_t left = rng.below(width - w + 1);
      return {top, left, h, w};
    }
  }
  // Fallback to the central crop, its aspect ratio clamped to the range. A side that rounds to 0
  // (torchvision then fails in the crop) is kept at 1 pixel.
  const double in_ratio = static_cast<double>(width) / static_cast<double>(height);
  int64_t w = width, h = height;
  if (in_ratio < o.ratio_min) {
    h = std::max<int64_t>(1, round_half_even(static_cast<double>(w) / o.ratio_min));
  } else if (in_ratio > o.ratio_max) {
    w = std::max<int64_t>(1, round_half_even(static_cast<double>(h) * o.ratio_max));
  }
  return {(height - h) / 2, (width - w) / 2, h, w};
}

}  // namespace

void validate_transform_options(const TransformOptions& o) {
  if (o.size <= 0) bad_option("size", str(o.size), "must be positive");
  if (o.resize != 0 && o.resize < o.size)
    bad_option("resize", str(o.resize), "must be 0 or >= size (" + str(o.size) + ")");
  if (!(o.scale_min > 0 && o.scale_min <= 1))
    bad_option("scale_min", str(o.scale_min), "must be in (0, 1]");
  if (!(o.scale_max > 0 && o.scale_max <= 1))
    bad_option("scale_max", str(o.scale_max), "must be in (0, 1]");
  if (o.scale_min > o.scale_max)
    bad_option("scale_min", str(o.scale_min), "must be <= scale_max (" + str(o.scale_max) + ")");
  if (!(o.ratio_min > 0 && std::isfinite(o.ratio_min)))
    bad_option("ratio_min", str(o.ratio_min), "must be positive");
  if (!(o.ratio_max > 0 && std::isfinite(o.ratio_max)))
    bad_option("ratio_max", str(o.ratio_max), "must be positive");
  if (o.ratio_min > o.ratio_max)
    bad_option("ratio_min", str(o.ratio_min), "must be <= ratio_max (" + str(o.ratio_max) + ")");
  if (o.padding < 0) bad_option("padding", str(o.padding), "must be >= 0");
  for (size_t c = 0; c < 3; ++c) {
    if (!(o.std[c] > 0 && std::isfinite(o.std[c])))
      bad_option("std[" + str(c) + "]", str(o.std[c]), "must be positive");
    if (!std::isfinite(o.mean[c])) bad_option("mean[" + str(c) + "]", str(o.mean[c]), "not finite");
  }
}

CropBox random_resized_crop_box(int64_t height, int64_t width, const TransformOptions& o,
                                uint64_t seed) {
  validate_transform_options(o);
  if (height <= 0 || width <= 0)
    throw Error("random_resized_crop_box: empty image (" + str(height) + "x" + str(width) + ")");
  SplitMix64 rng(seed);
  return draw_crop_box(height, width, o, rng);
}

void resample_crop(const DecodedImage& img, const CropBox& box, int64_t out_h, int64_t out_w,
                   Resample filter, bool flip, float* out) {
  check_image(img);
  check_out_size(out_h, out_w);
  resample_chw(img, crop_region(img, box), out_h, out_w, filter, flip, kUnitGain, kZeroBias, out);
}

void resample_region(const DecodedImage& img, double x0, double y0, double x1, double y1,
                     int64_t out_h, int64_t out_w, Resample filter, bool flip, float* out) {
  check_image(img);
  check_out_size(out_h, out_w);
  const double w = static_cast<double>(img.width), h = static_cast<double>(img.height);
  if (!(0 <= x0 && x0 < x1 && x1 <= w && 0 <= y0 && y0 < y1 && y1 <= h))
    throw Error("transform: region (" + str(x0) + ", " + str(y0) + ", " + str(x1) + ", " + str(y1) +
                ") is not inside the " + str(img.height) + "x" + str(img.width) + " image");
  const ResampleRegion r{x0, y0, x1, y1, 0, 0, img.height, img.width};
  resample_chw(img, r, out_h, out_w, filter, flip, kUnitGain, kZeroBias, out);
}

namespace {

// The training view's crop and flip, drawn from `seed`: the crop's numbers first, then the flip.
ResampleRegion train_view(const DecodedImage& img, const TransformOptions& o, uint64_t seed,
                          bool* flip) {
  validate_transform_options(o);
  check_image(img);
  SplitMix64 rng(seed);
  const CropBox box = draw_crop_box(img.height, img.width, o, rng);
  *flip = o.flip && rng.uniform(0.0, 1.0) < 0.5;
  return crop_region(img, box);
}

// RandomCrop(size, padding): the window's offsets in the padded image and the flip.
struct PaddedCrop {
  int64_t top = 0, left = 0;
  bool flip = false;
};

PaddedCrop padded_view(const DecodedImage& img, const TransformOptions& o, uint64_t seed) {
  validate_transform_options(o);
  check_image(img);
  const int64_t h = img.height + 2 * o.padding, w = img.width + 2 * o.padding;
  if (h < o.size || w < o.size)
    throw Error("transform: RandomCrop(" + str(o.size) + ", padding " + str(o.padding) + ") of a " +
                str(img.height) + "x" + str(img.width) +
                " image: the padded image is smaller than the crop");
  SplitMix64 rng(seed);
  PaddedCrop c;
  c.top = rng.below(h - o.size + 1);
  c.left = rng.below(w - o.size + 1);
  c.flip = o.flip && rng.uniform(0.0, 1.0) < 0.5;
  return c;
}

// Calls put(y, x, channel, value) for every output pixel of the padded crop (0 outside the image).
template <typename Put>
void padded_pixels(const DecodedImage& img, const TransformOptions& o, const PaddedCrop& c,
                   Put put) {
  for (int64_t y = 0; y < o.size; ++y) {
    const int64_t sy = c.top + y - o.padding;
    for (int64_t x = 0; x < o.size; ++x) {
      const int64_t sx = c.left + (c.flip ? o.size - 1 - x : x) - o.padding;
      const bool inside = sy >= 0 && sy < img.height && sx >= 0 && sx < img.width;
      const uint8_t* p =
          inside ? &img.pixels[static_cast<size_t>((sy * img.width + sx) * 3)] : nullptr;
      for (int64_t ch = 0; ch < 3; ++ch) put(y, x, ch, inside ? p[ch] : uint8_t{0});
    }
  }
}

// The test view's source region.
ResampleRegion test_view(const DecodedImage& img, const TransformOptions& o) {
  validate_transform_options(o);
  check_image(img);
  ResampleRegion r{
      0,          0,        static_cast<double>(img.width), static_cast<double>(img.height), 0, 0,
      img.height, img.width};
  if (o.resize > 0) {
    // Resize to rh x rw, then crop size x size at (top, left): output pixel i of the crop is
    // pixel top + i of the resized image, i.e. the same filter centres and supports as resizing
    // the source region [top, top + size) * (h / rh) of the whole image.
    const auto shape = shorter_side_shape(img.height, img.width, o.resize);
    const int64_t top = center_offset(shape[0], o.size), left = center_offset(shape[1], o.size);
    const double sy = static_cast<double>(img.height) / static_cast<double>(shape[0]);
    const double sx = static_cast<double>(img.width) / static_cast<double>(shape[1]);
    r.x0 = static_cast<double>(left) * sx;
    r.x1 = static_cast<double>(left + o.size) * sx;
    r.y0 = static_cast<double>(top) * sy;
    r.y1 = static_cast<double>(top + o.size) * sy;
  }
  return r;
}

}  // namespace

void train_transform(const DecodedImage& img, const TransformOptions& o, uint64_t seed,
                     float* out) {
  if (o.train_crop == TrainCrop::kPadded) {
    std::array<float, 3> gain, bias;
    normalisation(o, &gain, &bias);
    const int64_t plane = o.size * o.size;
    padded_pixels(img, o, padded_view(img, o, seed),
                  [&](int64_t y, int64_t x, int64_t c, uint8_t v) {
                    out[c * plane + y * o.size + x] = static_cast<float>(v) * gain[c] + bias[c];
                  });
    return;
  }
  bool flip = false;
  const ResampleRegion r = train_view(img, o, seed, &flip);
  std::array<float, 3> gain, bias;
  normalisation(o, &gain, &bias);
  resample_chw(img, r, o.size, o.size, Resample::kBilinear, flip, gain, bias, out);
}

void train_transform(const DecodedImage& img, const TransformOptions& o, uint64_t seed,
                     uint8_t* out) {
  if (o.train_crop == TrainCrop::kPadded) {
    padded_pixels(
        img, o, padded_view(img, o, seed),
        [&](int64_t y, int64_t x, int64_t c, uint8_t v) { out[(y * o.size + x) * 3 + c] = v; });
    return;
  }
  bool flip = false;
  const ResampleRegion r = train_view(img, o, seed, &flip);
  resample_hwc(img, r, o.size, o.size, Resample::kBilinear, flip, out);
}

void test_transform(const DecodedImage& img, const TransformOptions& o, float* out) {
  const ResampleRegion r = test_view(img, o);
  std::array<float, 3> gain, bias;
  normalisation(o, &gain, &bias);
  resample_chw(img, r, o.size, o.size, o.test_filter, false, gain, bias, out);
}

void test_transform(const DecodedImage& img, const TransformOptions& o, uint8_t* out) {
  resample_hwc(img, test_view(img, o), o.size, o.size, o.test_filter, false, out);
}

std::array<int64_t, 2> shorter_side_shape(int64_t height, int64_t width, int64_t shorter) {
  if (height <= 0 || width <= 0 || shorter <= 0)
    throw Error("shorter_side_shape: image " + str(height) + "x" + str(width) + ", shorter side " +
                str(shorter) + ": all must be positive");
  const int64_t short_side = std::min(height, width), long_side = std::max(height, width);
  // Python: int(shorter * long / short), a float division truncated.
  const int64_t new_long = static_cast<int64_t>(static_cast<double>(shorter * long_side) /
                                                static_cast<double>(short_side));
  if (width <= height) return {new_long, shorter};
  return {shorter, new_long};
}

DecodedImage resize_shorter_side(const DecodedImage& img, int64_t shorter) {
  if (shorter <= 0) return img;
  check_image(img);
  const auto shape = shorter_side_shape(img.height, img.width, shorter);
  if (shape[0] == img.height && shape[1] == img.width) return img;
  DecodedImage out;
  out.height = shape[0];
  out.width = shape[1];
  out.pixels.resize(static_cast<size_t>(out.height * out.width * 3));
  const ResampleRegion r{
      0,          0,        static_cast<double>(img.width), static_cast<double>(img.height), 0, 0,
      img.height, img.width};
  resample_hwc(img, r, out.height, out.width, Resample::kBicubic, false, out.pixels.data());
  return out;
}

}  // namespace clbench
