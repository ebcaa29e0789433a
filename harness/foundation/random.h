#pragma once
// Seeds and shuffles that are the same on every machine, standard library and rank count.
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace clbench {

// One SplitMix64 step (Steele, Lea and Flood 2014): the output for state `x`.
uint64_t splitmix64(uint64_t x);

// An independent, reproducible seed for every tuple (seed, task, epoch, ...): h <- splitmix64(h +
// p) over the parts, from a fixed start.
uint64_t mix_seed(std::initializer_list<uint64_t> parts);
// mix_seed({first, rest...}), for a list of salts handed on by a caller.
uint64_t mix_seed(uint64_t first, std::initializer_list<uint64_t> rest);

// The SplitMix64 generator: next() = splitmix64(state), then state += 0x9e3779b97f4a7c15.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next();
  double uniform(double a, double b);  // in [a, b)
  int64_t below(int64_t n);            // in [0, n), n > 0, unbiased

 private:
  uint64_t state_;
};

// A double in [0, 1) from the top 53 bits of `bits` (std::uniform_real_distribution differs
// between standard libraries).
inline double unit_interval(uint64_t bits) {
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

// Fisher-Yates with an mt19937_64 and exact rejection sampling (no libstdc++-specific shuffle).
std::vector<int64_t> shuffled(std::vector<int64_t> values, uint64_t seed);

}  // namespace clbench
