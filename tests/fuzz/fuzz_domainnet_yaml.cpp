// DomainNet CODA-Prompt/InfLoRA lists: the input is the train and the test YAML (data, domains,
// targets) separated by kSeparator, then optionally the options ('f': check_files, 'c':
// check_counts, 'p': strip the prefix "data/"); read_domainnet_coda on them.
#include <cstdint>
#include <string>

#include "datasets/readers/domainnet.h"
#include "harness/foundation/error.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clbench;
  const auto parts = fuzz::write_parts(data, size, {"domainnet_train.yaml", "domainnet_test.yaml"});
  const std::string root = fuzz::Scratch::get().path("domainnet");
  DomainNetOptions options;
  options.check_files = parts.option('f');
  options.check_counts = parts.option('c');
  if (parts.option('p')) options.strip_prefix = "data/";
  try {
    const SplitRecords s = read_domainnet_coda(parts.paths[0], parts.paths[1], root, options);
    fuzz::check_records(s, kDomainNetClasses, root + "/");
  } catch (const Error&) {
  }
  return 0;
}
