// NumPy .npy: the first input byte picks the reader (bits 0-1: 0 parse_npy_header on the bytes in
// memory, 1 read_npy_header, 2 read_npy_labels in 0..199, 3 read_npy_images of 2 x 2 x 3); the
// rest is the file.
#include <cstdint>
#include <string>

#include "datasets/readers/npy.h"
#include "harness/foundation/error.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clbench;
  if (size == 0) return 0;
  const uint8_t mode = data[0] & 3;
  const std::string file(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    if (mode == 0) {
      const NpyHeader h =
          parse_npy_header(reinterpret_cast<const uint8_t*>(file.data()), file.size(), "mem");
      FUZZ_CHECK(h.major >= 1 && h.major <= 3 && h.minor == 0);
      FUZZ_CHECK(h.data_offset >= 10 && h.data_offset <= static_cast<int64_t>(file.size()));
      FUZZ_CHECK(h.item_size == 1 || h.item_size == 2 || h.item_size == 4 || h.item_size == 8);
      for (const int64_t d : h.shape) FUZZ_CHECK(d >= 0);
      FUZZ_CHECK(h.data_bytes() >= 0 && h.data_bytes() <= (int64_t{1} << 62));
      return 0;
    }
    const std::string path = fuzz::write_file("a.npy", file);
    if (mode == 1) {
      const NpyHeader h = read_npy_header(path);
      FUZZ_CHECK(h.data_offset + h.data_bytes() == static_cast<int64_t>(file.size()));
    } else if (mode == 2) {
      const auto labels = read_npy_labels(path, 0, 199);
      for (const int64_t l : labels) FUZZ_CHECK(l >= 0 && l <= 199);
    } else {
      int64_t n = -1;
      const auto pixels = read_npy_images(path, 2, 2, 3, &n);
      FUZZ_CHECK(n >= 0 && static_cast<int64_t>(pixels.size()) == n * 12);
    }
  } catch (const Error&) {
  }
  return 0;
}
