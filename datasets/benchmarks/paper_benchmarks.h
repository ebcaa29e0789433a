#pragma once
// Image benchmarks read from files (or their HDF5 cache): the shared path from a dataset's image
// splits to a task stream, and the per-benchmark readers that `clbench prepare` uses.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "datasets/images/image_source.h"
#include "datasets/images/transforms.h"
#include "datasets/task_stream.h"
#include "harness/foundation/config.h"

namespace clbench {

// A dataset's train and test images, before transforms and task splits.
struct ImageSplits {
  std::string data_id;  // e.g. "imagenet-r/folders": what a cache of these images is for
  int64_t num_classes = 0;
  std::vector<std::string> class_names;
  std::shared_ptr<const ImageSource> train, test;
};

struct ImageData {
  std::function<std::string(const Config&)> data_id;  // without reading anything
  std::function<ImageSplits(const Config&)> read;  // from data_root (and list keys), with data_id
};

// `prepare`'s view of the image benchmarks: name -> reader. Unknown name: clbench::Error listing
// the benchmarks that have image files.
void register_image_data(const std::string& benchmark, ImageData data);
const ImageData& find_image_data(const std::string& benchmark);

// The transforms the config asks for (keys image_size, crop_scale_min, test_resize, normalize).
TransformOptions configured_transform(const Config& cfg);

// The splits of `benchmark`: from the cache in key `cache` (its data id must match), else read.
ImageSplits configured_splits(const std::string& benchmark, const Config& cfg);

}  // namespace clbench
