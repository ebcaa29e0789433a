// IDX (MNIST / Fashion-MNIST): parse_idx on the input bytes, and read_idx on the input as a file
// when it starts with the gzip magic (the decompression path).
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/readers/idx.h"
#include "harness/foundation/error.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

// What a caller of an accepted array relies on: 1..4 dimensions of 1..2^30, data = their product.
void check(const clbench::IdxArray& arr) {
  FUZZ_CHECK(!arr.dims.empty() && arr.dims.size() <= 4);
  uint64_t total = 1;
  for (const int64_t d : arr.dims) {
    FUZZ_CHECK(d >= 1 && d <= (int64_t{1} << 30));
    FUZZ_CHECK(!__builtin_mul_overflow(total, static_cast<uint64_t>(d), &total));
  }
  FUZZ_CHECK(total == arr.data.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> bytes(data, data + size);
  try {
    check(clbench::parse_idx(bytes, "fuzz.idx"));
  } catch (const clbench::Error&) {
  }
  if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
    const std::string path = clbench::fuzz::write_file(
        "fuzz.idx.gz", std::string(reinterpret_cast<const char*>(data), size));
    try {
      check(clbench::read_idx(path));
    } catch (const clbench::Error&) {
    }
  }
  return 0;
}
