#include "harness/foundation/random.h"

#include <random>
#include <utility>

namespace clbench {

namespace {
constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;
}

uint64_t splitmix64(uint64_t x) {
  uint64_t z = x + kGolden;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t mix_seed(std::initializer_list<uint64_t> parts) {
  uint64_t h = kGolden;
  for (uint64_t p : parts) h = splitmix64(h + p);
  return h;
}

uint64_t mix_seed(uint64_t first, std::initializer_list<uint64_t> rest) {
  uint64_t h = mix_seed({first});
  for (uint64_t p : rest) h = splitmix64(h + p);
  return h;
}

uint64_t SplitMix64::next() {
  const uint64_t out = splitmix64(state_);
  state_ += kGolden;
  return out;
}

double SplitMix64::uniform(double a, double b) {
  return a + (b - a) * unit_interval(next());
}

int64_t SplitMix64::below(int64_t n) {
  const uint64_t un = static_cast<uint64_t>(n);
  const uint64_t threshold = (0 - un) % un;  // 2^64 mod n: the biased low values
  for (;;) {
    const uint64_t r = next();
    if (r >= threshold) return static_cast<int64_t>(r % un);
  }
}

std::vector<int64_t> shuffled(std::vector<int64_t> values, uint64_t seed) {
  std::mt19937_64 g(seed);
  for (size_t i = values.size(); i > 1; --i) {
    const uint64_t n = i;
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do {
      r = g();
    } while (r >= limit);
    std::swap(values[i - 1], values[r % n]);
  }
  return values;
}

}  // namespace clbench
