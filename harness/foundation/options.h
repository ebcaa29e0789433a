#pragma once
// Binds a method's options struct (LibTorch style: TORCH_ARG fields with chained setters) to
// dotted config keys. The struct lists its keys once, in `visit`:
//   struct EwcOptions {
//     TORCH_ARG(double, lambda) = 5000;
//    public:
//     template <class V> void visit(V& v) { v("lambda", lambda_, "penalty strength", {0, 1e12}); }
//   };
#include <string>
#include <vector>

#include "harness/foundation/config.h"

namespace clbench {

class SpecCollector {
 public:
  explicit SpecCollector(std::string prefix) : prefix_(std::move(prefix)) {}
  template <class T>
  void operator()(const std::string& key, const T& value, const std::string& help,
                  std::vector<std::string> choices = {}) {
    specs.push_back({prefix_ + "." + key, nlohmann::json(value), help, std::move(choices)});
  }
  template <class T>
  void operator()(const std::string& key, const T& value, const std::string& help, Range range) {
    specs.push_back({prefix_ + "." + key, nlohmann::json(value), help, {}, range});
  }
  std::vector<OptionSpec> specs;

 private:
  std::string prefix_;
};

class OptionReader {
 public:
  OptionReader(const Config& cfg, std::string prefix) : cfg_(cfg), prefix_(std::move(prefix)) {}
  template <class T>
  void operator()(const std::string& key, T& value, const std::string& /*help*/,
                  const std::vector<std::string>& /*choices*/ = {}) {
    value = cfg_.at(prefix_ + "." + key).get<T>();
  }
  template <class T>
  void operator()(const std::string& key, T& value, const std::string& help, Range) {
    (*this)(key, value, help);
  }

 private:
  const Config& cfg_;
  std::string prefix_;
};

template <class Options>
std::vector<OptionSpec> option_specs(const std::string& prefix) {
  Options defaults;
  SpecCollector collector(prefix);
  defaults.visit(collector);
  return collector.specs;
}

template <class Options>
Options read_options(const Config& cfg, const std::string& prefix) {
  Options options;
  OptionReader reader(cfg, prefix);
  options.visit(reader);
  return options;
}

}  // namespace clbench
