#pragma once
// Torch-free image transforms for the image datasets (ImageNet-R, CIFAR-100, CUB-200, DomainNet):
// the torchvision pipelines the CL repos use on PIL images, in plain C++.
//
//   train: RandomResizedCrop(size, scale, ratio, bilinear) + RandomHorizontalFlip(0.5)
//          + ToTensor + Normalize(mean, std)
//          or (TrainCrop::kPadded) RandomCrop(size, padding) + RandomHorizontalFlip(0.5)
//          + ToTensor + Normalize(mean, std)  (Mammoth's CIFAR-10 and Tiny-ImageNet)
//   test:  Resize(resize, filter) + CenterCrop(size) + ToTensor + Normalize(mean, std),
//          or Resize((size, size), filter) when resize == 0
//
// Resampling follows Pillow's ImagingResample (antialiased, separable, horizontal pass then
// vertical pass; the filter support is widened by the downscale factor; weights normalised per
// output pixel), evaluated in float: Pillow rounds the horizontal pass to uint8 and the result to
// uint8 (8-bit fixed-point weights); here the intermediate is only clamped to [0, 255] (as
// Pillow's clip8 does) and the result is not quantised, so values differ from
// PIL-then-ToTensor by at most about 1/255.
//
// Random numbers come from our own generator, not torch's: a SplitMix64 stream (Steele, Lea and
// Flood 2014) started at `seed`; a uniform double in [a, b) is a + (b - a) * (next() >> 11) *
// 2^-53, an integer in [0, n) is next() % n with rejection of the biased low values. The same
// seed gives the same view on every platform.
//
// All functions are reentrant (no global state) and may run concurrently in loader threads.
// Images are clbench::DecodedImage: HWC uint8 RGB. Float outputs are CHW, 3 * out_h * out_w.
#include <array>
#include <cstdint>

#include "datasets/readers/jpeg.h"

