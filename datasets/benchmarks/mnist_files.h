#pragma once
// MNIST-style IDX files (MNIST, Fashion-MNIST): <root>/{train,t10k}-{images-idx3,labels-idx1}-ubyte
// (each also as .gz), labels 0..9.
#include <memory>
#include <string>

#include "datasets/dataset.h"

namespace clbench {

inline constexpr const char* kFashionMnistRoot = "/usr/share/datasets/fashion-mnist";
inline constexpr const char* kFashionMnistHint =
    "Fashion-MNIST: 'apt-get install dataset-fashion-mnist' puts it in "
    "/usr/share/datasets/fashion-mnist, or pass --data-root DIR holding the four IDX files";

// One split ("train" or "t10k") as uint8 images {N, 1, H, W}. A missing file is an Error naming
// it and `hint` (where the files come from); mismatched counts or a label above 9 name the file.
std::shared_ptr<const TensorDataset> read_idx_split(const std::string& root,
                                                    const std::string& prefix,
                                                    const std::string& hint);

}  // namespace clbench
