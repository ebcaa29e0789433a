#pragma once
// A dataset trained on its evaluation view: augmented() returns images(), the rest is the wrapped
// dataset's. For protocols that train on the test transform, without random crops or flips (CLR's
// Resize((224, 224)) for training and testing, GEM's raw CIFAR pixels).
#include <memory>

#include "datasets/dataset.h"

namespace clbench {

std::shared_ptr<const Dataset> without_augmentation(std::shared_ptr<const Dataset> dataset);

}  // namespace clbench
