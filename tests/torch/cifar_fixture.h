#pragma once
// A cifar-100-binary/ folder as distributed (train.bin, test.bin, fine_label_names.txt), small:
// `train_per_class` and `test_per_class` records of each of the 100 fine labels, in label order.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "datasets/readers/cifar100.h"
#include "tests/core/fixtures.h"

namespace clbench::testing {

// Pixel byte i of record k of class c.
inline uint8_t cifar_pixel(int c, int k, int64_t i) {
  return static_cast<uint8_t>(i * c + k);
}

// Writes the folder at `root`; class c is named "class<c>".
inline void write_cifar100(const std::string& root, int train_per_class, int test_per_class) {
  std::filesystem::create_directories(root);
  auto write_bin = [&](const std::string& name, int per_class) {
    std::ofstream f(root + "/" + name, std::ios::binary);
    for (int c = 0; c < 100; ++c) {
      for (int k = 0; k < per_class; ++k) {
        std::vector<uint8_t> rec(kCifar100RecordBytes);
        rec[0] = static_cast<uint8_t>(c / 5);
        rec[1] = static_cast<uint8_t>(c);
        for (int64_t i = 2; i < kCifar100RecordBytes; ++i) rec[i] = cifar_pixel(c, k, i);
        f.write(reinterpret_cast<const char*>(rec.data()), kCifar100RecordBytes);
      }
    }
  };
  write_bin("train.bin", train_per_class);
  write_bin("test.bin", test_per_class);
  std::vector<std::string> names;
  for (int c = 0; c < 100; ++c) names.push_back("class" + std::to_string(c));
  write_lines(root + "/fine_label_names.txt", names);
}

}  // namespace clbench::testing
