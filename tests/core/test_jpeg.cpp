// JPEG (libjpeg-turbo) and PNG (libpng) decoding to RGB HWC, with errors instead of exits.
#include <gtest/gtest.h>
#include <png.h>

#include <algorithm>
#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "datasets/readers/jpeg.h"
#include "harness/foundation/error.h"
#include "tests/core/fixtures.h"

namespace clbench {
namespace {

using testing::Bytes;
using testing::expect_error;
using testing::read_bytes;
using testing::TempDir;
using testing::write_bytes;

// A smooth RGB gradient, {h, w, 3}.
Bytes gradient(int w, int h) {
  Bytes rgb;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      rgb.push_back(static_cast<uint8_t>(255 * x / (w - 1)));
      rgb.push_back(static_cast<uint8_t>(255 * y / (h - 1)));
      rgb.push_back(static_cast<uint8_t>(128 + 60 * (x - y) / (w + h)));
    }
  return rgb;
}

int max_abs_diff(const Bytes& a, const Bytes& b) {
  int m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(int{a[i]} - int{b[i]}));
  return m;
}

TEST(Jpeg, RoundTripsAGradientWithinJpegTolerance) {
  TempDir dir;
  const int w = 40, h = 24;
  const Bytes rgb = gradient(w, h);
  encode_jpeg(dir.path("g.jpg"), rgb, w, h, 95);
  const DecodedImage img = decode_image(dir.path("g.jpg"));
  EXPECT_EQ(img.width, w);
  EXPECT_EQ(img.height, h);
  ASSERT_EQ(img.pixels.size(), rgb.size());
  EXPECT_LE(max_abs_diff(img.pixels, rgb), 12);
  double sum = 0;
  for (size_t i = 0; i < rgb.size(); ++i) sum += std::abs(int{img.pixels[i]} - int{rgb[i]});
  EXPECT_LT(sum / static_cast<double>(rgb.size()), 2.0);
}

TEST(Jpeg, GrayscaleDecodesToThreeEqualChannels) {
  TempDir dir;
  const int w = 16, h = 8;
  Bytes gray;
  for (int i = 0; i < w * h; ++i) gray.push_back(static_cast<uint8_t>(i * 2));
  encode_jpeg(dir.path("gray.jpg"), gray, w, h, 95, 1);
  const DecodedImage img = decode_image(dir.path("gray.jpg"));
  ASSERT_EQ(img.width, w);
  ASSERT_EQ(img.height, h);
  ASSERT_EQ(img.pixels.size(), static_cast<size_t>(w * h * 3));
  Bytes first;
  for (size_t p = 0; p < static_cast<size_t>(w * h); ++p) {
    EXPECT_EQ(img.pixels[3 * p], img.pixels[3 * p + 1]) << p;
    EXPECT_EQ(img.pixels[3 * p], img.pixels[3 * p + 2]) << p;
    first.push_back(img.pixels[3 * p]);
  }
  EXPECT_LE(max_abs_diff(first, gray), 8);
}

TEST(Jpeg, CmykIsReadAsInvertedAdobeCmykLikePil) {
  TempDir dir;
  // Stored (inverted) CMYK of pure red: C=0 M=255 Y=255 K=0 -> 255, 0, 0, 255.
  Bytes cmyk;
  for (int i = 0; i < 16 * 16; ++i) cmyk.insert(cmyk.end(), {255, 0, 0, 255});
  encode_jpeg(dir.path("cmyk.jpg"), cmyk, 16, 16, 100, 4);
  const DecodedImage img = decode_image(dir.path("cmyk.jpg"));
  ASSERT_EQ(img.pixels.size(), 16u * 16 * 3);
  EXPECT_GE(img.pixels[0], 250);
  EXPECT_LE(img.pixels[1], 5);
  EXPECT_LE(img.pixels[2], 5);
}

TEST(Jpeg, RejectsTruncatedFile) {
  TempDir dir;
  encode_jpeg(dir.path("full.jpg"), gradient(32, 32), 32, 32, 90);
  Bytes b = read_bytes(dir.path("full.jpg"));
  b.resize(b.size() / 2);
  write_bytes(dir.path("half.jpg"), b);
  expect_error([&] { decode_image(dir.path("half.jpg")); }, {"half.jpg", "corrupt JPEG"});
  b.resize(40);  // inside the headers
  write_bytes(dir.path("head.jpg"), b);
  expect_error([&] { decode_image(dir.path("head.jpg")); }, {"head.jpg", "corrupt JPEG"});
}

TEST(Jpeg, RejectsCorruptHeader) {
  TempDir dir;
  encode_jpeg(dir.path("ok.jpg"), gradient(16, 16), 16, 16, 90);
  Bytes b = read_bytes(dir.path("ok.jpg"));
  size_t sof = 2;  // the SOF0 marker FF C0; its precision byte follows the 2-byte length
  while (sof + 4 < b.size() && !(b[sof] == 0xFF && b[sof + 1] == 0xC0)) ++sof;
  ASSERT_LT(sof + 4, b.size());
  b[sof + 4] = 7;
  write_bytes(dir.path("bad.jpg"), b);
  expect_error([&] { decode_image(dir.path("bad.jpg")); },
               {"bad.jpg", "corrupt JPEG", "precision"});
}

