#pragma once
// Where decoded images come from, before any transform: image files named by a list or folder
// walk, CIFAR's in-memory records, or the HDF5 cache that `clbench prepare` writes (torch-free).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "datasets/readers/cifar100.h"
#include "datasets/readers/image_list.h"
#include "datasets/readers/jpeg.h"
#include "harness/foundation/hash.h"  // fnv1a: input hashes

namespace clbench {

class ImageSource {
 public:
  virtual ~ImageSource() = default;
  virtual int64_t size() const = 0;
  virtual int64_t label(int64_t index) const = 0;
  // The sample's name: its file relative to the data root (the cache stores it).
  virtual std::string name(int64_t index) const = 0;
  // The image, RGB HWC. Thread-safe. `input_hash`, if given, receives a hash of the bytes the image
  // was read from (the file's bytes for files), so a cache can record what it was made of.
  virtual DecodedImage read(int64_t index, uint64_t* input_hash = nullptr) const = 0;
};

// JPEG/PNG files; names are the paths relative to `root`.
std::shared_ptr<const ImageSource> file_images(std::vector<ImageRecord> records, std::string root);
// CIFAR records (planar 3 x 32 x 32); names are "<split>/<index>".
std::shared_ptr<const ImageSource> cifar_images(CifarSplit split, std::string split_name);

// Calls fn(i) for i in [0, n) on `threads` threads (0 or 1: on this thread), which take the next
// i one at a time. The first exception thrown by fn is rethrown here.
void parallel_for(int64_t n, int threads, const std::function<void(int64_t)>& fn);

}  // namespace clbench
