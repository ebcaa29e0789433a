// .npy files as NumPy writes them (numpy/lib/format.py), and Mammoth's processed Tiny-ImageNet
// folder made of them, for the core and torch tests. Header-only.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/core/fixtures.h"

namespace clbench::testing {

// A .npy file of format `major`.0: the magic, the version, the header length and `dict` padded
// with spaces and ended by '\n' so that the data start at a multiple of 64 (as NumPy pads it),
// then `data`.
inline std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
  const size_t prefix = major == 1 ? 10 : 12;
  std::string header = dict;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  const size_t n = header.size();
  for (size_t k = 0; k < (major == 1 ? 2u : 4u); ++k)
    out += static_cast<char>((n >> (8 * k)) & 0xff);
  return out + header + data;
}

// NumPy's header dict: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
inline std::string npy_dict(const std::string& descr, const std::string& shape,
                            const std::string& fortran_order = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran_order + ", 'shape': " + shape +
         ", }";
}

// The bytes of `values` (little-endian on the machines clbench runs on).
template <typename T>
std::string raw_bytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

inline void write_npy(const std::string& path, const std::string& descr, const std::string& shape,
                      const std::string& data, int major = 1) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  const std::string bytes = npy_bytes(npy_dict(descr, shape), data, major);
  write_bytes(path, Bytes(bytes.begin(), bytes.end()));
}

// The quarter steps a Tiny-ImageNet fixture stores: exact in binary, so np.uint8(255 * x) is
// known: 0, 63, 127, 191, 255.
inline constexpr uint8_t kQuarterPixels[5] = {0, 63, 127, 191, 255};

// Element i (of 64 * 64 * 3, HWC) of image g of a split: quarter step (g + i) % 5.
inline int tiny_step(int64_t g, int64_t i) {
  return static_cast<int>((g + i) % 5);
}

// Mammoth's <root>/processed/{x,y}_{train,val}_NN.npy, NN = 01..20: `per_file` images in every
// file; image g of a split (counted over its files in order) has label g % 200 and the pixels of
// tiny_step. x is stored as `x_descr` ('<f4', '<f8': the step / 4; '|u1': the pixel itself), y as
// '<i8'.
inline void write_tiny_imagenet(const std::string& root, int per_file,
                                const std::string& x_descr = "<f4") {
  constexpr int64_t kImage = 64 * 64 * 3;
  for (const char* split : {"train", "val"}) {
    int64_t g = 0;
    for (int f = 1; f <= 20; ++f) {
      std::vector<float> f4;
      std::vector<double> f8;
      std::string u1;
      std::vector<int64_t> y;
      for (int k = 0; k < per_file; ++k, ++g) {
        y.push_back(g % 200);
        for (int64_t i = 0; i < kImage; ++i) {
          const int s = tiny_step(g, i);
          f4.push_back(static_cast<float>(s) / 4.0f);
          f8.push_back(static_cast<double>(s) / 4.0);
          u1 += static_cast<char>(kQuarterPixels[s]);
        }
      }
      const std::string x = x_descr == "<f4"   ? raw_bytes(f4)
                            : x_descr == "<f8" ? raw_bytes(f8)
                                               : u1;
      char name[32];
      std::snprintf(name, sizeof name, "_%s_%02d.npy", split, f);
      const std::string n = std::to_string(per_file);
      write_npy(root + "/processed/x" + name, x_descr, "(" + n + ", 64, 64, 3)", x);
      write_npy(root + "/processed/y" + name, "<i8", "(" + n + ",)", raw_bytes(y));
    }
  }
}

}  // namespace clbench::testing
