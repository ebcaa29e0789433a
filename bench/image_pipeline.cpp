// Images per second of the data path: decoding JPEGs with the training transform, against reading
// the HDF5 cache of `clbench prepare` with the same transform, on 1 and 2 loader threads; and the
// rate at which a ViT preset consumes images in a training step, for comparison.
//
//   build/clbench_image_bench --images 400 --width 500 --height 375 --vit vit-b16
//   build/clbench_image_bench --threads 1,2,4,8,16 --vit vit-b16 --device cuda --vit-batch 64
//
// The JPEGs are generated (smooth colour fields with texture and noise, quality 90, ImageNet-R's
// typical 500 x 375), written to a temporary folder, decoded through the loader's ImageDataset.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <torch/torch.h>

#include "datasets/images/image_cache.h"
#include "datasets/images/image_dataset.h"
#include "harness/models/backbones.h"

using namespace clbench;
namespace fs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<ImageRecord> make_jpegs(const std::string& root, int n, int w, int h) {
  std::mt19937 rng(1);
  std::normal_distribution<float> noise(0.f, 12.f);
  std::vector<ImageRecord> records;
  for (int i = 0; i < n; ++i) {
    std::vector<uint8_t> rgb(static_cast<size_t>(w * h * 3));
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        for (int c = 0; c < 3; ++c) {
          const float v = 128 + 80 * std::sin(0.02f * x * (c + 1) + 0.03f * y + i) +
                          30 * std::sin(0.3f * x + 0.2f * y * c) + noise(rng);
          rgb[(static_cast<size_t>(y) * w + x) * 3 + c] =
              static_cast<uint8_t>(std::clamp(v, 0.f, 255.f));
        }
      }
    }
    const std::string path =
        root + "/c" + std::to_string(i % 10) + "/" + std::to_string(i) + ".jpg";
    fs::create_directories(fs::path(path).parent_path());
    encode_jpeg(path, rgb, w, h, 90);
    records.push_back({path, i % 10});
  }
  return records;
}

// Images/s of `data.augmented` (uint8 batches) over every image in batches of 64, best of
// `repeats` passes; with `to_float`, also the model's input made from each batch on the CPU.
double rate(const Dataset& data, int repeats, bool to_float = false) {
  std::vector<int64_t> all(static_cast<size_t>(data.size()));
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  double best = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t b = 0; b < all.size(); b += 64) {
      std::vector<int64_t> idx(all.begin() + b, all.begin() + std::min(all.size(), b + 64));
      std::vector<uint64_t> seeds(idx.size());
      for (size_t k = 0; k < idx.size(); ++k) seeds[k] = 1000 * r + idx[k];
      const auto x = data.augmented(idx, seeds);
      if (to_float) data.model_input(x);
    }
    best = std::max(best, static_cast<double>(all.size()) / seconds_since(t0));
  }
  return best;
}

// Images/s of reading (decoding) every image of `source` on `threads` threads, no transform.
double read_rate(const ImageSource& source, int repeats, int threads = 1) {
  double best = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    parallel_for(source.size(), threads, [&](int64_t i) { source.read(i); });
    best = std::max(best, static_cast<double>(source.size()) / seconds_since(t0));
  }
  return best;
}

// Images/s of full fine-tuning steps of `preset` (forward + backward + SGD), batch `batch`.
double vit_rate(const std::string& preset, int64_t batch, int steps, torch::Device device) {
  auto model = make_classifier(preset, {3, 224, 224}, 200);
  model->to(device);
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
  const auto x = torch::rand({batch, 3, 224, 224}).to(device);
  const auto y = torch::randint(0, 200, {batch}).to(device);
  std::vector<double> times;
  for (int s = 0; s < steps + 2; ++s) {
    const auto t0 = std::chrono::steady_clock::now();
    opt.zero_grad();
    torch::nn::functional::cross_entropy(model->forward(x), y).backward();
    opt.step();
    if (device.is_cuda()) torch::cuda::synchronize();
    if (s > 1) times.push_back(seconds_since(t0));  // two steps warm up
  }
  std::sort(times.begin(), times.end());
  return static_cast<double>(batch) / times[times.size() / 2];
}

// The cache's images held in memory: a copy per read, no HDF5 (separates the read from the rest).
class Preloaded : public ImageSource {
 public:
  explicit Preloaded(const ImageSource& from) {
    for (int64_t i = 0; i < from.size(); ++i) images_.push_back(from.read(i));
  }
  int64_t size() const override { return static_cast<int64_t>(images_.size()); }
  int64_t label(int64_t) const override { return 0; }
  std::string name(int64_t) const override { return ""; }
  DecodedImage read(int64_t i, uint64_t*) const override { return images_[static_cast<size_t>(i)]; }

 private:
  std::vector<DecodedImage> images_;
};

struct Args {
  int images = 400, width = 500, height = 375, repeats = 2, vit_steps = 2;
  int64_t vit_batch = 8, torch_threads = 2;
  std::string vit = "vit-b16", device = "cpu";
  std::vector<int> thread_counts = {1, 2};
  bool tf32 = false;
};

