#include "datasets/readers/idx.h"

#include <zlib.h>

#include "harness/foundation/error.h"
#include "harness/foundation/files.h"

namespace clbench {
namespace {

uint32_t read_be32(const std::vector<uint8_t>& b, size_t at) {
  return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) |
         uint32_t{b[at + 3]};
}

std::vector<uint8_t> read_gzip_or_raw(const std::string& path) {
  std::string why;
  if (!is_regular_file(path, &why)) throw Error("missing data file: " + path + why);
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) throw Error("cannot open " + path);
  std::vector<uint8_t> out;
  uint8_t chunk[1 << 16];
  int n;
  while ((n = gzread(f, chunk, sizeof chunk)) > 0) out.insert(out.end(), chunk, chunk + n);
  int err = Z_OK;
  const char* msg = gzerror(f, &err);
  const std::string what = msg ? msg : "";
  gzclose(f);
  if (n < 0 || (err != Z_OK && err != Z_STREAM_END)) {
    throw Error(path + ": corrupt gzip stream (" + what + ")");
  }
  return out;
}

}  // namespace

IdxArray parse_idx(const std::vector<uint8_t>& bytes, const std::string& name) {
  if (bytes.size() < 4) throw Error(name + ": too short for an IDX header");
  if (bytes[0] != 0 || bytes[1] != 0) throw Error(name + ": bad IDX magic (first bytes not 0)");
  if (bytes[2] != 0x08) {
    throw Error(name + ": unsupported IDX element type code " + std::to_string(bytes[2]) +
                " (only unsigned byte, code 8)");
  }
  const int ndims = bytes[3];
  if (ndims < 1 || ndims > 4)
    throw Error(name + ": bad IDX dimension count " + std::to_string(ndims));
  const size_t header = 4 + 4 * static_cast<size_t>(ndims);
  if (bytes.size() < header) throw Error(name + ": truncated IDX header");
  IdxArray arr;
  uint64_t total = 1;
  for (int d = 0; d < ndims; ++d) {
    const uint32_t dim = read_be32(bytes, 4 + 4 * static_cast<size_t>(d));
    if (dim == 0 || dim > (1U << 30)) {
      throw Error(name + ": bad IDX dimension " + std::to_string(d) + " = " + std::to_string(dim));
    }
    // Checked before it can wrap: 2^36 * 2^30 does not fit in 64 bits.
    if (__builtin_mul_overflow(total, uint64_t{dim}, &total) || total > (uint64_t{1} << 36))
      throw Error(name + ": IDX array too large");
    arr.dims.push_back(dim);
  }
  const uint64_t payload = bytes.size() - header;
  if (payload != total) {
    throw Error(name + ": IDX header promises " + std::to_string(total) +
                " bytes of data but the file has " + std::to_string(payload) +
                (payload < total ? " (truncated)" : " (trailing bytes)"));
  }
  arr.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return arr;
}

IdxArray read_idx(const std::string& path) {
  return parse_idx(read_gzip_or_raw(path), path);
}

}  // namespace clbench
