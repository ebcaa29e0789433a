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

// The transforms the config asks for (keys image_size, crop_scale_min, test_resize, normalize,
// and train_crop / crop_padding where the benchmark has them).
TransformOptions configured_transform(const Config& cfg);

// The splits of `benchmark`: from the cache in key `cache` (its data id must match), else read.
ImageSplits configured_splits(const std::string& benchmark, const Config& cfg);

// For the image benchmarks' own files:
// The folder in key data_root, or an Error saying what to pass (`expected`: what the folder holds).
std::string require_data_root(const Config& cfg, const std::string& expected);
// The keys every image benchmark has (cache, image_size, crop_scale_min, test_resize,
// test_interpolation, normalize: `normalize` its default), then `own`.
std::vector<OptionSpec> image_keys(std::vector<OptionSpec> own, const std::string& normalize);
// Sets the default of `key` in `keys` (a benchmark's own default of an image key).
void set_key_default(std::vector<OptionSpec>& keys, const std::string& key, nlohmann::json value);
// Keys train_crop (default padded) and crop_padding (default `padding`), for the benchmarks whose
// training crop is torchvision's RandomCrop(size, padding) (Mammoth's), read by
// configured_transform.
std::vector<OptionSpec> padded_crop_keys(int64_t padding);
// Key `augment` (for the benchmarks that declare it): whether training images are augmented.
OptionSpec augment_key(const std::string& default_value);
// An ImageDataset of `source` with the configured transform (loader_threads threads); with
// augment = none its training view is its evaluation view.
std::shared_ptr<const Dataset> configured_images(std::shared_ptr<const ImageSource> source,
                                                 const Config& cfg);
// CIFAR-100 (cifar-100-binary/ in data_root).
ImageSplits read_cifar100_splits(const Config& cfg);
// CIFAR-10 (cifar-10-batches-bin/ in data_root).
ImageSplits read_cifar10_splits(const Config& cfg);

}  // namespace clbench
