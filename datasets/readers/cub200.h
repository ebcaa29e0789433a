#pragma once
// CUB-200-2011 (Wah et al., CUB_200_2011.tgz, Caltech tech report CNS-TR-2011-001), two layouts:
// the official lists and the pre-split ImageFolder tree of PILOT/InfLoRA/dualprompt-pytorch.
#include <cstdint>
#include <string>

#include "datasets/readers/image_list.h"

namespace clbench {

inline constexpr int64_t kCub200Classes = 200;
inline constexpr int64_t kCub200Images = 11788;
inline constexpr int64_t kCub200Train = 5994;
inline constexpr int64_t kCub200Test = 5794;

struct CubOptions {
  bool check_files = false;   // every image must exist under <root>/images/
  bool check_counts = false;  // 200 classes, 11788 images, 5994 train / 5794 test
};

// Official split of <root> = CUB_200_2011/: images.txt, image_class_labels.txt,
// train_test_split.txt and classes.txt ("<id> <value>" lines, 1-based ids). Label = class_id-1,
// path = <root>/images/<relpath>, samples in image-id order, class_names from classes.txt.
// Malformed lines, unknown or duplicate ids, class ids outside classes.txt (at most 1..200) and
// an image missing from a list throw clbench::Error naming the file and 1-based line.
SplitRecords read_cub200_official(const std::string& root, const CubOptions& options = {});

// Pre-split <root>/{train,test}/<NNN.Name>/*.jpg: label = index of the folder in sorted order.
SplitRecords read_cub200_folders(const std::string& root, bool check_counts = false);

}  // namespace clbench
