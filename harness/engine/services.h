#pragma once
// The harness side of methods/services.h: loading, sums over samples, gradients on given samples
// and auxiliary fits, each cut into the run's fixed gradient shards (this rank computes its own)
// and reduced over ranks. The trainer tells it where the run stands, so that a fit inside
// begin_task or end_task checkpoints and resumes like the main loop.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "datasets/task_stream.h"
#include "harness/engine/step_loop.h"
#include "harness/models/backbone.h"
#include "methods/run_context.h"
#include "methods/services.h"

namespace torch::optim {
class Optimizer;
}

namespace clbench {

class Communicator;

// The progress of one fit, as a checkpoint stores it.
struct FitCheckpoint {
  int index = -1;  // the fit's number within its stage (begin_task or end_task), from 0
  std::string name;
  int64_t next_step = 0;
  std::vector<torch::Tensor> params;  // saving: the live parameters; loading: their values
  const torch::optim::Optimizer* optimizer = nullptr;               // saving
  std::function<void(torch::optim::Optimizer&)> restore_optimizer;  // loading
};

class EngineServices : public MethodServices {
 public:
  // `control`: the run's reduction settings, used outside the trainer's stages (tests).
  EngineServices(Communicator& comm, const TaskStream& stream, Classifier model,
                 std::shared_ptr<const RunContext> run, const StepControl& control);

  Batch load(const std::vector<int64_t>& samples, int shard,
             std::optional<uint64_t> augment_seed) override;
  std::vector<torch::Tensor> sum_over_samples(const std::vector<int64_t>& samples,
                                              const SampleSum& fn, int64_t batch_size = 0,
                                              SampleSet set = SampleSet::kTrain) override;
  std::vector<torch::Tensor> step_sum_over_samples(const std::vector<int64_t>& samples,
                                                   const SampleSum& fn) override;
  torch::Tensor sample_rows(const std::vector<int64_t>& samples, int64_t dim,
                            const std::function<torch::Tensor(const Batch&)>& fn) override;
  std::vector<torch::Tensor> gradients(const std::vector<int64_t>& samples, const LossFn& loss,
                                       const std::vector<torch::Tensor>& params) override;
  GlobalRows gather(const std::vector<ShardRows>& mine, int64_t global_size) override;
  void fit(const FitSpec& spec) override;
  // This rank's shards of the global batch `global`, in order: the one loading path of training
  // steps, fits and gradients.
  std::vector<Batch> load_shards(const std::vector<int64_t>& global,
                                 std::optional<uint64_t> augment_seed);
  // This rank's shards of a global list of row ids (FitSpec::images false): ids only.
  std::vector<Batch> row_shards(const std::vector<int64_t>& global) const;

  // Called by the trainer before begin_task and before end_task: the stage's fits are numbered
  // from 0; the one `resume` names continues from its checkpoint; `save` (if set) writes a
  // checkpoint inside a fit; `control` is the run's stop signal and checkpoint interval.
  void enter_stage(int task, int stage, std::optional<FitCheckpoint> resume,
                   std::function<void(const FitCheckpoint&)> save, StepControl* control);

 private:
  std::vector<torch::Tensor> sums(const std::vector<int64_t>& samples, const SampleSum& fn,
                                  int64_t batch_size, SampleSet set, bool stoppable);
  // `part` of `data` as one batch on the run's device, not augmented.
  Batch unaugmented(const Dataset& data, const std::vector<int64_t>& part) const;
  // each(j, batch) for every batch (at most `chunk` samples of `data`, unaugmented) of this rank's
  // j-th shard of `samples`; every rank polls the stop signal as often (once per batch of the
  // largest shard) when `stoppable`.
  void for_each_batch(const std::vector<int64_t>& samples, const Dataset& data, int64_t chunk,
                      bool stoppable, const std::function<void(size_t, const Batch&)>& each);
  Communicator& comm_;
  const TaskStream& stream_;
  Classifier model_;
  std::shared_ptr<const RunContext> run_;
  int task_ = 0, stage_ = 0, fits_ = 0;
  std::optional<FitCheckpoint> resume_;
  std::function<void(const FitCheckpoint&)> save_;
  StepControl own_control_;
  StepControl* control_ = &own_control_;
};

}  // namespace clbench
