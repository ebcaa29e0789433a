#include "datasets/benchmarks.h"

#include <algorithm>

#include "datasets/class_order.h"
#include "harness/error.h"

namespace clbench {
namespace {
std::vector<BenchmarkEntry>& registry() {
  static std::vector<BenchmarkEntry> entries;
  return entries;
}
}  // namespace

bool register_benchmark(BenchmarkEntry entry) {
  registry().push_back(std::move(entry));
  return true;
}

const std::vector<BenchmarkEntry>& benchmarks() {
  auto& r = registry();
  std::sort(r.begin(), r.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return r;
}

const BenchmarkEntry& find_benchmark(const std::string& name) {
  for (const auto& b : benchmarks()) {
    if (b.name == name) return b;
  }
  std::string valid;
  for (const auto& b : benchmarks()) valid += (valid.empty() ? "" : ", ") + b.name;
  throw Error("unknown benchmark '" + name + "'; valid: " + valid);
}

std::string class_order_algorithm(const Config& cfg) {
  const std::string algorithm = cfg.str("class_order");
  if (algorithm != "auto") return algorithm;
  return cfg.integer("class_order_seed") >= 0 ? "pycil" : "identity";
}

std::vector<int64_t> configured_class_order(const Config& cfg, int64_t num_classes) {
  return class_order(class_order_algorithm(cfg), cfg.integer("class_order_seed"), num_classes);
}

}  // namespace clbench
