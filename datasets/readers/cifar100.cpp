#include "datasets/readers/cifar100.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "datasets/readers/image_list.h"
#include "harness/foundation/error.h"

namespace clbench {
namespace {

namespace fs = std::filesystem;

// Number of records in `path`, from its size (the format has no header).
int64_t record_count(const std::string& path) {
  std::string why;
  if (!is_regular_file(path, &why)) throw Error("missing data file: " + path + why);
  std::error_code ec;
  const auto bytes = static_cast<int64_t>(fs::file_size(path, ec));
  if (ec) throw Error("cannot read the size of " + path + ": " + ec.message());
  if (bytes == 0 || bytes % kCifar100RecordBytes != 0) {
    throw Error(path + ": size " + std::to_string(bytes) +
                " bytes is not a positive multiple of the " + std::to_string(kCifar100RecordBytes) +
                "-byte CIFAR-100 record");
  }
  return bytes / kCifar100RecordBytes;
}

// Validates the two label bytes of record `index` and returns the fine label.
int64_t record_label(const uint8_t* rec, int64_t index, const std::string& path) {
  if (rec[0] >= kCifar100CoarseClasses) {
    throw Error(path + ": record " + std::to_string(index) + " has coarse label " +
                std::to_string(rec[0]) + " (expected 0..19)");
  }
  if (rec[1] >= kCifar100Classes) {
    throw Error(path + ": record " + std::to_string(index) + " has fine label " +
                std::to_string(rec[1]) + " (expected 0..99)");
  }
  return rec[1];
}

}  // namespace

CifarSplit read_cifar100_bin(const std::string& path, int64_t expected_records) {
  const int64_t n = record_count(path);
  if (expected_records >= 0 && n != expected_records) {
    throw Error(path + ": " + std::to_string(n) + " records, expected " +
                std::to_string(expected_records));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + path);
  CifarSplit out;
  out.pixels.resize(static_cast<size_t>(n * kCifarImageBytes));
  out.labels.resize(static_cast<size_t>(n));
  constexpr int64_t kChunk = 1024;  // records per read
  std::vector<uint8_t> buf(static_cast<size_t>(std::min(kChunk, n) * kCifar100RecordBytes));
  for (int64_t first = 0; first < n; first += kChunk) {
    const int64_t count = std::min(kChunk, n - first);
    in.read(reinterpret_cast<char*>(buf.data()), count * kCifar100RecordBytes);
    if (in.gcount() != count * kCifar100RecordBytes) throw Error(path + ": short read");
    for (int64_t r = 0; r < count; ++r) {
      const uint8_t* rec = buf.data() + r * kCifar100RecordBytes;
      out.labels[static_cast<size_t>(first + r)] = record_label(rec, first + r, path);
      std::copy(rec + 2, rec + kCifar100RecordBytes,
                out.pixels.begin() + (first + r) * kCifarImageBytes);
    }
  }
  return out;
}

std::vector<std::string> read_cifar100_label_names(const std::string& path) {
  auto lines = list_detail::read_lines(path);
  while (!lines.empty() && list_detail::split_fields(lines.back()).empty()) lines.pop_back();
  std::vector<std::string> names;
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto fields = list_detail::split_fields(lines[i]);
    if (fields.size() != 1) {
      throw Error(list_detail::at(path, i + 1) + "expected one class name, found " +
                  std::to_string(fields.size()) + " fields");
    }
    names.push_back(fields[0]);
  }
  if (static_cast<int64_t>(names.size()) != kCifar100Classes) {
    throw Error(path + ": " + std::to_string(names.size()) + " class names, expected 100");
  }
  return names;
}

Cifar100 read_cifar100(const std::string& root, bool check_counts) {
  Cifar100 d;
  d.train = read_cifar100_bin(list_detail::join(root, "train.bin"),
                              check_counts ? kCifar100TrainCount : -1);
  d.test = read_cifar100_bin(list_detail::join(root, "test.bin"),
                             check_counts ? kCifar100TestCount : -1);
  d.fine_label_names = read_cifar100_label_names(list_detail::join(root, "fine_label_names.txt"));
  return d;
}

}  // namespace clbench