namespace clbench {

enum class Resample { kBilinear, kBicubic };  // PIL BILINEAR (triangle), BICUBIC (Keys a = -0.5)

// The training crop: torchvision's RandomResizedCrop, or its RandomCrop(size, padding): the image
// padded with `padding` black pixels on every side (fill 0, padding_mode constant) and a size x
// size window of it taken as it is, without resampling.
enum class TrainCrop { kRandomResized, kPadded };

// A crop in whole source pixels (PIL crop((left, top, left + width, top + height))).
struct CropBox {
  int64_t top = 0, left = 0, height = 0, width = 0;
};

struct TransformOptions {
  int64_t size = 224;                        // output side (square)
  double scale_min = 0.05, scale_max = 1.0;  // RandomResizedCrop area fraction (PILOT/SD-LoRA)
  double ratio_min = 3.0 / 4, ratio_max = 4.0 / 3;  // RandomResizedCrop aspect ratio (w / h)
  bool flip = true;                                 // random horizontal flip, p = 0.5 (train)
  TrainCrop train_crop = TrainCrop::kRandomResized;
  int64_t padding = 4;  // kPadded: pixels added on every side before the crop
  // Test: Resize(resize, test_filter) of the shorter side, then CenterCrop(size); 0:
  // Resize((size, size), test_filter) directly (CODA/InfLoRA CIFAR).
  int64_t resize = 256;
  std::array<float, 3> mean{0, 0, 0}, std{1, 1, 1};  // applied after scaling to [0, 1]
  // Test-view filter. PILOT and SD-LoRA pass interpolation=3 (bicubic); InfLoRA's ImageNet-R and
  // DomainNet and CODA-Prompt's Resize use torchvision's default, bilinear.
  Resample test_filter = Resample::kBicubic;
};

// Throws clbench::Error naming the first bad option and its value: size > 0, resize == 0 or
// resize >= size, 0 < scale_min <= scale_max <= 1, 0 < ratio_min <= ratio_max (finite),
// padding >= 0 and std > 0 for every channel.
void validate_transform_options(const TransformOptions& o);

// torchvision's RandomResizedCrop.get_params for a height x width image: up to 10 attempts of
// (area fraction uniform in [scale_min, scale_max], aspect ratio log-uniform in [ratio_min,
// ratio_max], sides rounded half-to-even like Python's round) that fit the image, with the
// top/left offset uniform among the positions that fit; if none fits, the central crop with the
// aspect ratio clamped to the ratio range (a side that rounds to 0 is kept at 1 pixel, where
// torchvision would fail). Random numbers from `seed` (see above).
CropBox random_resized_crop_box(int64_t height, int64_t width, const TransformOptions& o,
                                uint64_t seed);

// Resamples the crop `box` of `img` to out_h x out_w, as PIL's img.crop(box).resize((out_w,
// out_h), filter): filter taps stop at the crop's edges. `flip` mirrors the result left-right.
// Writes 3 * out_h * out_w floats, CHW, in [0, 1]. A box not inside the image throws.
void resample_crop(const DecodedImage& img, const CropBox& box, int64_t out_h, int64_t out_w,
                   Resample filter, bool flip, float* out);

// Resamples the region [x0, x1) x [y0, y1) of `img` (source pixel coordinates, may be
// fractional) to out_h x out_w, as PIL's img.resize((out_w, out_h), filter, box=(x0, y0, x1,
// y1)): filter taps may reach outside the region, up to the image's edges. Writes 3 * out_h *
// out_w floats, CHW, in [0, 1]. A region not inside the image, or empty, throws.
void resample_region(const DecodedImage& img, double x0, double y0, double x1, double y1,
                     int64_t out_h, int64_t out_w, Resample filter, bool flip, float* out);

// Training view: RandomResizedCrop(size, scale, ratio, bilinear), then (if o.flip) a horizontal
// flip with probability 0.5, both drawn from `seed` (the crop's numbers first, then one uniform
// for the flip: flipped when < 0.5); then (x - mean) / std. Writes 3 * size * size floats, CHW.
// With TrainCrop::kPadded the crop is RandomCrop(size, padding): its top offset, then its left
// offset, each uniform in [0, side + 2 * padding - size] of the padded image (an image whose
// padded side is below size throws, as torchvision does), then the flip as above.
void train_transform(const DecodedImage& img, const TransformOptions& o, uint64_t seed, float* out);
// The same view as uint8 HWC pixels (size x size x 3), rounded half up (as Pillow rounds its
// result), without the normalisation: what the loader ships (4x less memory than floats), turned
// into the model's CHW float input where the model runs (ImageDataset::model_input).
void train_transform(const DecodedImage& img, const TransformOptions& o, uint64_t seed,
                     uint8_t* out);

// Test view: Resize(resize, test_filter) of the shorter side (the longer side becomes
// int(resize * long / short), torchvision's rounding) and CenterCrop(size) (top =
// int(round((h - size) / 2.0)), Python's half-to-even round), or Resize((size, size),
// test_filter) when resize == 0; then (x - mean) / std. Computed as one resampling of the
// corresponding source region (no intermediate image), equal to resize-then-crop. Deterministic.
// Writes 3 * size * size floats, CHW.
void test_transform(const DecodedImage& img, const TransformOptions& o, float* out);
// The same view as uint8 HWC pixels (see the uint8 train_transform).
void test_transform(const DecodedImage& img, const TransformOptions& o, uint8_t* out);

// {height, width} after torchvision's Resize(shorter) of a height x width image: the shorter side
// becomes `shorter`, the longer int(shorter * long / short). Both > 0 required.
std::array<int64_t, 2> shorter_side_shape(int64_t height, int64_t width, int64_t shorter);

// The image resized so its shorter side is `shorter` (bicubic, antialiased; the longer side as
// shorter_side_shape), uint8 HWC, rounded half up (as Pillow) — for the dataset cache.
// shorter <= 0, or a shape that does not change, returns the image unchanged.
DecodedImage resize_shorter_side(const DecodedImage& img, int64_t shorter);

}  // namespace clbench
