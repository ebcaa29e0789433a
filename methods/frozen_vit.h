#pragma once
// What the methods that learn on a frozen pretrained ViT (the adapter methods, the prompt
// methods) share: their requirements and the frozen backbone.
#include <memory>
#include <string>

#include "harness/models/vit.h"
#include "methods/method.h"

namespace clbench {

// A ViT backbone with pretrained weights (checked before any data is read).
MethodRequirements frozen_vit_requirements();

// The model's ViT with every parameter frozen; an Error saying what the method does with one
// (`does`, e.g. "adapts") if the backbone is another.
std::shared_ptr<VitImpl> frozen_vit(const Classifier& model, const std::string& does);

}  // namespace clbench
