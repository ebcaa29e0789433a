#include "datasets/images/image_source.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

#include "harness/foundation/error.h"

namespace clbench {
namespace {

class FileImages : public ImageSource {
 public:
  FileImages(std::vector<ImageRecord> records, std::string root)
      : records_(std::move(records)), root_(std::move(root)) {
    if (!root_.empty() && root_.back() != '/') root_ += '/';
  }
  int64_t size() const override { return static_cast<int64_t>(records_.size()); }
  int64_t label(int64_t i) const override { return records_.at(static_cast<size_t>(i)).label; }
  std::string name(int64_t i) const override {
    const std::string& path = records_.at(static_cast<size_t>(i)).path;
    return path.compare(0, root_.size(), root_) == 0 ? path.substr(root_.size()) : path;
  }
  DecodedImage read(int64_t i, uint64_t* input_hash) const override {
    const std::string& path = records_.at(static_cast<size_t>(i)).path;
    const auto bytes = read_image_file(path);
    if (input_hash) *input_hash = fnv1a(bytes.data(), bytes.size());
    return decode_image_bytes(bytes, path);
  }

 private:
  std::vector<ImageRecord> records_;
  std::string root_;
};

class MemoryImages : public ImageSource {
 public:
  MemoryImages(PixelArray images, std::string split_name)
      : images_(std::move(images)), split_name_(std::move(split_name)) {
    const int64_t n = static_cast<int64_t>(images_.labels.size());
    if (images_.height <= 0 || images_.width <= 0 ||
        static_cast<int64_t>(images_.pixels.size()) != n * image_bytes())
      throw Error("in-memory images of " + split_name_ + ": " +
                  std::to_string(images_.pixels.size()) + " bytes for " + std::to_string(n) +
                  " images of " + std::to_string(images_.height) + "x" +
                  std::to_string(images_.width) + "x3");
  }
  int64_t size() const override { return static_cast<int64_t>(images_.labels.size()); }
  int64_t label(int64_t i) const override { return images_.labels.at(static_cast<size_t>(i)); }
  std::string name(int64_t i) const override { return split_name_ + "/" + std::to_string(i); }
  DecodedImage read(int64_t i, uint64_t* input_hash) const override {
    if (i < 0 || i >= size())
      throw Error("in-memory image index " + std::to_string(i) + " out of range");
    const int64_t bytes = image_bytes(), plane = images_.height * images_.width;
    const uint8_t* src = images_.pixels.data() + i * bytes;
    if (input_hash) *input_hash = fnv1a(src, static_cast<size_t>(bytes));
    DecodedImage img;
    img.height = images_.height;
    img.width = images_.width;
    if (!images_.planar) {
      img.pixels.assign(src, src + bytes);
      return img;
    }
    img.pixels.resize(static_cast<size_t>(bytes));
    for (int64_t p = 0; p < plane; ++p) {
      for (int64_t c = 0; c < 3; ++c) img.pixels[p * 3 + c] = src[c * plane + p];
    }
    return img;
  }

 private:
  int64_t image_bytes() const { return images_.height * images_.width * 3; }

  PixelArray images_;
  std::string split_name_;
};

}  // namespace

std::shared_ptr<const ImageSource> file_images(std::vector<ImageRecord> records, std::string root) {
  return std::make_shared<FileImages>(std::move(records), std::move(root));
}

std::shared_ptr<const ImageSource> memory_images(PixelArray images, std::string split_name) {
  return std::make_shared<MemoryImages>(std::move(images), std::move(split_name));
}

std::shared_ptr<const ImageSource> cifar_images(CifarSplit split, std::string split_name) {
  return memory_images({std::move(split.pixels), std::move(split.labels), 32, 32, true},
                       std::move(split_name));
}

void parallel_for(int64_t n, int threads, const std::function<void(int64_t)>& fn) {
  const int64_t workers = std::min<int64_t>(std::max(threads, 1), n);
  if (workers <= 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::exception_ptr failure;
  std::mutex mutex;
  std::atomic<int64_t> next{0};  // items are handed out one at a time: their costs differ
  std::vector<std::thread> pool;
  for (int64_t w = 0; w < workers; ++w) {
    pool.emplace_back([&] {
      try {
        for (int64_t i = next++; i < n; i = next++) fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!failure) failure = std::current_exception();
      }
    });
  }
  for (auto& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace clbench
