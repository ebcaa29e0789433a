#include "harness/run.h"

#include <filesystem>
#include <optional>

#include <torch/torch.h>

#include "datasets/benchmarks.h"
#include "harness/checkpoint.h"
#include "harness/comm.h"
#include "harness/error.h"
#include "harness/models.h"
#include "harness/progress.h"
#include "harness/safetensors.h"
#include "harness/trainer.h"
#include "methods/method.h"

namespace clbench {

std::vector<OptionSpec> common_specs() {
  return {
      {"benchmark", "split-fmnist", "task stream (clbench list)"},
      {"method", "finetune", "continual-learning method (clbench list)"},
      {"name", "", "result label (default: the method name), e.g. er-200"},
      {"out", "results", "result folder: <out>/<benchmark>/<label>/seed-<seed>.h5"},
      {"backbone", "mlp", "feature extractor", backbone_names()},
      {"pretrained", "",
       "safetensors file of backbone weights (timm names for ViTs; clbench pretrain)"},
      {"scenario", "class-il", "training/evaluation protocol", {"class-il", "task-il"}},
      {"seed", 0, "seed of initialisation, data order and method randomness"},
      {"class_order",
       "auto",
       "identity | pycil (numpy permutation) | coda (CPython shuffle); "
       "auto: pycil when class_order_seed >= 0, else identity",
       {"auto", "identity", "pycil", "coda"}},
      {"class_order_seed", -1, "seed of the class order (-1: identity order)"},
      {"data_root", "", "dataset folder (default: the benchmark's)"},
      {"epochs", 1, "epochs per task"},
      {"batch_size", 128, "global batch size (split over ranks)"},
      {"eval_batch_size", 1024, "evaluation batch size"},
      {"optimizer", "sgd", "optimizer, re-created at every task", {"sgd", "adam"}},
      {"lr", 0.01, "learning rate"},
      {"momentum", 0.0, "SGD momentum"},
      {"weight_decay", 0.0, "L2 weight decay"},
      {"threads", 0, "intra-op CPU threads (0: LibTorch's default)"},
      {"loader_threads", 2,
       "threads decoding and augmenting each batch of an image benchmark; > 0 also loads the "
       "next training batch while one trains (0: everything on the training thread)"},
      {"grad_shards", 0,
       "cut every global batch into this many parts, a multiple of the rank count (0: one per "
       "rank). Runs with the same value give bit-identical numbers on 1 or 2 ranks"},
      {"device",
       "auto",
       "cpu | cuda (rank r uses GPU local_rank) | auto (cuda when available)",
       {"auto", "cpu", "cuda"}},
      {"tf32", false,
       "GPU matrix products in TF32 (2.7x faster ViT-B/16 steps on an H100, 10-bit mantissa); "
       "false: FP32, PyTorch's default and the papers'"},
  };
}

namespace {

std::string user_string(const nlohmann::json& user, const std::string& key,
                        const std::string& fallback) {
  if (!user.contains(key)) return fallback;
  if (!user[key].is_string())
    throw Error("bad value " + user[key].dump() + " for key '" + key + "'");
  return user[key].get<std::string>();
}

// Layers benchmark and method defaults for common keys over the built-in ones.
std::vector<OptionSpec> layered_specs(const BenchmarkEntry& bench, const MethodEntry& method) {
  auto specs = common_specs();
  for (const auto* defaults : {&bench.defaults, &method.defaults}) {
    for (auto& spec : specs) {
      if (defaults->contains(spec.key))
        spec.default_value = checked_value(spec, (*defaults)[spec.key]);
    }
  }
  specs.insert(specs.end(), bench.keys.begin(), bench.keys.end());
  specs.insert(specs.end(), method.keys.begin(), method.keys.end());
  return specs;
}

}  // namespace

RunPlan plan_run(const nlohmann::json& user) {
  RunPlan plan;
  const auto& bench = find_benchmark(user_string(user, "benchmark", "split-fmnist"));
  const auto& method = find_method(user_string(user, "method", "finetune"));
  plan.config = Config::resolve(layered_specs(bench, method), user,
                                "method '" + method.name + "' on benchmark '" + bench.name + "'");
  plan.benchmark = bench.name;
  plan.method = method.name;
  plan.label = plan.config.str("name").empty() ? method.name : plan.config.str("name");
  plan.config.set("name", plan.label);
  plan.seed = plan.config.integer("seed");
  if (plan.label.find('/') != std::string::npos || plan.label == "." || plan.label == "..") {
    throw Error("bad value '" + plan.label + "' for key 'name': a label cannot contain '/'");
  }
  for (const char* key : {"epochs", "batch_size", "eval_batch_size"}) {
    if (plan.config.integer(key) < 1) {
      throw Error("bad value " + plan.config.at(key).dump() + " for key '" + key +
                  "': must be >= 1");
    }
  }
  if (plan.config.num("lr") <= 0) {
    throw Error("bad value " + plan.config.at("lr").dump() + " for key 'lr': must be > 0");
  }
  plan.result_path = (std::filesystem::path(plan.config.str("out")) / plan.benchmark / plan.label /
                      ("seed-" + std::to_string(plan.seed) + ".h5"))
                         .string();
  return plan;
}

std::string checkpoint_path(const RunPlan& plan) {
  return std::filesystem::path(plan.result_path).replace_extension(".ckpt").string();
}

namespace {

torch::Device pick_device(const Config& cfg, const Communicator& comm) {
  const std::string want = cfg.str("device");
  const bool cuda = want == "cuda" || (want == "auto" && torch::cuda::is_available());
  if (!cuda) return torch::kCPU;
  const int gpus = static_cast<int>(torch::cuda::device_count());
  if (gpus == 0) throw Error("device 'cuda' requested but no CUDA device is visible");
  if (comm.local_size() > gpus) {
    throw Error(std::to_string(comm.local_size()) + " ranks on this node but only " +
                std::to_string(gpus) + " GPUs: start one rank per GPU (--ntasks-per-node = GPUs)");
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(comm.local_rank()));
}

// Keys that may differ between a checkpoint and its resume without changing any number.
bool affects_results(const std::string& key) {
  return key != "threads" && key != "device";
}

void check_same_config(const std::string& path, const std::string& stored_json, const Config& now) {
  const auto stored = nlohmann::json::parse(stored_json);
  std::string diff;
  for (const auto& [key, value] : now.values().items()) {
    if (affects_results(key) && (!stored.contains(key) || stored[key] != value)) {
      diff += "\n  " + key + ": checkpoint " +
              (stored.contains(key) ? stored[key].dump() : "(absent)") + ", now " + value.dump();
    }
  }
  if (!diff.empty()) {
    throw Error("cannot resume from " + path + ": the configuration differs" + diff +
                "\n(use the same settings, or --force to start over)");
  }
}

}  // namespace

std::unique_ptr<Session> build_session(const RunPlan& plan, Communicator& comm) {
  const Config& cfg = plan.config;
  if (cfg.integer("threads") > 0) torch::set_num_threads(static_cast<int>(cfg.integer("threads")));
  auto session = std::make_unique<Session>();
  Session& s = *session;
  const torch::Device device = pick_device(cfg, comm);
  at::globalContext().setAllowTF32CuBLAS(cfg.flag("tf32"));  // cuDNN keeps PyTorch's default
  s.stream = find_benchmark(plan.benchmark).make(cfg);

  const int world = comm.size();
  const int shard_count =
      cfg.integer("grad_shards") > 0 ? static_cast<int>(cfg.integer("grad_shards")) : world;
  if (shard_count % world != 0) {
    throw Error("bad value " + std::to_string(shard_count) +
                " for key 'grad_shards': must be a multiple of the " + std::to_string(world) +
                " ranks");
  }
  std::vector<int> my_shards;
  for (int k = 0; k < shard_count / world; ++k)
    my_shards.push_back(comm.rank() * (shard_count / world) + k);

  torch::manual_seed(static_cast<uint64_t>(plan.seed));
  const std::string backbone = cfg.str("backbone");
  const auto input_shape = s.stream.input_shape();
  const int64_t classes = s.stream.num_classes();
  auto make_model = [backbone, input_shape, classes, device]() {
    auto m = make_classifier(backbone, input_shape, classes);
    m->to(device);
    return m;
  };
  MethodContext ctx;
  ctx.model = s.model = make_model();
  if (!cfg.str("pretrained").empty())
    load_backbone_weights(*s.model->backbone, cfg.str("pretrained"));
  ctx.make_model = make_model;
  ctx.comm = &comm;
  ctx.stream = &s.stream;
  ctx.device = device;
  ctx.seed = plan.seed;
  ctx.batch_size = cfg.integer("batch_size");
  ctx.shard_count = shard_count;
  ctx.shards = my_shards;
  ctx.task_il = cfg.str("scenario") == "task-il";
  s.method = find_method(plan.method).make(cfg);
  s.method->attach(ctx);
  {  // Every rank starts from rank 0's weights.
    auto state = s.model->parameters();
    for (const auto& b : s.model->buffers()) state.push_back(b);
    torch::NoGradGuard no_grad;
    comm.broadcast(state, 0);
  }

  TrainerOptions& topt = s.trainer;
  topt.epochs = cfg.integer("epochs");
  topt.batch_size = cfg.integer("batch_size");
  topt.eval_batch_size = cfg.integer("eval_batch_size");
  topt.optimizer = cfg.str("optimizer");
  topt.lr = cfg.num("lr");
  topt.momentum = cfg.num("momentum");
  topt.weight_decay = cfg.num("weight_decay");
  topt.seed = plan.seed;
  topt.device = device;
  topt.shard_count = shard_count;
  topt.shards = my_shards;
  topt.prefetch = cfg.integer("loader_threads") > 0;
  return session;
}

RunResult execute(const RunPlan& plan, Communicator& comm, Progress& progress,
                  const RunOptions& options) {
  const Config& cfg = plan.config;
  auto session = build_session(plan, comm);
  const TaskStream& stream = session->stream;
  Method& method = *session->method;
  Classifier model = session->model;

  const std::string ckpt_path = checkpoint_path(plan);
  std::optional<Checkpoint> checkpoint;
  if (options.resume) checkpoint = Checkpoint::load(ckpt_path, session->trainer.device);
  TrainerState start;
  TrainerControl control;
  if (checkpoint) {
    check_same_config(ckpt_path, checkpoint->config_json, cfg);
    checkpoint->restore_model(*model);
    start = checkpoint->state;
    control.restore_method = [&](Method& m) { checkpoint->restore_method(m); };
    control.restore_optimizer = [&](torch::optim::Optimizer& o) {
      checkpoint->restore_optimizer(o);
    };
    progress.note("resuming from " + ckpt_path + " at task " + std::to_string(start.task + 1) +
                  ", epoch " + std::to_string(start.epoch + 1) + ", step " +
                  std::to_string(start.step));
  } else if (options.resume) {
    progress.note("no checkpoint at " + ckpt_path + "; starting from the beginning");
  }
  const std::string config_json = cfg.values().dump();
  control.checkpoint_every = options.checkpoint_every;
  control.stop_requested = options.stop_requested;
  control.save = [&](const TrainerState& state, const torch::optim::Optimizer* opt) {
    if (comm.is_root()) save_checkpoint(ckpt_path, state, config_json, *model, opt, method);
    comm.barrier();
  };

  progress.start_run(plan.method + " on " + plan.benchmark + " (" + cfg.str("scenario") + ", " +
                     std::to_string(stream.num_tasks()) + " tasks, backbone " +
                     cfg.str("backbone") + ", seed " + std::to_string(plan.seed) + ")");
  StreamRecord rec = train_stream(stream, method, comm, session->trainer, progress, start, control);

  RunResult r;
  r.method = plan.method;
  r.benchmark = plan.benchmark;
  r.label = plan.label;
  r.scenario = cfg.str("scenario");
  r.seed = plan.seed;
  r.class_order_seed = cfg.integer("class_order_seed");
  r.class_order_algorithm = class_order_algorithm(cfg);
  r.config_json = config_json;
  r.clbench_version = CLBENCH_VERSION;
  r.world_size = comm.size();
  r.acc_class_il = rec.class_il;
  r.acc_task_il = rec.task_il;
  r.init_class_il = rec.init_class_il;
  r.init_task_il = rec.init_task_il;
  r.class_order = stream.class_order;
  for (const auto& t : stream.tasks) {
    r.task_classes.push_back(t.classes);
    r.train_counts.push_back(static_cast<int64_t>(t.train.size()));
    r.test_counts.push_back(static_cast<int64_t>(t.test.size()));
  }
  r.task_seconds = rec.task_seconds;
  r.trainable_params = rec.trainable_params;
  r.stored_params = rec.stored_params;
  r.total_params = count_parameters(model->parameters());
  return r;
}

}  // namespace clbench
