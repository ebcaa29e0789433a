#include "harness/run/imagenet_r_split.h"

#include <filesystem>
#include <system_error>

#include <torch/torch.h>

#include "datasets/readers/image_list.h"
#include "datasets/readers/imagenet_r.h"
#include "harness/foundation/error.h"

namespace clbench {

namespace fs = std::filesystem;

std::vector<int64_t> random_split_permutation(int64_t n, int64_t seed) {
  auto generator = at::detail::createCPUGenerator(static_cast<uint64_t>(seed));
  const auto perm = torch::randperm(n, generator, torch::kLong);
  return {perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + n};
}

ArchiveSplit split_imagenet_r_archive(const std::string& archive, const std::string& out,
                                      int64_t seed) {
  const auto classes = list_detail::class_folders(archive);
  for (const auto& wnid : classes) {
    if (!is_wnid(wnid)) {
      throw Error(archive + ": class folder '" + wnid +
                  "' is not a WordNet id (expected the official archive: 200 folders such as "
                  "n01443537)");
    }
  }
  const auto images = list_detail::image_folder(archive, classes);  // ImageFolder's order
  const auto n = static_cast<int64_t>(images.size());
  for (const char* split : {"train", "test"}) {
    std::error_code ec;
    if (fs::exists(fs::path(out) / split, ec)) {
      throw Error((fs::path(out) / split).string() +
                  " exists already: remove it, or choose another --split-into");
    }
  }
  const auto train_size = static_cast<int64_t>(0.8 * static_cast<double>(n));  // int(0.8 * N)
  const auto perm = random_split_permutation(n, seed);
  ArchiveSplit counts;
  for (int64_t k = 0; k < n; ++k) {
    const auto& image = images[static_cast<size_t>(perm[static_cast<size_t>(k)])];
    const bool train = k < train_size;
    const fs::path class_dir = fs::path(archive) / classes[static_cast<size_t>(image.label)];
    const fs::path target = fs::path(out) / (train ? "train" : "test") /
                            classes[static_cast<size_t>(image.label)] /
                            fs::path(image.path).lexically_relative(class_dir);
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (!ec) fs::create_hard_link(image.path, target, ec);
    if (ec) {
      ec.clear();
      fs::copy_file(image.path, target, ec);
    }
    if (ec) throw Error("cannot write " + target.string() + ": " + ec.message());
    ++(train ? counts.train : counts.test);
  }
  return counts;
}

}  // namespace clbench
