// clbench list: the registered methods, benchmarks and backbones (and, with --keys, every key).
#include <algorithm>
#include <cstdio>

#include <CLI/CLI.hpp>

#include "datasets/benchmarks/registry.h"
#include "harness/cli/command.h"
#include "harness/foundation/text.h"
#include "harness/models/backbones.h"
#include "harness/run/plan.h"
#include "methods/method.h"

namespace clbench {
namespace {

void print_keys(const std::vector<OptionSpec>& keys, const std::string& indent) {
  for (const auto& k : keys) {
    std::string allowed = describe_range(k.range);
    if (!k.choices.empty()) allowed = "one of " + join(k.choices, ", ");
    if (k.list.is_list()) allowed = describe_list(k.list, k.range);
    std::printf("%s%-28s %-10s %s%s\n", indent.c_str(), k.key.c_str(),
                k.default_value.dump().c_str(), k.help.c_str(),
                allowed.empty() ? "" : (" [" + allowed + "]").c_str());
  }
}

// The name column of a listing: as wide as its longest name.
template <class Entries>
int width(const Entries& entries) {
  size_t w = 0;
  for (const auto& e : entries) w = std::max(w, e.name.size());
  return static_cast<int>(w);
}

int list(bool keys) {
  std::printf("methods:\n");
  for (const auto& m : methods()) {
    std::printf("  %-*s %s\n", width(methods()), m.name.c_str(), m.summary.c_str());
    if (keys) print_keys(m.keys, "      ");
  }
  std::printf("benchmarks:\n");
  for (const auto& b : benchmarks()) {
    std::printf("  %-*s %s\n", width(benchmarks()), b.name.c_str(), b.summary.c_str());
    if (keys) print_keys(b.keys, "      ");
  }
  std::printf("backbones:\n");
  for (const auto& b : backbones())
    std::printf("  %-*s %s\n", width(backbones()), b.name.c_str(), b.description.c_str());
  if (keys) {
    std::printf("common keys (--set key=value, or a flag):\n");
    print_keys(common_specs(), "  ");
  }
  return 0;
}

}  // namespace

Command add_list(CLI::App& app) {
  auto* sub = app.add_subcommand("list", "registered methods, benchmarks and backbones");
  auto keys = std::make_shared<bool>(false);
  sub->add_flag("--keys", *keys, "also list every config key with its default");
  return {sub, [keys](Communicator*) { return list(*keys); }};
}

}  // namespace clbench