// --key value pairs; false on an unknown key.
bool parse(int argc, char** argv, Args& a) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--images")
      a.images = std::stoi(v);
    else if (k == "--width")
      a.width = std::stoi(v);
    else if (k == "--height")
      a.height = std::stoi(v);
    else if (k == "--repeats")
      a.repeats = std::stoi(v);
    else if (k == "--vit")
      a.vit = v;
    else if (k == "--vit-batch")
      a.vit_batch = std::stoll(v);
    else if (k == "--vit-steps")
      a.vit_steps = std::stoi(v);
    else if (k == "--torch-threads")
      a.torch_threads = std::stoll(v);
    else if (k == "--device")
      a.device = v;
    else if (k == "--tf32")
      a.tf32 = v == "1";
    else if (k == "--threads") {
      a.thread_counts.clear();
      std::stringstream list(v);
      for (std::string n; std::getline(list, n, ',');) a.thread_counts.push_back(std::stoi(n));
    } else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return false;
    }
  }
  return true;
}

// The table of images/s: JPEG against the cache, decoding alone and with the transforms.
void loader_table(const Args& a, const std::shared_ptr<const ImageSource>& files,
                  const ImageCache& cache) {
  TransformOptions transform;  // RandomResizedCrop(224, 0.05-1) + flip
  std::printf("| source | loader threads | images/s |\n|---|---|---|\n");
  std::printf("| JPEG decode only | 1 | %.0f |\n", read_rate(*files, a.repeats));
  std::printf("| HDF5 cache read only | 1 | %.0f |\n", read_rate(*cache.split("train"), a.repeats));
  std::vector<double> ratios;
  for (int threads : a.thread_counts) {
    const double jpeg = rate(ImageDataset(files, transform, threads), a.repeats);
    const ImageDataset from_cache(cache.split("train"), transform, threads);
    const double cached = rate(from_cache, a.repeats);
    if (threads > 1) {
      std::printf("| JPEG decode only | %d | %.0f |\n", threads,
                  read_rate(*files, a.repeats, threads));
      std::printf("| HDF5 cache read only | %d | %.0f |\n", threads,
                  read_rate(*cache.split("train"), a.repeats, threads));
    }
    std::printf("| JPEG decode + RandomResizedCrop(224) + flip | %d | %.0f |\n", threads, jpeg);
    std::printf("| HDF5 cache + RandomResizedCrop(224) + flip | %d | %.0f |\n", threads, cached);
    std::printf(
        "| cache images in memory + RandomResizedCrop(224) + flip | %d | %.0f |\n", threads,
        rate(ImageDataset(std::make_shared<Preloaded>(*cache.split("train")), transform, threads),
             a.repeats));
    torch::set_num_threads(threads);
    std::printf("| HDF5 cache + RandomResizedCrop(224) + flip + float on the CPU | %d | %.0f |\n",
                threads, rate(from_cache, a.repeats, true));
    ratios.push_back(cached / jpeg);
  }
  std::printf("\ncache / JPEG:");
  for (size_t i = 0; i < ratios.size(); ++i)
    std::printf(" %.1fx (%d threads)", ratios[i], a.thread_counts[i]);
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  at::globalContext().setFlushDenormal(true);
  Args a;
  if (!parse(argc, argv, a)) return 2;
  const fs::path tmp =
      fs::temp_directory_path() / ("clbench-image-bench-" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  const auto records = make_jpegs((tmp / "jpeg").string(), a.images, a.width, a.height);
  const auto files = file_images(records, (tmp / "jpeg").string());
  CacheContents contents;
  contents.dataset = "bench";
  contents.num_classes = 10;
  contents.class_names.assign(10, "");
  contents.store_size = 256;
  const std::string cache_path = (tmp / "cache.h5").string();
  auto t0 = std::chrono::steady_clock::now();
  write_image_cache(cache_path, contents, *files, *files, 2);
  const double prepare_s = seconds_since(t0);
  const ImageCache cache(cache_path);
  std::printf(
      "%d JPEGs of %dx%d (%.1f KiB each on average); cache (shorter side 256) made in "
      "%.1f s on 2 threads\n\n",
      a.images, a.width, a.height, static_cast<double>(fs::file_size(records[0].path)) / 1024.0,
      prepare_s);
  std::printf(
      "Batches are uint8 (the loader's output, made float where the model runs); the\n"
      "'float on the CPU' row adds that step on the CPU, as a CPU run does.\n\n");
  loader_table(a, files, cache);
  if (!a.vit.empty()) {
    torch::set_num_threads(static_cast<int>(a.torch_threads));
    at::globalContext().setAllowTF32CuBLAS(a.tf32);
    at::globalContext().setAllowTF32CuDNN(a.tf32);
    std::printf(
        "%s training step on %s%s (full fine-tuning, batch %lld, %lld torch threads): %.2f "
        "images/s\n",
        a.vit.c_str(), a.device.c_str(), a.tf32 ? " with TF32" : "",
        static_cast<long long>(a.vit_batch), static_cast<long long>(a.torch_threads),
        vit_rate(a.vit, a.vit_batch, a.vit_steps, torch::Device(a.device)));
  }
  fs::remove_all(tmp);
  return 0;
}
