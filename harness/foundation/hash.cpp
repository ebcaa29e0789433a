#include "harness/foundation/hash.h"

#include <cstdio>
#include <fstream>
#include <vector>

#include "harness/foundation/error.h"

namespace clbench {

uint64_t fnv1a(const void* data, size_t n, uint64_t h) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

std::string hex64(uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string file_hash(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path);
  std::vector<char> block(1 << 20);
  uint64_t h = 0xcbf29ce484222325ULL;
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    h = fnv1a(block.data(), static_cast<size_t>(in.gcount()), h);
  }
  if (in.bad()) throw Error("cannot read " + path);
  return hex64(h);
}

}  // namespace clbench
