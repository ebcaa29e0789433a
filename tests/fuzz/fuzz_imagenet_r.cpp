// ImageNet-R CODA-Prompt lists: the input is the train and the test YAML separated by kSeparator,
// then optionally the options ('f': check_files, 'c': check_counts, 'p': no prefix to strip);
// read_imagenet_r_coda on them (default prefix data/imagenet-r/).
#include <cstdint>
#include <string>

#include "datasets/readers/imagenet_r.h"
#include "harness/foundation/error.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clbench;
  const auto parts =
      fuzz::write_parts(data, size, {"imagenet-r_train.yaml", "imagenet-r_test.yaml"});
  const std::string root = fuzz::Scratch::get().path("imagenet-r");
  ImagenetRYamlOptions options;
  options.check_files = parts.option('f');
  options.check_counts = parts.option('c');
  if (parts.option('p')) options.strip_prefix.clear();
  try {
    const SplitRecords s = read_imagenet_r_coda(parts.paths[0], parts.paths[1], root, options);
    fuzz::check_records(s, kImagenetRClasses, root + "/");
  } catch (const Error&) {
  }
  return 0;
}
