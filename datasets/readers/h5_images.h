#pragma once
// Images in an HDF5 file (the input of `clbench embed`) and a float matrix written to one (its
// output). Two layouts are read: float N x C x H x W used as given, and uint8 N x H x W x C
// scaled to [0, 1] (C = 1 or 3 in both); both come back as float N x C x H x W, a batch at a time.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace clbench {

class H5ImageReader {
 public:
  // Opens dataset `name` of `path`. A missing file or dataset, another rank, dtype or channel
  // count, or no images: clbench::Error naming the file, the dataset and its shape.
  explicit H5ImageReader(const std::string& path, const std::string& name = "images");
  ~H5ImageReader();
  H5ImageReader(const H5ImageReader&) = delete;
  H5ImageReader& operator=(const H5ImageReader&) = delete;

  int64_t count() const { return count_; }
  std::vector<int64_t> image_shape() const { return {channels_, height_, width_}; }  // {C, H, W}
  bool channels_last() const { return channels_last_; }  // the uint8 N x H x W x C layout
  // Images [start, start + n) as float {n, C, H, W}, flat and row-major.
  std::vector<float> read(int64_t start, int64_t n) const;

 private:
  struct File;
  std::unique_ptr<File> file_;  // keeps H5Cpp.h out of this header
  std::string path_, name_;
  int64_t count_ = 0, channels_ = 0, height_ = 0, width_ = 0;
  bool channels_last_ = false;
};

// Writes `values` as the float32 rows x cols dataset `name` of a new HDF5 file at `path` (any
// existing file is replaced), with string attributes on the dataset. Atomic: a temporary file in
// the same folder, then a rename.
void write_h5_matrix(const std::string& path, const std::string& name,
                     const std::vector<float>& values, int64_t rows, int64_t cols,
                     const std::map<std::string, std::string>& attributes = {});

}  // namespace clbench
