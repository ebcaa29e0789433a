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

class CifarImages : public ImageSource {
 public:
  CifarImages(CifarSplit split, std::string split_name)
      : split_(std::move(split)), split_name_(std::move(split_name)) {}
  int64_t size() const override { return static_cast<int64_t>(split_.labels.size()); }
  int64_t label(int64_t i) const override { return split_.labels.at(static_cast<size_t>(i)); }
  std::string name(int64_t i) const override { return split_name_ + "/" + std::to_string(i); }
  DecodedImage read(int64_t i, uint64_t* input_hash) const override {
    if (i < 0 || i >= size())
      throw Error("CIFAR image index " + std::to_string(i) + " out of range");
    const uint8_t* planes = split_.pixels.data() + i * kCifarImageBytes;
    if (input_hash) *input_hash = fnv1a(planes, kCifarImageBytes);
    DecodedImage img;
    img.height = img.width = 32;
    img.pixels.resize(kCifarImageBytes);
    for (int64_t p = 0; p < 32 * 32; ++p) {
      for (int64_t c = 0; c < 3; ++c) img.pixels[p * 3 + c] = planes[c * 32 * 32 + p];
    }
    return img;
  }

 private:
  CifarSplit split_;
  std::string split_name_;
};

}  // namespace

std::shared_ptr<const ImageSource> file_images(std::vector<ImageRecord> records, std::string root) {
  return std::make_shared<FileImages>(std::move(records), std::move(root));
}

std::shared_ptr<const ImageSource> cifar_images(CifarSplit split, std::string split_name) {
  return std::make_shared<CifarImages>(std::move(split), std::move(split_name));
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
