#include "datasets/benchmarks.h"

#include <algorithm>

#include "datasets/class_order.h"
#include "harness/registry.h"

namespace clbench {
bool register_benchmark(BenchmarkEntry entry) {
  return Registry<BenchmarkEntry>::add(std::move(entry));
}
const std::vector<BenchmarkEntry>& benchmarks() {
  return Registry<BenchmarkEntry>::all();
}
const BenchmarkEntry& find_benchmark(const std::string& name) {
  return Registry<BenchmarkEntry>::find(name, "benchmark");
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
