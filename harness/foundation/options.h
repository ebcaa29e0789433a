#pragma once
// Binds a method's options struct (LibTorch style: TORCH_ARG fields with chained setters) to
// dotted config keys. The struct lists its keys once, in `visit`:
//   struct EwcOptions {
//     TORCH_ARG(double, lambda) = 5000;
//    public:
//     template <class V> void visit(V& v) { v("lambda", lambda_, "penalty strength", {0, 1e12}); }
//   };
// A list-valued field is a std::vector declared with its ListSpec (and the range of its numbers):
//     v("ranks", ranks_, "candidate ranks", integers().increasing(), {1, 4096});
// An options struct may also declare `void check(const std::string& prefix) const` for rules that
// join several keys; it runs when the run is planned, before any data is read.
#include <string>
#include <utility>
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
  template <class T>
  void operator()(const std::string& key, const std::vector<T>& value, const std::string& help,
                  const ListSpec& list, Range range = {}) {
    specs.push_back({prefix_ + "." + key, list_text(nlohmann::json(value)), help, {}, range, list});
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
  template <class T>
  void operator()(const std::string& key, std::vector<T>& value, const std::string& /*help*/,
                  const ListSpec& list, Range range = {}) {
    value = list_elements(list, range, cfg_.at(prefix_ + "." + key)).get<std::vector<T>>();
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

// List specs, e.g. words({"q", "k", "v"}).distinct().at_least(1).
struct ListOf : ListSpec {
  explicit ListOf(Element e, std::vector<std::string> allowed = {}) {
    element = e;
    words = std::move(allowed);
  }
  ListOf& distinct() {
    ListSpec::distinct = true;
    return *this;
  }
  ListOf& increasing() {
    ListSpec::increasing = true;
    return *this;
  }
  ListOf& at_least(size_t n) {
    min_size = n;
    return *this;
  }
};
inline ListOf words(std::vector<std::string> allowed = {}) {
  return ListOf(ListSpec::Element::kWord, std::move(allowed));
}
inline ListOf integers() {
  return ListOf(ListSpec::Element::kInteger);
}
inline ListOf numbers() {
  return ListOf(ListSpec::Element::kNumber);
}
inline ListOf integer_pairs() {
  return ListOf(ListSpec::Element::kIntegerPair);
}

template <class Options>
Options read_options(const Config& cfg, const std::string& prefix) {
  Options options;
  OptionReader reader(cfg, prefix);
  options.visit(reader);
  return options;
}

}  // namespace clbench
