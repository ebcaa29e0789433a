#include "datasets/images/resampler.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace clbench {
namespace {

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

// The source rows [row0, row1) resampled horizontally to out_w columns: HWC floats, clamped like
// clip8, in a buffer of this thread's.
const float* horizontal_pass(const DecodedImage& img, const AxisWeights& xw, int64_t row0,
                             int64_t row1, int64_t out_w, bool flip) {
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

  return tmp_data;
}

// Writes rows of the final image: sink(yy, row) with row = out_w * 3 floats, HWC order, in
// [0, 255] before clamping (the caller clamps).
template <typename Sink>
void resample(const DecodedImage& img, const ResampleRegion& r, int64_t out_h, int64_t out_w,
              Resample f, bool flip, Sink&& sink) {
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
  const float* tmp_data = horizontal_pass(img, xw, row0, row1, out_w, flip);
  const int64_t stride = out_w * 3;

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

}  // namespace

void resample_chw(const DecodedImage& img, const ResampleRegion& r, int64_t out_h, int64_t out_w,
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

void resample_hwc(const DecodedImage& img, const ResampleRegion& r, int64_t out_h, int64_t out_w,
                  Resample f, bool flip, uint8_t* out) {
  const int64_t stride = 3 * out_w;
  resample(img, r, out_h, out_w, f, flip, [&](int64_t yy, const float* row) {
    uint8_t* __restrict dst = out + yy * stride;  // vectorised with -fno-trapping-math (CMake)
    for (int64_t j = 0; j < stride; ++j)
      dst[j] = static_cast<uint8_t>(std::min(std::max(row[j], 0.0f), 255.0f) + 0.5f);
  });
}

}  // namespace clbench
