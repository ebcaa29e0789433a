#pragma once
// ImageNet-R's train/test split as the reference code makes it from the official archive
// (imagenet-r.tar: 200 WordNet-id folders, no split). InfLoRA (utils/data.py, iIMAGENET_R) and
// dualprompt-pytorch (continual_datasets.py, Imagenet_R) load the archive with ImageFolder, call
// torch.utils.data.random_split(dataset, [int(0.8 N), N - int(0.8 N)]) after
// torch.manual_seed(seed) (InfLoRA: 0, dualprompt-pytorch: 42) and move the files into
// train/<wnid>/ and test/<wnid>/; PILOT and SD-LoRA then read those folders.
#include <cstdint>
#include <string>
#include <vector>

namespace clbench {

// What random_split's permutation is: torch.randperm(n) of a CPU generator seeded `seed`.
std::vector<int64_t> random_split_permutation(int64_t n, int64_t seed);

struct ArchiveSplit {
  int64_t train = 0, test = 0;
};

// Writes `out`/train/<wnid>/... and `out`/test/<wnid>/... for the archive at `archive` (hard links
// to its files, copies where a link is impossible; the archive is left as it is). `out`/train and
// `out`/test must not exist yet. Errors name the folder.
ArchiveSplit split_imagenet_r_archive(const std::string& archive, const std::string& out,
                                      int64_t seed);

}  // namespace clbench
