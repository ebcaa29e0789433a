// CUB-200-2011 official lists: the input is images.txt, image_class_labels.txt,
// train_test_split.txt and classes.txt separated by kSeparator (a list the input leaves out is
// missing from the root), then optionally the options ('f': check_files, 'c': check_counts);
// read_cub200_official on that root.
#include <cstdint>
#include <string>

#include "datasets/readers/cub200.h"
#include "harness/foundation/error.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clbench;
  const auto parts = fuzz::write_parts(
      data, size, {"images.txt", "image_class_labels.txt", "train_test_split.txt", "classes.txt"});
  const std::string& root = fuzz::Scratch::get().dir();
  CubOptions options;
  options.check_files = parts.option('f');
  options.check_counts = parts.option('c');
  try {
    const SplitRecords s = read_cub200_official(root, options);
    FUZZ_CHECK(s.num_classes >= 1 && s.num_classes <= kCub200Classes);
    FUZZ_CHECK(static_cast<int64_t>(s.class_names.size()) == s.num_classes);
    FUZZ_CHECK(!s.train.empty() || !s.test.empty());
    for (const auto* split : {&s.train, &s.test}) {
      for (const auto& r : *split) {
        FUZZ_CHECK(r.label >= 0 && r.label < s.num_classes);
        FUZZ_CHECK(fuzz::starts_with(r.path, root + "/images/"));
      }
    }
  } catch (const Error&) {
  }
  return 0;
}
