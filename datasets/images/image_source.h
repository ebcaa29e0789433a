#pragma once
// Where decoded images come from, before any transform: image files named by a list or folder
// walk, in-memory arrays (CIFAR's records, NumPy images), or the HDF5 cache that `clbench prepare`
// writes (torch-free).
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
// Images held in memory, all height x width RGB: `pixels` is {N, 3, H, W} when `planar` (CIFAR's
// records), else {N, H, W, 3} (HWC, as NumPy arrays of images); names are "<split>/<index>".
struct PixelArray {
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  int64_t height = 0, width = 0;
  bool planar = false;
};
std::shared_ptr<const ImageSource> memory_images(PixelArray images, std::string split_name);
// CIFAR records (planar 3 x 32 x 32): memory_images of them.
std::shared_ptr<const ImageSource> cifar_images(CifarSplit split, std::string split_name);

// Calls fn(i) for i in [0, n) on `threads` threads (0 or 1: on this thread), which take the next
// i one at a time. The first exception thrown by fn is rethrown here.
void parallel_for(int64_t n, int threads, const std::function<void(int64_t)>& fn);

}  // namespace clbench
