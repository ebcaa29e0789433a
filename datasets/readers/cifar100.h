#pragma once
// CIFAR-100 and CIFAR-10, binary versions (Krizhevsky,
// https://www.cs.toronto.edu/~kriz/cifar.html): cifar-100-binary/{train.bin, test.bin,
// fine_label_names.txt} and cifar-10-batches-bin/{data_batch_1.bin .. data_batch_5.bin,
// test_batch.bin, batches.meta.txt}. Both are headerless files of fixed-size records: the label
// byte(s), then 3072 pixel bytes (the R, G and B planes of a 32x32 image, each row-major); one
// reader serves both (CifarBinFormat).
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
inline constexpr int64_t kCifar10RecordBytes = 1 + kCifarImageBytes;  // label, pixels
inline constexpr int64_t kCifar10Classes = 10;
inline constexpr int64_t kCifar10TrainBatches = 5;
inline constexpr int64_t kCifar10BatchCount = 10000;  // records of every batch file

struct CifarSplit {
  std::vector<uint8_t> pixels;  // {N, 3, 32, 32}, row-major (the file's own plane order)
  std::vector<int64_t> labels;  // CIFAR-100: fine labels 0..99; CIFAR-10: 0..9
};

// A binary CIFAR record layout: its label bytes, each with its name and range, and which of them
// is the label kept.
struct CifarLabelByte {
  const char* name;  // in errors: "fine label", "label"
  int64_t classes;   // valid values 0..classes-1
};
struct CifarBinFormat {
  const char* dataset;  // "CIFAR-100", "CIFAR-10"
  std::vector<CifarLabelByte> label_bytes;
  size_t kept = 0;  // index of the label byte returned
  int64_t record_bytes() const {
    return static_cast<int64_t>(label_bytes.size()) + kCifarImageBytes;
  }
};
const CifarBinFormat& cifar100_format();  // <coarse 0..19><fine 0..99><pixels>, keeps fine
const CifarBinFormat& cifar10_format();   // <label 0..9><pixels>

struct Cifar100 {
  CifarSplit train, test;
  std::vector<std::string> fine_label_names;  // 100 names, label i = line i+1
};

struct Cifar10 {
  CifarSplit train, test;                // train: data_batch_1..5 in order
  std::vector<std::string> label_names;  // 10 names (airplane ... truck), label i = line i+1
};

// Reads one .bin file of `format`'s records. A size that is not a positive multiple of the record
// size or a label byte out of its range throws clbench::Error naming the file (and the record
// index). expected_records >= 0 also checks the record count.
CifarSplit read_cifar_bin(const std::string& path, const CifarBinFormat& format,
                          int64_t expected_records = -1);
CifarSplit read_cifar100_bin(const std::string& path, int64_t expected_records = -1);
CifarSplit read_cifar10_bin(const std::string& path, int64_t expected_records = -1);

// A class-name file: one name per line, exactly `count` (trailing blank lines are ignored).
std::vector<std::string> read_cifar_label_names(const std::string& path, int64_t count);
// fine_label_names.txt: 100 names.
std::vector<std::string> read_cifar100_label_names(const std::string& path);

// Reads <root>/{train.bin,test.bin,fine_label_names.txt}; check_counts demands 50000/10000.
Cifar100 read_cifar100(const std::string& root, bool check_counts = false);

// Reads <root>/{data_batch_1.bin..data_batch_5.bin (concatenated in order), test_batch.bin,
// batches.meta.txt}; check_counts demands 10000 records in every file.
Cifar10 read_cifar10(const std::string& root, bool check_counts = false);

}  // namespace clbench
