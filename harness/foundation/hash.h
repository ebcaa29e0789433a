#pragma once
// FNV-1a, 64 bit: content hashes of caches, weights files and configurations (not cryptographic:
// it tells apart what differs, it does not resist forgery).
#include <cstddef>
#include <cstdint>
#include <string>

namespace clbench {

uint64_t fnv1a(const void* data, size_t n, uint64_t h = 0xcbf29ce484222325ULL);
std::string hex64(uint64_t h);  // 16 lower-case hex digits

// fnv1a of a whole file's bytes, as hex64; an unreadable file is an Error naming it.
std::string file_hash(const std::string& path);

}  // namespace clbench
