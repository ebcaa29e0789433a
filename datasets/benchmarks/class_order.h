#pragma once
// The three class-order conventions of the CL literature, bit-exact to their Python originals
// (test vectors in tests/core/test_class_order.cpp, computed with numpy and CPython).
#include <cstdint>
#include <string>
#include <vector>

namespace clbench {

// MT19937 with both reference seedings: init_genrand (numpy legacy RandomState.seed) and
// init_by_array (CPython random.seed). std::mt19937 has no init_by_array.
class Mt19937 {
 public:
  static Mt19937 from_genrand(uint32_t seed);
  static Mt19937 from_array(const std::vector<uint32_t>& key);
  uint32_t next();

 private:
  uint32_t mt_[624];
  int index_ = 624;
};

std::vector<int64_t> identity_order(int64_t num_classes);
// PyCIL/PILOT/SD-LoRA: np.random.seed(seed); np.random.permutation(C).
std::vector<int64_t> pycil_order(uint32_t seed, int64_t num_classes);
// CODA-Prompt: random.seed(seed); random.shuffle(order) (CPython).
std::vector<int64_t> coda_order(uint64_t seed, int64_t num_classes);

// algorithm: "identity" | "pycil" | "coda". Throws clbench::Error listing the valid names.
std::vector<int64_t> class_order(const std::string& algorithm, int64_t seed, int64_t num_classes);

}  // namespace clbench
