// CIFAR-100 and CIFAR-10 binary: the first input byte picks the reader (even: read_cifar_bin with
// an expected record count of -1..2 from its bits 1-2, the CIFAR-10 format when bit 3 is set, else
// CIFAR-100's; odd: read_cifar100_label_names); the rest is the file.
#include <cstdint>
#include <string>

#include "datasets/readers/cifar100.h"
#include "harness/foundation/error.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clbench;
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const std::string file(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    if (mode % 2 == 0) {
      const int64_t expected = ((mode >> 1) & 3) - 1;
      const bool ten = (mode >> 3) & 1;
      const CifarBinFormat& format = ten ? cifar10_format() : cifar100_format();
      const int64_t classes = ten ? kCifar10Classes : kCifar100Classes;
      const CifarSplit s = read_cifar_bin(fuzz::write_file("train.bin", file), format, expected);
      const auto n = static_cast<int64_t>(s.labels.size());
      FUZZ_CHECK(n > 0 && n * format.record_bytes() == static_cast<int64_t>(file.size()));
      FUZZ_CHECK(expected < 0 || n == expected);
      FUZZ_CHECK(static_cast<int64_t>(s.pixels.size()) == n * kCifarImageBytes);
      for (const int64_t label : s.labels) FUZZ_CHECK(label >= 0 && label < classes);
    } else {
      const auto names = read_cifar100_label_names(fuzz::write_file("fine_label_names.txt", file));
      FUZZ_CHECK(static_cast<int64_t>(names.size()) == kCifar100Classes);
      for (const auto& name : names) {
        FUZZ_CHECK(!name.empty());
        FUZZ_CHECK(name.find_first_of(" \t\n") == std::string::npos);
      }
    }
  } catch (const Error&) {
  }
  return 0;
}
