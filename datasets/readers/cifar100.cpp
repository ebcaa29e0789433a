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
int64_t record_count(const std::string& path, const CifarBinFormat& f) {
  std::string why;
  if (!is_regular_file(path, &why)) throw Error("missing data file: " + path + why);
  std::error_code ec;
  const auto bytes = static_cast<int64_t>(fs::file_size(path, ec));
  if (ec) throw Error("cannot read the size of " + path + ": " + ec.message());
  if (bytes == 0 || bytes % f.record_bytes() != 0) {
    throw Error(path + ": size " + std::to_string(bytes) +
                " bytes is not a positive multiple of the " + std::to_string(f.record_bytes()) +
                "-byte " + f.dataset + " record");
  }
  return bytes / f.record_bytes();
}

// Validates the label bytes of record `index` and returns the kept label.
int64_t record_label(const uint8_t* rec, int64_t index, const std::string& path,
                     const CifarBinFormat& f) {
  for (size_t b = 0; b < f.label_bytes.size(); ++b) {
    const CifarLabelByte& l = f.label_bytes[b];
    if (rec[b] >= l.classes) {
      throw Error(path + ": record " + std::to_string(index) + " has " + l.name + " " +
                  std::to_string(rec[b]) + " (expected 0.." + std::to_string(l.classes - 1) + ")");
    }
  }
  return rec[f.kept];
}

// Appends `more` to `to`.
void append(CifarSplit& to, const CifarSplit& more) {
  to.pixels.insert(to.pixels.end(), more.pixels.begin(), more.pixels.end());
  to.labels.insert(to.labels.end(), more.labels.begin(), more.labels.end());
}

}  // namespace

const CifarBinFormat& cifar100_format() {
  static const CifarBinFormat f{
      "CIFAR-100", {{"coarse label", kCifar100CoarseClasses}, {"fine label", kCifar100Classes}}, 1};
  return f;
}

const CifarBinFormat& cifar10_format() {
  static const CifarBinFormat f{"CIFAR-10", {{"label", kCifar10Classes}}, 0};
  return f;
}

CifarSplit read_cifar_bin(const std::string& path, const CifarBinFormat& format,
                          int64_t expected_records) {
  const int64_t n = record_count(path, format), record = format.record_bytes();
  const int64_t label_bytes = record - kCifarImageBytes;
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
  std::vector<uint8_t> buf(static_cast<size_t>(std::min(kChunk, n) * record));
  for (int64_t first = 0; first < n; first += kChunk) {
    const int64_t count = std::min(kChunk, n - first);
    in.read(reinterpret_cast<char*>(buf.data()), count * record);
    if (in.gcount() != count * record) throw Error(path + ": short read");
    for (int64_t r = 0; r < count; ++r) {
      const uint8_t* rec = buf.data() + r * record;
      out.labels[static_cast<size_t>(first + r)] = record_label(rec, first + r, path, format);
      std::copy(rec + label_bytes, rec + record,
                out.pixels.begin() + (first + r) * kCifarImageBytes);
    }
  }
  return out;
}

CifarSplit read_cifar100_bin(const std::string& path, int64_t expected_records) {
  return read_cifar_bin(path, cifar100_format(), expected_records);
}

CifarSplit read_cifar10_bin(const std::string& path, int64_t expected_records) {
  return read_cifar_bin(path, cifar10_format(), expected_records);
}

std::vector<std::string> read_cifar_label_names(const std::string& path, int64_t count) {
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
  if (static_cast<int64_t>(names.size()) != count) {
    throw Error(path + ": " + std::to_string(names.size()) + " class names, expected " +
                std::to_string(count));
  }
  return names;
}

std::vector<std::string> read_cifar100_label_names(const std::string& path) {
  return read_cifar_label_names(path, kCifar100Classes);
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

Cifar10 read_cifar10(const std::string& root, bool check_counts) {
  const int64_t expected = check_counts ? kCifar10BatchCount : -1;
  Cifar10 d;
  for (int64_t b = 1; b <= kCifar10TrainBatches; ++b) {
    append(d.train,
           read_cifar10_bin(list_detail::join(root, "data_batch_" + std::to_string(b) + ".bin"),
                            expected));
  }
  d.test = read_cifar10_bin(list_detail::join(root, "test_batch.bin"), expected);
  d.label_names =
      read_cifar_label_names(list_detail::join(root, "batches.meta.txt"), kCifar10Classes);
  return d;
}

}  // namespace clbench
