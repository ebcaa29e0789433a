#include "datasets/benchmarks/class_order.h"

#include <numeric>
#include <utility>

#include "harness/foundation/error.h"

namespace clbench {
namespace {
constexpr int kN = 624;
constexpr int kM = 397;
}  // namespace

// Matsumoto & Nishimura's reference init_genrand.
Mt19937 Mt19937::from_genrand(uint32_t seed) {
  Mt19937 g;
  g.mt_[0] = seed;
  for (int i = 1; i < kN; ++i) {
    g.mt_[i] = 1812433253U * (g.mt_[i - 1] ^ (g.mt_[i - 1] >> 30)) + static_cast<uint32_t>(i);
  }
  g.index_ = kN;
  return g;
}

// Matsumoto & Nishimura's reference init_by_array (what CPython's random.seed uses).
Mt19937 Mt19937::from_array(const std::vector<uint32_t>& key) {
  Mt19937 g = from_genrand(19650218U);
  uint32_t* mt = g.mt_;
  const int key_length = static_cast<int>(key.size());
  int i = 1, j = 0;
  for (int k = (kN > key_length ? kN : key_length); k > 0; --k) {
    mt[i] =
        (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525U)) + key[j] + static_cast<uint32_t>(j);
    ++i;
    ++j;
    if (i >= kN) {
      mt[0] = mt[kN - 1];
      i = 1;
    }
    if (j >= key_length) j = 0;
  }
  for (int k = kN - 1; k > 0; --k) {
    mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941U)) - static_cast<uint32_t>(i);
    ++i;
    if (i >= kN) {
      mt[0] = mt[kN - 1];
      i = 1;
    }
  }
  mt[0] = 0x80000000U;
  return g;
}

uint32_t Mt19937::next() {
  if (index_ >= kN) {
    for (int k = 0; k < kN; ++k) {
      const uint32_t y = (mt_[k] & 0x80000000U) | (mt_[(k + 1) % kN] & 0x7fffffffU);
      mt_[k] = mt_[(k + kM) % kN] ^ (y >> 1) ^ ((y & 1U) ? 0x9908b0dfU : 0U);
    }
    index_ = 0;
  }
  uint32_t y = mt_[index_++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680U;
  y ^= (y << 15) & 0xefc60000U;
  y ^= y >> 18;
  return y;
}

std::vector<int64_t> identity_order(int64_t num_classes) {
  std::vector<int64_t> order(static_cast<size_t>(num_classes));
  std::iota(order.begin(), order.end(), 0);
  return order;
}

// numpy legacy shuffle: Fisher-Yates from the end, rk_interval's masked rejection sampling.
std::vector<int64_t> pycil_order(uint32_t seed, int64_t num_classes) {
  auto order = identity_order(num_classes);
  Mt19937 g = Mt19937::from_genrand(seed);
  for (int64_t i = num_classes - 1; i >= 1; --i) {
    uint32_t mask = static_cast<uint32_t>(i);
    for (int shift = 1; shift <= 16; shift <<= 1) mask |= mask >> shift;
    uint32_t v;
    do {
      v = g.next() & mask;
    } while (v > static_cast<uint32_t>(i));
    std::swap(order[i], order[v]);
  }
  return order;
}

// CPython random.shuffle: j = _randbelow(i + 1) with getrandbits(bit_length(i + 1)).
std::vector<int64_t> coda_order(uint64_t seed, int64_t num_classes) {
  std::vector<uint32_t> key;
  for (uint64_t s = seed; s != 0; s >>= 32) key.push_back(static_cast<uint32_t>(s & 0xffffffffU));
  if (key.empty()) key.push_back(0);
  Mt19937 g = Mt19937::from_array(key);
  auto order = identity_order(num_classes);
  for (int64_t i = num_classes - 1; i >= 1; --i) {
    const uint64_t n = static_cast<uint64_t>(i) + 1;
    int k = 0;
    while ((n >> k) != 0) ++k;
    uint64_t r;
    do {
      r = g.next() >> (32 - k);
    } while (r >= n);
    std::swap(order[i], order[r]);
  }
  return order;
}

std::vector<int64_t> class_order(const std::string& algorithm, int64_t seed, int64_t num_classes) {
  if (num_classes < 0) {
    throw Error("class order needs num_classes >= 0, got " + std::to_string(num_classes));
  }
  if (algorithm == "identity") return identity_order(num_classes);
  if (seed < 0) {
    throw Error("class order '" + algorithm + "' needs a seed >= 0, got " + std::to_string(seed));
  }
  if (algorithm == "pycil") {
    if (seed > 0xffffffffLL) {
      throw Error("class order 'pycil' (numpy RandomState) needs a seed < 2^32, got " +
                  std::to_string(seed));
    }
    return pycil_order(static_cast<uint32_t>(seed), num_classes);
  }
  if (algorithm == "coda") return coda_order(static_cast<uint64_t>(seed), num_classes);
  throw Error("unknown class order '" + algorithm + "'; valid: identity, pycil, coda");
}

}  // namespace clbench
