#include "datasets/readers/tiny_imagenet.h"

#include <cstdio>
#include <filesystem>

#include "datasets/readers/npy.h"
#include "harness/foundation/error.h"

namespace clbench {

std::string tiny_imagenet_file(const std::string& root, const std::string& array,
                               const std::string& split, int index) {
  char name[64];
  std::snprintf(name, sizeof name, "%s_%s_%02d.npy", array.c_str(), split.c_str(), index);
  return (std::filesystem::path(root) / "processed" / name).string();
}

TinyImagenetSplit read_tiny_imagenet_split(const std::string& root, const std::string& split) {
  TinyImagenetSplit s;
  for (int k = 1; k <= kTinyImagenetFiles; ++k) {
    const std::string x_path = tiny_imagenet_file(root, "x", split, k);
    const std::string y_path = tiny_imagenet_file(root, "y", split, k);
    int64_t n = 0;
    const auto pixels = read_npy_images(x_path, kTinyImagenetSide, kTinyImagenetSide, 3, &n);
    const auto labels = read_npy_labels(y_path, 0, kTinyImagenetClasses - 1);
    if (static_cast<int64_t>(labels.size()) != n) {
      throw Error(y_path + ": " + std::to_string(labels.size()) + " labels, but " + x_path +
                  " holds " + std::to_string(n) + " images");
    }
    s.pixels.insert(s.pixels.end(), pixels.begin(), pixels.end());
    s.labels.insert(s.labels.end(), labels.begin(), labels.end());
  }
  if (s.labels.empty()) {
    throw Error(tiny_imagenet_file(root, "x", split, 1) + " ... " +
                tiny_imagenet_file(root, "x", split, kTinyImagenetFiles) + ": no images");
  }
  return s;
}

TinyImagenet read_tiny_imagenet(const std::string& root) {
  TinyImagenet d;
  d.train = read_tiny_imagenet_split(root, "train");
  d.test = read_tiny_imagenet_split(root, "val");
  return d;
}

}  // namespace clbench
