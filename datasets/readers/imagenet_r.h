#pragma once
// ImageNet-R (Hendrycks et al., imagenet-r.tar: 200 WordNet-id folders;
// github.com/hendrycks/imagenet-r): the CODA-Prompt split lists and the pre-split train/test
// folders.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "datasets/readers/image_list.h"

namespace clbench {

inline constexpr int64_t kImagenetRClasses = 200;
inline constexpr int64_t kImagenetRTrain = 24000;  // CODA-Prompt split
inline constexpr int64_t kImagenetRTest = 6000;

// "n" and 8 digits: a WordNet id, ImageNet-R's class folder names.
bool is_wnid(const std::string& s);

// CODA-Prompt split YAML (dataloaders/splits/*.yaml, written by PyYAML): a top-level mapping
// whose values are lists of scalars. Plain or gzip-compressed. Returns the lists named in `keys`
// (each must be present, a list of non-null scalars, all of one length); other keys are skipped.
// Errors name the file and the 1-based line.
struct YamlScalar {
  std::string value;
  size_t line;  // 1-based
};
using YamlLists = std::map<std::string, std::vector<YamlScalar>>;
YamlLists read_split_yaml(const std::string& path, const std::vector<std::string>& keys);

struct ImagenetRYamlOptions {
  // Removed from every `data:` path; the rest is relative to the data root (the folder that
  // holds the WordNet-id folders). Entries not starting with it are errors.
  std::string strip_prefix = "data/imagenet-r/";
  bool check_files = false;   // every image must exist under the data root
  bool check_counts = false;  // 24000 / 6000 entries and all 200 labels
};

// CODA-Prompt dataloaders/splits/imagenet-r_{train,test}.yaml (`data:` paths, `targets:` ints;
// InfLoRA ships the same files). Labels come from the lists (0..199); each WordNet id (the folder
// holding the file) must have one label, each label one WordNet id, and no path may repeat.
// class_names[label] = WordNet id.
SplitRecords read_imagenet_r_coda(const std::string& train_yaml, const std::string& test_yaml,
                                  const std::string& data_root,
                                  const ImagenetRYamlOptions& options = {});

// Pre-split <root>/{train,test}/<wnid>/*.jpg (PILOT/SD-LoRA iImageNetR, InfLoRA/dualprompt
// after their first run): label = index of the WordNet id in sorted order; train and test must
// hold the same WordNet ids. check_counts demands 200 of them.
SplitRecords read_imagenet_r_folders(const std::string& root, bool check_counts = false);

// ImageNet-A (Hendrycks et al., 200 WordNet-id classes) as PILOT, SD-LoRA and APER read it
// (LAMDA-PILOT@2647455:utils/data.py:238-256 iImageNetA): the pre-split archive their READMEs
// link, imagenet-a/{train,test}/<wnid>/<file>, read with ImageFolder (label = index of the
// WordNet id in sorted order, torchvision's image extensions). `data_root` is the imagenet-a/
// folder (holding train/ and test/) or the folder above it. Exactly 200 WordNet-id class folders,
// the same in train/ and test/; otherwise an Error naming the folder.
inline constexpr int64_t kImagenetAClasses = 200;
std::string imagenet_a_root(const std::string& data_root);
SplitRecords read_imagenet_a_folders(const std::string& data_root);

}  // namespace clbench
