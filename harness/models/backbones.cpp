#include "harness/models/backbones.h"

#include <torch/torch.h>

#include "harness/foundation/registry.h"

namespace clbench {

bool register_backbone(BackboneEntry entry, const char* file) {
  return Registry<BackboneEntry>::add(std::move(entry), file);
}
const std::vector<BackboneEntry>& backbones() {
  return Registry<BackboneEntry>::all();
}
std::vector<std::string> backbone_names() {
  return Registry<BackboneEntry>::names();
}
const BackboneEntry& find_backbone(const std::string& name) {
  return Registry<BackboneEntry>::find(name, "backbone");
}

Classifier make_classifier(const std::string& backbone, const std::vector<int64_t>& input_shape,
                           int64_t num_classes) {
  return Classifier(find_backbone(backbone).make(input_shape), num_classes);
}

}  // namespace clbench
