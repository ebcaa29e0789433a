#include "harness/foundation/cpu_features.h"

namespace clbench {

bool cpu_has_avx2() {
#if defined(__x86_64__)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2;
#else
  return false;
#endif
}

bool cpu_has_avx2_fma() {
#if defined(__x86_64__)
  static const bool avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return avx2_fma;
#else
  return false;
#endif
}

}  // namespace clbench
