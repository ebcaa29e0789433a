#include "methods/frozen_vit.h"

#include "harness/foundation/error.h"

namespace clbench {

MethodRequirements frozen_vit_requirements() {
  MethodRequirements r;
  r.backbone_kinds = {"vit"};
  r.pretrained_backbone = true;
  return r;
}

std::shared_ptr<VitImpl> frozen_vit(const Classifier& model, const std::string& does) {
  auto vit = std::dynamic_pointer_cast<VitImpl>(model->backbone);
  if (!vit) {
    throw Error("this method " + does +
                " a Vision Transformer: choose a ViT backbone (--backbone vit-tiny28, "
                "vit-small28, vit-b16, ...)");
  }
  for (auto& p : vit->parameters()) p.requires_grad_(false);
  return vit;
}

}  // namespace clbench
