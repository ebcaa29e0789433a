#pragma once
// Image decoding for the image-list datasets: JPEG (libjpeg-turbo) and PNG (libpng) to RGB, the
// equivalent of PIL's Image.open(path).convert('RGB') that every CL repo uses.
#include <cstdint>
#include <string>
#include <vector>

namespace clbench {

struct DecodedImage {
  int64_t height = 0, width = 0;
  std::vector<uint8_t> pixels;  // {height, width, 3} RGB, row-major (HWC)
};

// Decodes the JPEG or PNG file at `path`, chosen by its magic bytes (not its name). Grayscale,
// palette and CMYK images are converted to RGB; alpha is dropped; 16-bit samples keep their
// high byte. A missing, truncated, corrupt or non-image file throws clbench::Error naming the
// path (the libraries' own error exits are caught, never reached).
DecodedImage decode_image(const std::string& path);

// The bytes of an image file (a missing or unreadable file throws clbench::Error naming it).
std::vector<uint8_t> read_image_file(const std::string& path);

// As decode_image, for bytes already in memory; `name` is used in error messages.
DecodedImage decode_image_bytes(const std::vector<uint8_t>& bytes, const std::string& name);

// Writes a baseline JPEG (for fixtures and tests). `pixels` is {h, w, channels} row-major with
// channels 3 (RGB), 1 (grayscale) or 4 (CMYK as Photoshop stores it: inverted, Adobe marker).
void encode_jpeg(const std::string& path, const std::vector<uint8_t>& pixels, int width, int height,
                 int quality = 95, int channels = 3);

}  // namespace clbench
