// safetensors: parse_safetensors_header on the input as a whole file in memory (length field,
// JSON header, data buffer).
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "harness/foundation/error.h"
#include "harness/io/safetensors_header.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clbench;
  try {
    const SafetensorsHeader h = parse_safetensors_header(data, size, "fuzz.safetensors");
    // What read_safetensors relies on before it allocates and reads.
    FUZZ_CHECK(h.data_start >= 8 && h.data_start <= size);
    const uint64_t buffer = size - h.data_start;
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    for (size_t i = 0; i < h.tensors.size(); ++i) {
      const auto& t = h.tensors[i];
      FUZZ_CHECK(i == 0 || h.tensors[i - 1].name < t.name);
      FUZZ_CHECK(t.begin <= t.end && t.end <= buffer);
      FUZZ_CHECK(t.shape.size() <= kSafetensorsMaxRank);
      // torch::empty(shape) must not throw: numel and every contiguous stride fit in int64.
      uint64_t bytes = safetensors_itemsize(t.dtype), extent = 1;
      for (const int64_t d : t.shape) {
        FUZZ_CHECK(d >= 0);
        const auto u = static_cast<uint64_t>(d);
        FUZZ_CHECK(!__builtin_mul_overflow(bytes, u, &bytes));
        FUZZ_CHECK(!__builtin_mul_overflow(extent, u == 0 ? 1 : u, &extent));
        FUZZ_CHECK(extent <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
      }
      FUZZ_CHECK(bytes == t.end - t.begin);
      ranges.emplace_back(t.begin, t.end);
    }
    // The tensors tile the data buffer: no overlaps, no gaps.
    std::sort(ranges.begin(), ranges.end());
    uint64_t covered = 0;
    for (const auto& [begin, end] : ranges) {
      FUZZ_CHECK(begin == covered);
      covered = end;
    }
    FUZZ_CHECK(covered == buffer);
  } catch (const Error&) {
  }
  return 0;
}
