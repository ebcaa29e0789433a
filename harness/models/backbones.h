#pragma once
// The backbone registry: name -> factory, like the method and benchmark registries. Each backbone
// registers itself from its own file; `kind` groups the presets of one architecture (methods
// declare the kinds they work on), and `tiny` marks the CPU-sized preset of a kind that tests use.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "harness/models/backbone.h"

namespace clbench {

struct BackboneEntry {
  std::string name, kind, description;
  bool tiny = false;
  // input shape {C, H, W} of the stream -> a fresh, randomly initialised backbone
  std::function<std::shared_ptr<BackboneImpl>(const std::vector<int64_t>& input_shape)> make;
  // Batch norm: a training forward depends on the batch, so the numbers depend on the shard
  // size (grad_shards), not on the number of ranks (harness/models/batch_norm.h).
  bool batch_norm = false;
};

// `file`: the registering file, named if another registers the same name.
bool register_backbone(BackboneEntry entry, const char* file = __builtin_FILE());
const std::vector<BackboneEntry>& backbones();
std::vector<std::string> backbone_names();
const BackboneEntry& find_backbone(const std::string& name);  // error lists the valid names

Classifier make_classifier(const std::string& backbone, const std::vector<int64_t>& input_shape,
                           int64_t num_classes);

}  // namespace clbench
