#pragma once
// The HDF5 image cache of `clbench prepare`: a benchmark's images decoded once, stored as uint8 RGB
// at a stored resolution, with labels, split and source file names (torch-free).
//
// Layout (format "clbench-image-cache", version 1):
//   /            attributes format, version, dataset (e.g. "imagenet-r/folders"), store_size
//                (shorter side in pixels; 0 = as decoded), num_classes, content_hash (16 hex
//                digits: FNV-1a over every sample's name, label and input bytes, train then test),
//                clbench_version
//   /class_names [num_classes] strings
//   /train, /test  pixels  uint8 [total bytes], the images' HWC bytes back to back
//                  offsets int64 [N], heights int32 [N], widths int32 [N], labels int64 [N],
//                  files   [N] strings (paths relative to the data root)
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "datasets/images/image_source.h"

namespace clbench {

inline constexpr const char* kImageCacheFormat = "clbench-image-cache";
inline constexpr int64_t kImageCacheVersion = 1;

// What a split of a cache says about its images, as read from the file.
struct CacheSplitIndex {
  std::vector<int64_t> offsets, labels;
  std::vector<int32_t> heights, widths;
  int64_t files = 0;        // number of file names
  int64_t pixel_bytes = 0;  // length of the pixels dataset
};

// Checks a split's index: equal lengths, positive sizes (at most 65535 a side), images back to
// back from offset 0 filling exactly `pixel_bytes`, labels in [0, num_classes). Throws
// clbench::Error naming `file`, the split and the first bad entry.
void validate_cache_split(const std::string& file, const std::string& split,
                          const CacheSplitIndex& index, int64_t num_classes);

struct CacheContents {
  std::string dataset;  // the benchmark's data id; `run` refuses a cache of another one
  int64_t num_classes = 0;
  std::vector<std::string> class_names;  // num_classes names (may be empty strings)
  int64_t store_size = 256;              // shorter side of the stored images; 0 = as decoded
};

// Decodes every image of `train` and `test` (on `threads` threads), resizes it to the stored
// resolution and writes the cache at `path` atomically. `progress(done, total)` is called now and
// then. Returns the content hash. Any unreadable image is a clbench::Error naming its file.
std::string write_image_cache(const std::string& path, const CacheContents& contents,
                              const ImageSource& train, const ImageSource& test, int threads,
                              const std::function<void(int64_t, int64_t)>& progress = {});

struct CacheFileHandle;  // the open file, HDF5 and plain (keeps H5Cpp.h out of this header)

// An open cache. Its splits are ImageSources that read one image at a time from the file.
class ImageCache {
 public:
  // Opens and validates `path` (format, version, every index); errors name the file.
  explicit ImageCache(const std::string& path);
  ~ImageCache();
  const std::string& path() const { return path_; }
  const std::string& dataset() const { return dataset_; }
  const std::string& content_hash() const { return content_hash_; }
  int64_t num_classes() const { return num_classes_; }
  int64_t store_size() const { return store_size_; }
  const std::vector<std::string>& class_names() const { return class_names_; }
  std::shared_ptr<const ImageSource> split(const std::string& name) const;  // "train" or "test"

 private:
  std::shared_ptr<CacheFileHandle> file_;  // shared with the split sources
  std::string path_, dataset_, content_hash_;
  int64_t num_classes_ = 0, store_size_ = 0;
  std::vector<std::string> class_names_;
  std::shared_ptr<const ImageSource> train_, test_;
};

}  // namespace clbench
