// Fine-tuning: plain cross-entropy on each task in turn; the lower bound every method must beat.
#include "methods/method.h"

namespace clbench {
namespace {

class Finetune : public Method {
 public:
  explicit Finetune(NoOptions) {}
};

const bool registered_finetune = register_method(
    method_entry<Finetune>("finetune",
                           "lower bound: train every parameter on each task in turn, no protection")
        .runs_on_shared_classes());

}  // namespace
}  // namespace clbench
