#include "datasets/images/transforms.h"

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

double filter_support(Resample f) {
  return f == Resample::kBilinear ? 1.0 : 2.0;
}

double filter_weight(Resample f, double x) {
  x = std::fabs(x);
  if (f == Resample::kBilinear) return x < 1.0 ? 1.0 - x : 0.0;
  constexpr double a = -0.5;  // Keys' cubic convolution, as PIL BICUBIC
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

// One axis's resampling weights: output i reads source indices first[i] .. first[i] + count[i]
// - 1 with weights[i * taps ...]. Pillow's precompute_coeffs, in a coordinate frame whose
// valid source indices are [0, in_size), shifted by `offset` into image indices.
struct AxisWeights {
  int64_t taps = 0;
  std::vector<int64_t> first;
  std::vector<int64_t> count;
  std::vector<float> weights;
};

AxisWeights axis_weights(int64_t in_size, double in0, double in1, int64_t out_size, Resample f,
                         int64_t offset) {
  const double scale = (in1 - in0) / static_cast<double>(out_size);
  const double filter_scale = std::max(scale, 1.0);
  const double support = filter_support(f) * filter_scale;
  const double inv = 1.0 / filter_scale;
  AxisWeights w;
  w.taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  w.first.resize(static_cast<size_t>(out_size));
  w.count.resize(static_cast<size_t>(out_size));
  w.weights.assign(static_cast<size_t>(out_size * w.taps), 0.0f);
  std::vector<double> k(static_cast<size_t>(w.taps));
  for (int64_t i = 0; i < out_size; ++i) {
    const double center = in0 + (static_cast<double>(i) + 0.5) * scale;
    // Taps outside [floor(c - s + 0.5), floor(c + s + 0.5)) have weight 0 (Pillow's rounding).
    int64_t lo = static_cast<int64_t>(std::floor(center - support + 0.5));
    int64_t hi = static_cast<int64_t>(std::floor(center + support + 0.5));
    lo = std::max<int64_t>(lo, 0);
    hi = std::min<int64_t>(hi, in_size);
    hi = std::min<int64_t>(hi, lo + w.taps);
    double sum = 0;
    for (int64_t x = lo; x < hi; ++x) {
      const double v = filter_weight(f, (static_cast<double>(x) - center + 0.5) * inv);
      k[static_cast<size_t>(x - lo)] = v;
      sum += v;
    }
    if (hi <= lo || sum == 0.0) {  // unreachable for a region inside the image; nearest pixel
      lo = std::min<int64_t>(std::max<int64_t>(static_cast<int64_t>(center), 0), in_size - 1);
      hi = lo + 1;
      k[0] = sum = 1.0;
    }
    float* dst = &w.weights[static_cast<size_t>(i * w.taps)];
    for (int64_t x = lo; x < hi; ++x) dst[x - lo] = static_cast<float>(k[x - lo] / sum);
    w.first[static_cast<size_t>(i)] = lo + offset;
    w.count[static_cast<size_t>(i)] = hi - lo;
  }
  return w;
}

// The source region to resample and the rectangle its filter taps are confined to.
struct Region {
  double x0, y0, x1, y1;        // source pixel coordinates
  int64_t clip_top, clip_left;  // taps stay inside [clip_top, clip_top + clip_height) x ...
  int64_t clip_height, clip_width;
};

// Writes rows of the final image: sink(yy, row) with row = out_w * 3 floats, HWC order, in
// [0, 255] before clamping (the caller clamps).
template <typename Sink>
void resample(const DecodedImage& img, const Region& r, int64_t out_h, int64_t out_w, Resample f,
              bool flip, Sink&& sink) {
  const AxisWeights xw =
      axis_weights(r.clip_width, r.x0 - static_cast<double>(r.clip_left),
                   r.x1 - static_cast<double>(r.clip_left), out_w, f, r.clip_left);
  const AxisWeights yw = axis_weights(r.clip_height, r.y0 - static_cast<double>(r.clip_top),
                                      r.y1 - static_cast<double>(r.clip_top), out_h, f, r.clip_top);
  // Source rows the vertical pass reads: only these get the horizontal pass.
  int64_t row0 = yw.first[0], row1 = row0;
  for (int64_t i = 0; i < out_h; ++i) {
    row0 = std::min(row0, yw.first[static_cast<size_t>(i)]);
    row1 = std::max(row1, yw.first[static_cast<size_t>(i)] + yw.count[static_cast<size_t>(i)]);
  }
  const int64_t stride = out_w * 3;
  const int64_t src_stride = img.width * 3;

  // Horizontal pass into tmp: rows row0 .. row1 - 1, out_w columns, HWC, clamped like clip8.
  // kBlock source rows at a time share each output column's weights: their used columns are
  // converted to float once and interleaved ([x][channel][row]), so every tap is one
  // multiply-add per channel across the rows, which the compiler vectorises (8 rows: two SSE
  // vectors per channel, six independent sums; 2x faster than one row at a time).
  int64_t col0 = xw.first[0], col1 = col0;
  for (int64_t i = 0; i < out_w; ++i) {
    col0 = std::min(col0, xw.first[static_cast<size_t>(i)]);
    col1 = std::max(col1, xw.first[static_cast<size_t>(i)] + xw.count[static_cast<size_t>(i)]);
  }
  constexpr int64_t kBlock = 8;
  // Scratch kept per thread: a fresh buffer per image (up to ~1 MB) is fresh pages for every
  // image, and page faults of threads in one process serialise (2 loader threads were 1.1x one).
  thread_local std::vector<float> scratch;
  scratch.resize(std::max(scratch.size(), static_cast<size_t>((row1 - row0) * stride)));
  float* const tmp_data = scratch.data();
  std::vector<float> rows(static_cast<size_t>((col1 - col0) * 3 * kBlock));
  for (int64_t y = row0; y < row1; y += kBlock) {
    const int64_t nr = std::min(kBlock, row1 - y);
    const uint8_t* src[kBlock];  // a short last block repeats its last row
    for (int64_t r = 0; r < kBlock; ++r)
      src[r] = img.pixels.data() + (y + std::min(r, nr - 1)) * src_stride + col0 * 3;
    float* q = rows.data();
    for (int64_t j = 0; j < (col1 - col0) * 3; ++j, q += kBlock)
      for (int64_t r = 0; r < kBlock; ++r) q[r] = static_cast<float>(src[r][j]);
    for (int64_t xx = 0; xx < out_w; ++xx) {
      const size_t k = static_cast<size_t>(flip ? out_w - 1 - xx : xx);
      const float* wk = &xw.weights[k * static_cast<size_t>(xw.taps)];
      const float* q = rows.data() + (xw.first[k] - col0) * 3 * kBlock;
      const int64_t n = xw.count[k];
      float acc[3][kBlock] = {};
      for (int64_t t = 0; t < n; ++t, q += 3 * kBlock) {
        const float wt = wk[t];
        for (int ch = 0; ch < 3; ++ch)
          for (int64_t r = 0; r < kBlock; ++r) acc[ch][r] += wt * q[ch * kBlock + r];
      }
      for (int ch = 0; ch < 3; ++ch)
        for (int64_t r = 0; r < kBlock; ++r)
          acc[ch][r] = std::min(std::max(acc[ch][r], 0.0f), 255.0f);
      for (int64_t r = 0; r < nr; ++r) {
        float* dst = tmp_data + (y + r - row0) * stride + 3 * xx;
        for (int ch = 0; ch < 3; ++ch) dst[ch] = acc[ch][r];
      }
    }
  }

  // Vertical pass, one output row at a time.
  std::vector<float> row(static_cast<size_t>(stride));
  float* acc = row.data();
  for (int64_t yy = 0; yy < out_h; ++yy) {
    const float* wk = &yw.weights[static_cast<size_t>(yy * yw.taps)];
    const int64_t n = yw.count[static_cast<size_t>(yy)];
    const float* base = tmp_data + (yw.first[static_cast<size_t>(yy)] - row0) * stride;
    {
      const float wt = wk[0];
      for (int64_t j = 0; j < stride; ++j) acc[j] = wt * base[j];
    }
    for (int64_t t = 1; t < n; ++t) {
      const float wt = wk[t];
      const float* src = base + t * stride;
      for (int64_t j = 0; j < stride; ++j) acc[j] += wt * src[j];
    }
    sink(yy, static_cast<const float*>(acc));
  }
}

// Resamples into CHW floats: out = clamp(v, 0, 255) * gain[c] + bias[c].
void resample_chw(const DecodedImage& img, const Region& r, int64_t out_h, int64_t out_w,
                  Resample f, bool flip, const std::array<float, 3>& gain,
                  const std::array<float, 3>& bias, float* out) {
  const int64_t plane = out_h * out_w;
  resample(img, r, out_h, out_w, f, flip, [&](int64_t yy, const float* row) {
    for (int c = 0; c < 3; ++c) {
      float* dst = out + c * plane + yy * out_w;
      const float g = gain[static_cast<size_t>(c)], b = bias[static_cast<size_t>(c)];
      for (int64_t x = 0; x < out_w; ++x)
        dst[x] = std::min(std::max(row[3 * x + c], 0.0f), 255.0f) * g + b;
    }
  });
}

// Resamples into HWC uint8 (the resampler's own layout, one contiguous rounding pass per row),
// rounded half up as Pillow's final clip8.
void resample_hwc(const DecodedImage& img, const Region& r, int64_t out_h, int64_t out_w,
                  Resample f, bool flip, uint8_t* out) {
  const int64_t stride = 3 * out_w;
  resample(img, r, out_h, out_w, f, flip, [&](int64_t yy, const float* row) {
    uint8_t* __restrict dst = out + yy * stride;  // vectorised with -fno-trapping-math (CMake)
    for (int64_t j = 0; j < stride; ++j)
      dst[j] = static_cast<uint8_t>(std::min(std::max(row[j], 0.0f), 255.0f) + 0.5f);
  });
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

Region crop_region(const DecodedImage& img, const CropBox& b) {
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
  const Region r{x0, y0, x1, y1, 0, 0, img.height, img.width};
  resample_chw(img, r, out_h, out_w, filter, flip, kUnitGain, kZeroBias, out);
}

namespace {

// The training view's crop and flip, drawn from `seed`: the crop's numbers first, then the flip.
Region train_view(const DecodedImage& img, const TransformOptions& o, uint64_t seed, bool* flip) {
  validate_transform_options(o);
  check_image(img);
  SplitMix64 rng(seed);
  const CropBox box = draw_crop_box(img.height, img.width, o, rng);
  *flip = o.flip && rng.uniform(0.0, 1.0) < 0.5;
  return crop_region(img, box);
}

// The test view's source region.
Region test_view(const DecodedImage& img, const TransformOptions& o) {
  validate_transform_options(o);
  check_image(img);
  Region r{
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
  bool flip = false;
  const Region r = train_view(img, o, seed, &flip);
  std::array<float, 3> gain, bias;
  normalisation(o, &gain, &bias);
  resample_chw(img, r, o.size, o.size, Resample::kBilinear, flip, gain, bias, out);
}

void train_transform(const DecodedImage& img, const TransformOptions& o, uint64_t seed,
                     uint8_t* out) {
  bool flip = false;
  const Region r = train_view(img, o, seed, &flip);
  resample_hwc(img, r, o.size, o.size, Resample::kBilinear, flip, out);
}

void test_transform(const DecodedImage& img, const TransformOptions& o, float* out) {
  const Region r = test_view(img, o);
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
  const Region r{
      0,          0,        static_cast<double>(img.width), static_cast<double>(img.height), 0, 0,
      img.height, img.width};
  const int64_t stride = out.width * 3;
  resample(img, r, out.height, out.width, Resample::kBicubic, false,
           [&](int64_t yy, const float* row) {
             uint8_t* dst = out.pixels.data() + yy * stride;
             for (int64_t j = 0; j < stride; ++j)
               dst[j] = static_cast<uint8_t>(std::min(std::max(row[j], 0.0f), 255.0f) + 0.5f);
           });
  return out;
}

}  // namespace clbench
