#include "harness/run/session.h"

#include <torch/torch.h>

#include "datasets/benchmarks/registry.h"
#include "harness/distributed/communicator.h"
#include "harness/distributed/cuda_library.h"
#include "harness/engine/precision.h"
#include "harness/engine/progress.h"
#include "harness/foundation/error.h"
#include "harness/foundation/options.h"
#include "harness/foundation/text.h"
#include "harness/models/backbones.h"
#include "harness/models/weights.h"
#include "harness/run/cpu_kernels.h"
#include "harness/run/rank_agreement.h"

namespace clbench {
namespace {

torch::Device pick_device(const Config& cfg, const Communicator& comm) {
  const std::string want = cfg.str("device");
  const bool cuda = want == "cuda" || (want == "auto" && cuda_available());
  if (!cuda) return torch::kCPU;
  const int gpus = static_cast<int>(torch::cuda::device_count());
  if (gpus == 0)
    throw Error("device 'cuda' requested but no CUDA device is visible" + cuda_absence_note());
  if (comm.local_size() > gpus) {
    throw Error(std::to_string(comm.local_size()) + " ranks on this node but only " +
                std::to_string(gpus) + " GPUs: start one rank per GPU (--ntasks-per-node = GPUs)");
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(comm.local_rank()));
}

// The fixed gradient shards: how many per global batch, and which this rank computes.
std::pair<int, std::vector<int>> gradient_shards(const Config& cfg, const Communicator& comm) {
  const int world = comm.size();
  const int count =
      cfg.integer("grad_shards") > 0 ? static_cast<int>(cfg.integer("grad_shards")) : world;
  if (count % world != 0) {
    throw Error("bad value " + std::to_string(count) +
                " for key 'grad_shards': must be a multiple of the " + std::to_string(world) +
                " ranks");
  }
  std::vector<int> mine;
  for (int k = 0; k < count / world; ++k) mine.push_back(comm.rank() * (count / world) + k);
  return {count, mine};
}

// A replay memory the stream cannot fill, or one leaving classes without a sample, is refused
// (MethodRequirements::memory_key) before anything is allocated or trained.
void check_memory_size(const MethodRequirements& r, const Config& cfg, const TaskStream& stream) {
  if (r.memory_key.empty()) return;
  const int64_t size = cfg.integer(r.memory_key);
  int64_t samples = 0;
  for (const auto& t : stream.tasks) samples += static_cast<int64_t>(t.train.size());
  const std::string value =
      "bad value " + std::to_string(size) + " for key '" + r.memory_key + "': ";
  if (size > samples) {
    throw Error(value + "more than the " + std::to_string(samples) + " training samples of " +
                stream.benchmark + "'s stream, so it could never fill (at most " +
                std::to_string(samples) + ")");
  }
  if (r.memory_per_class && size < stream.num_classes()) {
    throw Error(value + "fewer than the " + std::to_string(stream.num_classes()) + " classes of " +
                stream.benchmark + ", so some classes would keep no sample (at least " +
                std::to_string(stream.num_classes()) + ")");
  }
}

LrSchedule configured_schedule(const Config& cfg) {
  LrSchedule s;
  s.kind = cfg.str("lr_schedule");
  s.per_step = cfg.str("lr_schedule_per") == "step";
  s.warmup = cfg.integer("warmup_epochs");
  s.milestones = list_elements(integers(), {}, cfg.at("lr_milestones")).get<std::vector<int64_t>>();
  s.gamma = cfg.num("lr_gamma");
  return s;
}

RunContext run_context(const RunPlan& plan, const torch::Device& device, Communicator& comm) {
  const Config& cfg = plan.config;
  RunContext r;
  r.device = device;
  r.seed = plan.seed;
  r.epochs = cfg.integer("epochs");
  r.batch_size = cfg.integer("batch_size");
  r.eval_batch_size = cfg.integer("eval_batch_size");
  std::tie(r.shard_count, r.shards) = gradient_shards(cfg, comm);
  r.prefetch = cfg.integer("loader_threads") > 0;
  return r;
}

TrainerOptions trainer_options(const RunPlan& plan, std::shared_ptr<const RunContext> run) {
  const Config& cfg = plan.config;
  TrainerOptions t;
  t.run = std::move(run);
  t.optimizer = {cfg.str("optimizer"), cfg.num("lr"), cfg.num("momentum"), cfg.num("weight_decay")};
  t.schedule = configured_schedule(cfg);
  t.task_id_at_test = find_method(plan.method).requirements.task_id_at_test;
  t.evaluate_all_future = cfg.str("eval_future") == "all";
  return t;
}

StepControl step_control(const Config& cfg, const torch::Device& device) {
  StepControl c;
  const int64_t sync_every = cfg.integer("sync_every");
  c.sync_every = sync_every > 0 ? sync_every : device.is_cuda() ? 32 : 1;
  c.precision = precision_from_name(cfg.str("precision"));
  c.scaler = std::make_shared<GradScaler>(c.precision == Precision::kFp16);
  const std::string kernels = cfg.str("optimizer_kernels");
  c.fused_optimizers = kernels == "fused" || (kernels == "auto" && device.is_cuda());
  c.overlap_reduction = cfg.flag("overlap_reduction");
  c.shard_tree = cfg.integer("grad_shards") > 0;
  return c;
}

}  // namespace

std::unique_ptr<Session> build_session(const RunPlan& plan, Communicator& comm) {
  const Config& cfg = plan.config;
  apply_cpu_kernels(cfg.str("cpu_kernels"));
  torch::set_num_threads(resolve_threads(cfg.integer("threads")));
  auto session = std::make_unique<Session>();
  Session& s = *session;
  const torch::Device device = pick_device(cfg, comm);
  s.steps = step_control(cfg, device);
  apply_matmul_precision(s.steps.precision);
  s.stream = find_benchmark(plan.benchmark).make(cfg);
  s.data = digest_tasks(s.stream);
  require_ranks_agree(comm, cfg, s.data);
  check_memory_size(find_method(plan.method).requirements, cfg, s.stream);
  const auto run = std::make_shared<const RunContext>(run_context(plan, device, comm));
  s.trainer = trainer_options(plan, run);

  torch::manual_seed(static_cast<uint64_t>(plan.seed));
  const std::string backbone = cfg.str("backbone");
  const auto input_shape = s.stream.input_shape();
  const int64_t classes = s.stream.num_classes();
  auto make_model = [backbone, input_shape, classes, device]() {
    auto m = make_classifier(backbone, input_shape, classes);
    m->to(device);
    if (device.is_cuda()) use_channels_last(*m);
    return m;
  };
  s.model = make_model();
  if (!cfg.str("pretrained").empty())
    load_backbone_weights(*s.model->backbone, cfg.str("pretrained"));
  s.services = std::make_unique<EngineServices>(comm, s.stream, s.model, run, s.steps);
  MethodContext ctx;
  ctx.model = s.model;
  ctx.make_model = make_model;
  ctx.services = s.services.get();
  ctx.stream = &s.stream;
  ctx.run = run;
  ctx.task_il = cfg.str("scenario") == "task-il";
  s.method = find_method(plan.method).make(cfg);
  s.method->attach(ctx);
  {  // Every rank starts from rank 0's weights.
    auto state = s.model->parameters();
    for (const auto& b : s.model->buffers()) state.push_back(b);
    torch::NoGradGuard no_grad;
    comm.broadcast(state, 0);
  }
  return session;
}

StreamRecord train_session(Session& s, Communicator& comm, Progress& progress) {
  TrainerControl control;
  control.steps = s.steps;
  return train_stream(s.stream, *s.method, s.model, *s.services, comm, s.trainer, progress, nullptr,
                      control);
}

}  // namespace clbench
