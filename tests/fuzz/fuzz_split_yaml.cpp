// CODA-Prompt split YAML (plain or gzip): read_split_yaml on the input (up to a kSeparator) as a
// file, asking for the lists "data" and "targets", and "domains" too when the options part after
// the separator has a 'd'.
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/readers/imagenet_r.h"
#include "harness/foundation/error.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clbench;
  const auto parts = fuzz::write_parts(data, size, {"split.yaml"});
  const bool domains = parts.option('d');
  const std::vector<std::string> keys = domains
                                            ? std::vector<std::string>{"data", "domains", "targets"}
                                            : std::vector<std::string>{"data", "targets"};
  const std::string& path = parts.paths[0];
  try {
    const YamlLists lists = read_split_yaml(path, keys);
    FUZZ_CHECK(lists.size() == keys.size());
    const size_t n = lists.at(keys.front()).size();
    FUZZ_CHECK(n > 0);
    for (const auto& k : keys) {
      FUZZ_CHECK(lists.at(k).size() == n);
      for (const auto& v : lists.at(k)) FUZZ_CHECK(v.line >= 1);
    }
  } catch (const Error&) {
  }
  return 0;
}