TEST(Jpeg, RejectsNonImageAndMissingFiles) {
  TempDir dir;
  {
    std::ofstream out(dir.path("notes.jpg"));
    out << "not an image\n";
  }
  expect_error([&] { decode_image(dir.path("notes.jpg")); }, {"notes.jpg", "not a JPEG or PNG"});
  write_bytes(dir.path("empty.jpg"), {});
  expect_error([&] { decode_image(dir.path("empty.jpg")); }, {"empty.jpg", "not a JPEG or PNG"});
  expect_error([&] { decode_image(dir.path("absent.jpg")); }, {"missing image file", "absent.jpg"});
  // A path the file check itself fails on is a clbench::Error with the reason, not a
  // std::filesystem::filesystem_error.
  const std::string too_long = dir.path(std::string(5000, 'x') + ".jpg");
  expect_error([&] { decode_image(too_long); }, {"missing image file", "(File name too long)"});
}

TEST(Jpeg, EncoderRejectsBadArguments) {
  TempDir dir;
  expect_error([&] { encode_jpeg(dir.path("x.jpg"), Bytes(10), 4, 4, 90); }, {"x.jpg", "pixel"});
  expect_error([&] { encode_jpeg(dir.path("x.jpg"), Bytes(32), 4, 4, 90, 2); }, {"channels"});
}

// ---- PNG, written with libpng here.

// Writes an 8- or 16-bit PNG of `color_type` (PNG_COLOR_TYPE_*); `rows` packed big-endian.
bool write_png(const std::string& path, int w, int h, int color_type, int bit_depth,
               const Bytes& data, const std::vector<png_color>& palette = {}) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    std::fclose(f);
    return false;
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, static_cast<png_uint_32>(w), static_cast<png_uint_32>(h), bit_depth,
               color_type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (!palette.empty()) png_set_PLTE(png, info, palette.data(), static_cast<int>(palette.size()));
  png_write_info(png, info);
  const size_t stride = data.size() / static_cast<size_t>(h);
  for (int y = 0; y < h; ++y)
    png_write_row(png, const_cast<png_bytep>(data.data() + static_cast<size_t>(y) * stride));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return std::fclose(f) == 0;
}

TEST(Png, RoundTripsRgbExactly) {
  TempDir dir;
  const Bytes rgb = gradient(9, 7);
  ASSERT_TRUE(write_png(dir.path("g.png"), 9, 7, PNG_COLOR_TYPE_RGB, 8, rgb));
  const DecodedImage img = decode_image(dir.path("g.png"));
  EXPECT_EQ(img.width, 9);
  EXPECT_EQ(img.height, 7);
  EXPECT_EQ(img.pixels, rgb);
}

TEST(Png, ConvertsGrayAlphaPaletteAnd16BitToRgb) {
  TempDir dir;
  ASSERT_TRUE(write_png(dir.path("gray.png"), 3, 1, PNG_COLOR_TYPE_GRAY, 8, {0, 100, 255}));
  EXPECT_EQ(decode_image(dir.path("gray.png")).pixels,
            (Bytes{0, 0, 0, 100, 100, 100, 255, 255, 255}));
  ASSERT_TRUE(write_png(dir.path("rgba.png"), 2, 1, PNG_COLOR_TYPE_RGBA, 8,
                        {10, 20, 30, 0, 40, 50, 60, 128}));
  EXPECT_EQ(decode_image(dir.path("rgba.png")).pixels, (Bytes{10, 20, 30, 40, 50, 60}));
  ASSERT_TRUE(write_png(dir.path("pal.png"), 3, 1, PNG_COLOR_TYPE_PALETTE, 8, {1, 0, 1},
                        {{255, 0, 0}, {0, 0, 255}}));
  EXPECT_EQ(decode_image(dir.path("pal.png")).pixels, (Bytes{0, 0, 255, 255, 0, 0, 0, 0, 255}));
  ASSERT_TRUE(write_png(dir.path("rgb16.png"), 1, 1, PNG_COLOR_TYPE_RGB, 16,
                        {0x12, 0x34, 0xAB, 0xCD, 0xFF, 0xFF}));
  EXPECT_EQ(decode_image(dir.path("rgb16.png")).pixels, (Bytes{0x12, 0xAB, 0xFF}));
}

TEST(Png, DispatchesOnMagicBytesNotTheExtension) {
  TempDir dir;
  ASSERT_TRUE(write_png(dir.path("really_png.jpg"), 2, 2, PNG_COLOR_TYPE_RGB, 8, Bytes(12, 77)));
  EXPECT_EQ(decode_image(dir.path("really_png.jpg")).pixels, Bytes(12, 77));
}

TEST(Png, RejectsTruncatedAndCorruptFiles) {
  TempDir dir;
  ASSERT_TRUE(write_png(dir.path("ok.png"), 9, 7, PNG_COLOR_TYPE_RGB, 8, gradient(9, 7)));
  Bytes b = read_bytes(dir.path("ok.png"));
  Bytes cut(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(b.size() / 2));
  write_bytes(dir.path("cut.png"), cut);
  expect_error([&] { decode_image(dir.path("cut.png")); }, {"cut.png", "corrupt PNG"});
  b[20] ^= 0xFF;  // inside IHDR: CRC mismatch
  write_bytes(dir.path("crc.png"), b);
  expect_error([&] { decode_image(dir.path("crc.png")); }, {"crc.png", "corrupt PNG"});
}

}  // namespace
}  // namespace clbench
