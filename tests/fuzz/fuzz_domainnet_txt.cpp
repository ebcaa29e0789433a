// DomainNet official lists: the input is <domain>_train.txt and <domain>_test.txt separated by
// kSeparator, then optionally the options ('f': check_files, 'c': check_counts);
// read_domainnet_domain on them for domain "clipart".
#include <cstdint>
#include <string>

#include "datasets/readers/domainnet.h"
#include "harness/foundation/error.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clbench;
  const auto parts = fuzz::write_parts(data, size, {"clipart_train.txt", "clipart_test.txt"});
  const std::string& root = fuzz::Scratch::get().dir();
  DomainNetOptions options;
  options.check_files = parts.option('f');
  options.check_counts = parts.option('c');
  try {
    const SplitRecords s = read_domainnet_domain(root, "clipart", options);
    fuzz::check_records(s, kDomainNetClasses, root + "/clipart/");
  } catch (const Error&) {
  }
  return 0;
}
