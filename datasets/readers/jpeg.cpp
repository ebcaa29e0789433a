#include "datasets/readers/jpeg.h"

// clang-format off
#include <cstdio>  // jpeglib.h needs FILE and size_t first
#include <jpeglib.h>
#include <jerror.h>
// clang-format on
#include <png.h>

#include <csetjmp>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "harness/foundation/error.h"
#include "harness/foundation/files.h"

namespace clbench {
namespace {

// PIL refuses images above 2 * Image.MAX_IMAGE_PIXELS as decompression bombs; so do we.
constexpr int64_t kMaxPixels = 2 * 89478485;

// Resizes without letting bad_alloc cross the setjmp frames below.
bool try_resize(std::vector<uint8_t>* v, size_t n) noexcept {
  try {
    v->resize(n);
    return true;
  } catch (...) {
    return false;
  }
}

bool too_large(int64_t width, int64_t height) {
  return width <= 0 || height <= 0 || width * height > kMaxPixels;
}

// ---- JPEG (libjpeg-turbo). The setjmp frames hold no object with a destructor: longjmp across
// one would skip it. Outputs live in the caller's frame.

struct JpegError {
  jpeg_error_mgr pub;  // first: libjpeg hands back a pointer to it
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_fail(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Like PIL, ignore corrupt-data warnings but not running out of data (PIL: "image file is
// truncated"); libjpeg would pad a truncated file with gray and carry on.
void jpeg_warn(j_common_ptr cinfo, int level) {
  if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_fail(cinfo);
}

struct JpegDecodeJob {
  const uint8_t* data;
  size_t size;
  JpegError err;
  int64_t width, height;
  std::vector<uint8_t>* pixels;  // RGB HWC
  std::vector<uint8_t>* row;     // CMYK scanline
};

// PIL: 4-component JPEGs are read as inverted ("CMYK;I", Adobe convention), then cmyk2rgb.
void inverted_cmyk_to_rgb(const uint8_t* in, uint8_t* out, int64_t width) {
  for (int64_t x = 0; x < width; ++x, in += 4, out += 3) {
    const int nk = in[3];  // 255 - K with K = 255 - stored
    for (int c = 0; c < 3; ++c) {
      const int tmp = (255 - in[c]) * nk + 128;  // MULDIV255(C, nk)
      out[c] = static_cast<uint8_t>(nk - (((tmp >> 8) + tmp) >> 8));
    }
  }
}

bool jpeg_start(jpeg_decompress_struct* cinfo, JpegDecodeJob* job) {
  jpeg_mem_src(cinfo, job->data, static_cast<unsigned long>(job->size));
  jpeg_read_header(cinfo, TRUE);
  const bool cmyk = cinfo->num_components == 4;
  cinfo->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;  // libjpeg has no CMYK -> RGB
  jpeg_start_decompress(cinfo);
  job->width = cinfo->output_width;
  job->height = cinfo->output_height;
  if (too_large(job->width, job->height)) {
    std::snprintf(job->err.message, sizeof job->err.message, "image too large");
    return false;
  }
  const auto w = static_cast<size_t>(job->width), h = static_cast<size_t>(job->height);
  if (!try_resize(job->pixels, w * h * 3) || (cmyk && !try_resize(job->row, w * 4))) {
    std::snprintf(job->err.message, sizeof job->err.message, "out of memory");
    return false;
  }
  return true;
}

bool jpeg_decode(JpegDecodeJob* job) {
  jpeg_decompress_struct cinfo;
  cinfo.err = jpeg_std_error(&job->err.pub);
  job->err.pub.error_exit = jpeg_fail;
  job->err.pub.emit_message = jpeg_warn;
  if (setjmp(job->err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  if (!jpeg_start(&cinfo, job)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  const bool cmyk = cinfo.out_color_space == JCS_CMYK;
  while (cinfo.output_scanline < cinfo.output_height) {
    uint8_t* rgb = job->pixels->data() + size_t{cinfo.output_scanline} * cinfo.output_width * 3;
    JSAMPROW row = cmyk ? job->row->data() : rgb;
    jpeg_read_scanlines(&cinfo, &row, 1);
    if (cmyk) inverted_cmyk_to_rgb(row, rgb, job->width);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

DecodedImage decode_jpeg(const std::vector<uint8_t>& bytes, const std::string& name) {
  DecodedImage img;
  std::vector<uint8_t> row;
  JpegDecodeJob job{bytes.data(), bytes.size(), {}, 0, 0, &img.pixels, &row};
  if (!jpeg_decode(&job)) throw Error(name + ": corrupt JPEG (" + job.err.message + ")");
  img.width = job.width;
  img.height = job.height;
  return img;
}

// ---- PNG (libpng), same setjmp rules.

struct PngDecodeJob {
  const uint8_t* data;
  size_t size, pos;
  char message[256];
  int64_t width, height;
  std::vector<uint8_t>* pixels;
};

void png_fail(png_structp png, png_const_charp msg) {
  auto* job = static_cast<PngDecodeJob*>(png_get_error_ptr(png));
  std::snprintf(job->message, sizeof job->message, "%s", msg);
  png_longjmp(png, 1);
}

void png_warn(png_structp, png_const_charp) {}

void png_read_bytes(png_structp png, png_bytep out, size_t n) {
  auto* job = static_cast<PngDecodeJob*>(png_get_io_ptr(png));
  if (n > job->size - job->pos) png_error(png, "unexpected end of file (truncated)");
  std::memcpy(out, job->data + job->pos, n);
  job->pos += n;
}

// PIL convert('RGB'): palette and gray expanded, alpha and tRNS dropped, 16 bits -> high byte,
// no gamma correction. Returns the number of interlace passes.
int png_to_rgb8(png_structp png, png_infop info) {
  const int color = png_get_color_type(png, info);
  png_set_strip_16(png);
  png_set_strip_alpha(png);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) {
    png_set_expand_gray_1_2_4_to_8(png);
    png_set_gray_to_rgb(png);
  }
  const int passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);
  return passes;
}

void png_read_pixels(png_structp png, png_infop info, PngDecodeJob* job) {
  png_read_info(png, info);
  job->width = png_get_image_width(png, info);
  job->height = png_get_image_height(png, info);
  if (too_large(job->width, job->height)) png_error(png, "image too large");
  const int passes = png_to_rgb8(png, info);
  const auto w = static_cast<size_t>(job->width), h = static_cast<size_t>(job->height);
  if (png_get_rowbytes(png, info) != w * 3) png_error(png, "unexpected row layout");
  if (!try_resize(job->pixels, w * h * 3)) png_error(png, "out of memory");
  for (int pass = 0; pass < passes; ++pass) {
    for (size_t y = 0; y < h; ++y) png_read_row(png, job->pixels->data() + y * w * 3, nullptr);
  }
}

bool png_decode(PngDecodeJob* job) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, job, png_fail, png_warn);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    std::snprintf(job->message, sizeof job->message, "out of memory");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, job, png_read_bytes);
  png_read_pixels(png, info, job);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

DecodedImage decode_png(const std::vector<uint8_t>& bytes, const std::string& name) {
  DecodedImage img;
  PngDecodeJob job{bytes.data(), bytes.size(), 0, {}, 0, 0, &img.pixels};
  if (!png_decode(&job)) throw Error(name + ": corrupt PNG (" + job.message + ")");
  img.width = job.width;
  img.height = job.height;
  return img;
}

bool starts_with(const std::vector<uint8_t>& b, const uint8_t* magic, size_t n) {
  return b.size() >= n && std::memcmp(b.data(), magic, n) == 0;
}

// ---- JPEG encoder.

struct JpegEncodeJob {
  const uint8_t* pixels;
  int width, height, quality, channels;
  JpegError err;
  unsigned char* out;  // malloc'ed by jpeg_mem_dest
  unsigned long out_size;
};

bool jpeg_encode(JpegEncodeJob* job) {
  jpeg_compress_struct cinfo;
  cinfo.err = jpeg_std_error(&job->err.pub);
  job->err.pub.error_exit = jpeg_fail;
  if (setjmp(job->err.jump)) {
    jpeg_destroy_compress(&cinfo);
    return false;
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, &job->out, &job->out_size);
  cinfo.image_width = static_cast<JDIMENSION>(job->width);
  cinfo.image_height = static_cast<JDIMENSION>(job->height);
  cinfo.input_components = job->channels;
  cinfo.in_color_space =
      job->channels == 1 ? JCS_GRAYSCALE : (job->channels == 3 ? JCS_RGB : JCS_CMYK);
  jpeg_set_defaults(&cinfo);  // CMYK is stored as YCCK with an Adobe marker
  jpeg_set_quality(&cinfo, job->quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  const size_t stride = static_cast<size_t>(job->width) * static_cast<size_t>(job->channels);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(job->pixels + cinfo.next_scanline * stride);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  return true;
}

}  // namespace

DecodedImage decode_image_bytes(const std::vector<uint8_t>& bytes, const std::string& name) {
  static const uint8_t kJpeg[] = {0xFF, 0xD8, 0xFF};
  static const uint8_t kPng[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (starts_with(bytes, kJpeg, sizeof kJpeg)) return decode_jpeg(bytes, name);
  if (starts_with(bytes, kPng, sizeof kPng)) return decode_png(bytes, name);
  throw Error(name + ": not a JPEG or PNG file (unrecognized magic bytes)");
}

std::vector<uint8_t> read_image_file(const std::string& path) {
  std::string why;
  if (!is_regular_file(path, &why)) throw Error("missing image file: " + path + why);
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw Error("cannot open " + path);
  std::vector<uint8_t> bytes(static_cast<size_t>(in.tellg()));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!in) throw Error("read error in " + path);
  return bytes;
}

DecodedImage decode_image(const std::string& path) {
  return decode_image_bytes(read_image_file(path), path);
}

void encode_jpeg(const std::string& path, const std::vector<uint8_t>& pixels, int width, int height,
                 int quality, int channels) {
  if (channels != 1 && channels != 3 && channels != 4)
    throw Error(path + ": encode_jpeg: channels must be 1, 3 or 4");
  if (width <= 0 || height <= 0 || quality < 1 || quality > 100 ||
      pixels.size() != static_cast<size_t>(width) * static_cast<size_t>(height) *
                           static_cast<size_t>(channels)) {
    throw Error(path + ": encode_jpeg: bad size, quality or pixel count");
  }
  JpegEncodeJob job{pixels.data(), width, height, quality, channels, {}, nullptr, 0};
  const bool ok = jpeg_encode(&job);
  std::string bytes;
  if (ok) bytes.assign(reinterpret_cast<const char*>(job.out), job.out_size);
  std::free(job.out);
  if (!ok) throw Error(path + ": JPEG encoding failed (" + job.err.message + ")");
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw Error("cannot write " + path);
}

}  // namespace clbench
