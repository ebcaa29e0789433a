#pragma once
// Tiny-ImageNet as Mammoth distributes it for Seq-TinyImageNet (tiny-imagenet-processed.zip:
// aimagelab/mammoth@7ab9db9:datasets/seq_tinyimagenet.py:47-59): <root>/processed/ holds
// x_train_01.npy ... x_train_20.npy, y_train_01..20.npy, x_val_01..20.npy and y_val_01..20.npy,
// each split the concatenation of its 20 files in index order; "val" is the test set. x: (N, 64,
// 64, 3) images, floats in [0, 1] that Mammoth turns into pixels with np.uint8(255 * img); y: the
// labels 0..199. The archive's dtypes are unconfirmed: x may be float32, float64 or uint8 (taken
// as the pixels), y any integer type (datasets/readers/npy.h). Torch-free.
#include <cstdint>
#include <string>
#include <vector>

namespace clbench {

inline constexpr int64_t kTinyImagenetClasses = 200;
inline constexpr int64_t kTinyImagenetSide = 64;
inline constexpr int64_t kTinyImagenetFiles = 20;  // per array and split

struct TinyImagenetSplit {
  std::vector<uint8_t> pixels;  // {N, 64, 64, 3}, HWC RGB
  std::vector<int64_t> labels;  // 0..199
};

struct TinyImagenet {
  TinyImagenetSplit train, test;  // test: the val files
};

// <root>/processed/<array>_<split>_<NN>.npy, NN = 01..20 (index 1..20).
std::string tiny_imagenet_file(const std::string& root, const std::string& array,
                               const std::string& split, int index);

// One split ("train" or "val"): the 20 x and y files in index order. A missing file, a malformed
// .npy, an image shape other than (N, 64, 64, 3), a label out of 0..199 or an x file whose image
// count differs from its y file throws clbench::Error naming the file.
TinyImagenetSplit read_tiny_imagenet_split(const std::string& root, const std::string& split);

// Both splits of <root>/processed/.
TinyImagenet read_tiny_imagenet(const std::string& root);

}  // namespace clbench
