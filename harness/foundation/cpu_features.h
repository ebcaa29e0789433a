#pragma once
// What the processor offers the hand-vectorised kernels (herding, GEM's products, the one-pass
// optimizers, the generators' loss); each of them keeps a portable path for when it says no.

namespace clbench {

bool cpu_has_avx2();      // false off x86-64
bool cpu_has_avx2_fma();  // AVX2 and FMA; false off x86-64

}  // namespace clbench
