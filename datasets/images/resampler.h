#pragma once
// Pillow's ImagingResample (antialiased, separable: a horizontal pass, then a vertical one), the
// kernel of the transforms (datasets/images/transforms.h): the region of an image to resample,
// written as CHW floats or HWC uint8.
#include <array>
#include <cstdint>

#include "datasets/images/transforms.h"

namespace clbench {

// The source region to resample and the rectangle its filter taps are confined to.
struct ResampleRegion {
  double x0, y0, x1, y1;        // source pixel coordinates
  int64_t clip_top, clip_left;  // taps stay inside [clip_top, clip_top + clip_height) x ...
  int64_t clip_height, clip_width;
};

// Resamples into CHW floats: out = clamp(v, 0, 255) * gain[c] + bias[c].
void resample_chw(const DecodedImage& img, const ResampleRegion& r, int64_t out_h, int64_t out_w,
                  Resample f, bool flip, const std::array<float, 3>& gain,
                  const std::array<float, 3>& bias, float* out);

// Resamples into HWC uint8 (the resampler's own layout, one contiguous rounding pass per row),
// rounded half up as Pillow's final clip8.
void resample_hwc(const DecodedImage& img, const ResampleRegion& r, int64_t out_h, int64_t out_w,
                  Resample f, bool flip, uint8_t* out);

}  // namespace clbench
