// HDF5 image cache index (datasets/images/image_cache.h): validate_cache_split on arbitrary values,
// as ImageCache runs it on a split's offsets, heights, widths and labels read from the file, before
// any image is read. Input: int64 num_classes, int64 pixel_bytes, int64 files, then records of
// (int64 offset, int32 height, int32 width, int64 label); a short tail is ignored.
#include <cstdint>
#include <cstring>
#include <string>

#include "datasets/images/image_cache.h"
#include "harness/foundation/error.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

template <class T>
T take(const uint8_t*& p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  p += sizeof v;
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kHeader = 24, kRecord = 24;
  if (size < kHeader) return 0;
  const uint8_t* p = data;
  const int64_t num_classes = take<int64_t>(p);
  clbench::CacheSplitIndex index;
  index.pixel_bytes = take<int64_t>(p);
  index.files = take<int64_t>(p);
  for (size_t n = (size - kHeader) / kRecord; n > 0; --n) {
    index.offsets.push_back(take<int64_t>(p));
    index.heights.push_back(take<int32_t>(p));
    index.widths.push_back(take<int32_t>(p));
    index.labels.push_back(take<int64_t>(p));
  }
  try {
    clbench::validate_cache_split("fuzz.h5", "train", index, num_classes);
  } catch (const clbench::Error&) {
    return 0;
  }
  // Accepted: every image lies inside the pixels dataset and has a valid label, which is what
  // CachedImages::read relies on.
  int64_t end = 0;
  for (size_t i = 0; i < index.offsets.size(); ++i) {
    FUZZ_CHECK(index.heights[i] >= 1 && index.widths[i] >= 1);
    FUZZ_CHECK(index.offsets[i] == end);
    end += int64_t{index.heights[i]} * index.widths[i] * 3;
    FUZZ_CHECK(end <= index.pixel_bytes);
    FUZZ_CHECK(index.labels[i] >= 0 && index.labels[i] < num_classes);
  }
  FUZZ_CHECK(end == index.pixel_bytes);
  return 0;
}
