// DomainNet CODA-Prompt/InfLoRA lists: the input is the train and the test YAML (data, domains,
// targets) separated by kSeparator, then optionally the options ('f': check_files, 'c':
// check_counts, 'p': strip the prefix "data/"); read_domainnet_coda on them.
#include <cstdint>
#include <string>

#include "datasets/domainnet.h"
#include "harness/error.h"
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
    FUZZ_CHECK(s.num_classes == kDomainNetClasses);
    FUZZ_CHECK(static_cast<int64_t>(s.class_names.size()) == kDomainNetClasses);
    FUZZ_CHECK(!s.train.empty() && !s.test.empty());
    for (const auto* split : {&s.train, &s.test}) {
      for (const auto& r : *split) {
        FUZZ_CHECK(r.label >= 0 && r.label < kDomainNetClasses);
        FUZZ_CHECK(fuzz::starts_with(r.path, root + "/"));
        FUZZ_CHECK(!s.class_names[static_cast<size_t>(r.label)].empty());
      }
    }
  } catch (const Error&) {
  }
  return 0;
}
