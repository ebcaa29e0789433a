#pragma once
// CIFAR-100, binary version: cifar-100-binary/{train.bin, test.bin, fine_label_names.txt}
// (Krizhevsky, https://www.cs.toronto.edu/~kriz/cifar.html).
#include <cstdint>
#include <string>
#include <vector>

namespace clbench {

inline constexpr int64_t kCifarImageBytes = 3 * 32 * 32;               // R plane, G plane, B plane
inline constexpr int64_t kCifar100RecordBytes = 2 + kCifarImageBytes;  // coarse, fine, pixels
inline constexpr int64_t kCifar100Classes = 100;
inline constexpr int64_t kCifar100CoarseClasses = 20;
inline constexpr int64_t kCifar100TrainCount = 50000;
inline constexpr int64_t kCifar100TestCount = 10000;

struct CifarSplit {
  std::vector<uint8_t> pixels;  // {N, 3, 32, 32}, row-major (the file's own plane order)
  std::vector<int64_t> labels;  // fine labels 0..99
};

struct Cifar100 {
  CifarSplit train, test;
  std::vector<std::string> fine_label_names;  // 100 names, label i = line i+1
};

// Reads one .bin file of 3074-byte records. A size that is not a positive multiple of 3074, a
// fine label > 99 or a coarse label > 19 throws clbench::Error naming the file (and the record
// index). expected_records >= 0 also checks the record count.
CifarSplit read_cifar100_bin(const std::string& path, int64_t expected_records = -1);

// fine_label_names.txt: one name per line, exactly 100 (trailing blank lines are ignored).
std::vector<std::string> read_cifar100_label_names(const std::string& path);

// Reads <root>/{train.bin,test.bin,fine_label_names.txt}; check_counts demands 50000/10000.
Cifar100 read_cifar100(const std::string& root, bool check_counts = false);

}  // namespace clbench
