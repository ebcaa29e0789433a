#pragma once
// The header of a safetensors file (Hugging Face), without LibTorch: an 8-byte little-endian
// length N, N bytes of JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]},
// "__metadata__": {str: str}}, then the tensors' bytes (offsets relative to the end of the header,
// packed without gaps). Everything a hostile file could get wrong is checked here, before a byte
// of tensor data is read; each failure is a clbench::Error naming the file and, where there is
// one, the tensor. harness/models/weights.h reads the tensors on top of this.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace clbench {

// The reference implementation's limit on the JSON header (safetensors MAX_HEADER_SIZE).
inline constexpr uint64_t kSafetensorsMaxHeader = 100'000'000;
inline constexpr size_t kSafetensorsMaxRank = 64;

// The dtypes clbench reads and writes.
enum class SafetensorsDtype { kBool, kU8, kI8, kI16, kI32, kI64, kF16, kBF16, kF32, kF64 };

const char* safetensors_dtype_name(SafetensorsDtype dtype);  // "BOOL", "U8", ..., "F64"
size_t safetensors_itemsize(SafetensorsDtype dtype);         // bytes per element

struct SafetensorsTensorInfo {
  std::string name;
  SafetensorsDtype dtype = SafetensorsDtype::kF32;
  // Each dimension >= 0; the product of max(d, 1) fits in int64 (so the numel and the contiguous
  // strides do), and numel * itemsize == end - begin.
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // relative to data_start
};

struct SafetensorsHeader {
  uint64_t data_start = 0;  // 8 + header length: where the data buffer begins in the file
  std::vector<SafetensorsTensorInfo> tensors;   // in name order
  std::map<std::string, std::string> metadata;  // "__metadata__"
};

// The header length from the file's first `size` bytes (8 of them; fewer if the file is shorter),
// checked against the file size and kSafetensorsMaxHeader. `name` (the path) prefixes errors.
uint64_t safetensors_header_length(const uint8_t* first, size_t size, uint64_t file_size,
                                   const std::string& name);

// Parses and validates the JSON header (the `header_length` bytes after the length field) of a
// file of `file_size` bytes: a JSON object; known dtypes; non-negative shapes whose byte size
// matches data_offsets; offsets inside the data buffer, tiling it without gaps or overlaps.
SafetensorsHeader parse_safetensors_header(const std::string& json_text, uint64_t file_size,
                                           const std::string& name);

// Both steps on a whole file held in memory (tests, fuzzing).
SafetensorsHeader parse_safetensors_header(const uint8_t* file, size_t size,
                                           const std::string& name);

}  // namespace clbench
