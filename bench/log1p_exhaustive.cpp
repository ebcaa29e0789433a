// Every float p of [0, 1] through clbench's vectorised log1p(-p) (the generators' binary
// cross-entropy, methods/generative/binary_cross_entropy.h) and through the C library's log1pf,
// which ATen's binary cross-entropy calls: how many of the 1,065,353,217 results differ, and the
// seconds each takes. Results in bench/README.md ("dgr's reconstruction loss").
//   build/clbench_log1p_exhaustive
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "methods/generative/binary_cross_entropy.h"

int main() {
  constexpr uint32_t kOne = 0x3f800000u;  // the bits of 1.0f
  std::vector<float> p(1 << 20), ours(p.size()), libc(p.size());
  uint64_t total = 0, differ = 0;
  double ours_s = 0, libc_s = 0;
  using Clock = std::chrono::steady_clock;
  for (uint64_t base = 0; base <= kOne; base += p.size()) {
    size_t n = 0;
    for (; n < p.size() && base + n <= kOne; ++n) {
      const auto bits = static_cast<uint32_t>(base + n);
      std::memcpy(&p[n], &bits, sizeof bits);
    }
    const auto t0 = Clock::now();
    clbench::generative::detail::log1p_of_negated(p.data(), ours.data(), static_cast<int64_t>(n));
    const auto t1 = Clock::now();
    for (size_t i = 0; i < n; ++i) libc[i] = std::log1p(-p[i]);
    const auto t2 = Clock::now();
    ours_s += std::chrono::duration<double>(t1 - t0).count();
    libc_s += std::chrono::duration<double>(t2 - t1).count();
    for (size_t i = 0; i < n; ++i) {
      if (std::memcmp(&ours[i], &libc[i], sizeof(float)) == 0) continue;
      if (differ < 10) std::printf("p = %a: clbench %a, C library %a\n", p[i], ours[i], libc[i]);
      ++differ;
    }
    total += n;
  }
  std::printf("%llu floats of [0, 1]: %llu differ; clbench %.2f s, C library %.2f s\n",
              static_cast<unsigned long long>(total), static_cast<unsigned long long>(differ),
              ours_s, libc_s);
  return differ == 0 ? 0 : 1;
}
