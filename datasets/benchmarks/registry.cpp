#include "datasets/benchmarks/registry.h"

#include "datasets/benchmarks/class_order.h"
#include "harness/foundation/registry.h"

namespace clbench {
bool register_benchmark(BenchmarkEntry entry, const char* file) {
  return Registry<BenchmarkEntry>::add(std::move(entry), file);
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

TaskStream configured_stream(const std::string& benchmark, std::shared_ptr<const Dataset> train,
                             std::shared_ptr<const Dataset> test, const Config& cfg,
                             int64_t num_classes) {
  const int64_t increment = cfg.integer("increment");
  const int64_t first = cfg.integer("init_classes") > 0 ? cfg.integer("init_classes") : increment;
  return split_by_class(benchmark, std::move(train), std::move(test),
                        configured_class_order(cfg, num_classes), first, increment);
}

}  // namespace clbench
