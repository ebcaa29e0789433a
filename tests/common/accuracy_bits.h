#pragma once
// Accuracy matrices compared bit for bit: a task that was not evaluated (NaN) equals itself.
#include <cstdint>
#include <cstring>
#include <vector>

namespace clbench::testing {

inline std::vector<std::vector<uint64_t>> bits(const std::vector<std::vector<double>>& matrix) {
  std::vector<std::vector<uint64_t>> out;
  for (const auto& row : matrix) {
    out.emplace_back(row.size());
    if (!row.empty()) std::memcpy(out.back().data(), row.data(), row.size() * sizeof(double));
  }
  return out;
}

}  // namespace clbench::testing
