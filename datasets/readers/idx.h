#pragma once
// IDX files (LeCun's MNIST format, also Fashion-MNIST), raw or gzip-compressed.
#include <cstdint>
#include <string>
#include <vector>

namespace clbench {

struct IdxArray {
  std::vector<int64_t> dims;  // e.g. {60000, 28, 28} for images, {60000} for labels
  std::vector<uint8_t> data;  // row-major, product(dims) bytes
};

// Parses an in-memory IDX image. `name` is used in error messages. Only unsigned-byte data
// (type 0x08) is accepted; a bad magic, a zero or absurd dimension, or a size that does not match
// the header (truncated or trailing bytes) throws clbench::Error naming `name`.
IdxArray parse_idx(const std::vector<uint8_t>& bytes, const std::string& name);

// Reads `path` (gzip or raw) and parses it. A missing file is an error naming the path.
IdxArray read_idx(const std::string& path);

}  // namespace clbench
