#include "harness/engine/checkpoint.h"

#include <filesystem>
#include <fstream>
#include <iterator>

#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/foundation/files.h"
#include "methods/method.h"

namespace clbench {
namespace {

constexpr int64_t kFormat = 2;  // of the checkpoint file; another one is refused

std::string to_bytes(torch::serialize::OutputArchive& archive) {
  std::string bytes;
  archive.save_to([&](const void* data, size_t size) {
    bytes.append(static_cast<const char*>(data), size);
    return size;
  });
  return bytes;
}

void from_bytes(torch::serialize::InputArchive& archive, const std::string& bytes,
                const torch::Device& device) {
  archive.load_from(bytes.data(), bytes.size(), device);
}

// A blob of bytes as a tensor of the checkpoint archive (no copy while writing).
void write_blob(torch::serialize::OutputArchive& a, const std::string& key,
                const std::string& bytes) {
  auto t = torch::from_blob(const_cast<char*>(bytes.data()), {static_cast<int64_t>(bytes.size())},
                            torch::kUInt8);
  a.write(key, t, /*is_buffer=*/true);
}

std::string read_blob(torch::serialize::InputArchive& a, const std::string& key) {
  torch::Tensor t;
  if (!a.try_read(key, t, /*is_buffer=*/true)) return {};
  t = t.contiguous();
  return std::string(static_cast<const char*>(t.data_ptr()), static_cast<size_t>(t.numel()));
}

std::string optimizer_bytes(const torch::optim::Optimizer& optimizer) {
  torch::serialize::OutputArchive a;
  optimizer.save(a);
  return to_bytes(a);
}

void restore_optimizer_from(const std::string& bytes, torch::optim::Optimizer& optimizer,
                            const torch::Device& device) {
  torch::serialize::InputArchive a;
  from_bytes(a, bytes, device);
  optimizer.load(a);
}

}  // namespace

std::string capture_state(torch::nn::Module& model, Method& method) {
  torch::serialize::OutputArchive a;
  StateSaver saver(a);
  saver("model", model);
  method.state(saver);
  return to_bytes(a);
}

void restore_state(const std::string& snapshot, torch::nn::Module& model, Method& method,
                   const torch::Device& device) {
  torch::serialize::InputArchive a;
  from_bytes(a, snapshot, torch::kCPU);
  StateLoader loader(a, device);
  loader("model", model);
  method.state(loader);
  method.after_load();
}

void write_checkpoint(const std::string& path, const CheckpointContent& c) {
  torch::serialize::OutputArchive archive, trainer;
  archive.write("format", c10::IValue(kFormat));
  archive.write("config", c10::IValue(c.config_json));
  StateSaver saver(trainer);
  auto state = *c.state;
  state.state(saver);
  archive.write("trainer", trainer);
  if (c.task_start != nullptr) write_blob(archive, "task_start", *c.task_start);
  if (c.current != nullptr) write_blob(archive, "current", *c.current);
  std::string optimizer, fit_params, fit_optimizer;
  if (c.optimizer != nullptr) {
    optimizer = optimizer_bytes(*c.optimizer);
    write_blob(archive, "optimizer", optimizer);
  }
  if (c.fit != nullptr) {
    torch::serialize::OutputArchive params;
    StateSaver params_saver(params);
    auto values = c.fit->params;
    params_saver("params", values);
    fit_params = to_bytes(params);
    fit_optimizer = optimizer_bytes(*c.fit->optimizer);
    archive.write("fit.name", c10::IValue(c.fit->name));
    archive.write("fit.next_step", c10::IValue(c.fit->next_step));
    write_blob(archive, "fit.params", fit_params);
    write_blob(archive, "fit.optimizer", fit_optimizer);
  }
  if (c.scaler != nullptr && c.scaler->enabled()) {
    archive.write("scaler.scale", c10::IValue(c.scaler->current_scale()));
    archive.write("scaler.growth", c10::IValue(c.scaler->growth_tracker()));
  }
  // Serialised in memory first: LibTorch's own file writer can throw from its destructor when the
  // disk fills, which ends the process; FileWriter reports the failure instead.
  write_bytes_atomically(path, to_bytes(archive));
}

std::optional<std::string> Checkpoint::read_bytes(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) throw Error("cannot read the checkpoint " + path);
  return bytes;
}

std::optional<Checkpoint> Checkpoint::load(const std::string& path, const torch::Device& device) {
  const auto bytes = read_bytes(path);
  if (!bytes) return std::nullopt;
  return parse(*bytes, path, device);
}

Checkpoint Checkpoint::parse(const std::string& bytes, const std::string& path,
                             const torch::Device& device) {
  Checkpoint c;
  c.path_ = path;
  c.device_ = device;
  torch::serialize::InputArchive archive;
  int64_t format = 0;
  try {
    archive.load_from(bytes.data(), bytes.size(), torch::kCPU);
    c10::IValue v;
    if (archive.try_read("format", v)) format = v.toInt();
  } catch (const std::exception& e) {
    throw Error("damaged checkpoint " + path + " (delete it to start over): " + e.what());
  }
  if (format != kFormat) {
    throw Error("checkpoint " + path + " was written by another version of clbench (format " +
                std::to_string(format) + ", this one reads " + std::to_string(kFormat) +
                "); delete it to start over");
  }
  try {
    c10::IValue v;
    archive.read("config", v);
    c.config_json = v.toStringRef();
    torch::serialize::InputArchive trainer;
    archive.read("trainer", trainer);
    StateLoader loader(trainer, torch::kCPU);
    c.state.state(loader);
    c.task_start = read_blob(archive, "task_start");
    c.current = read_blob(archive, "current");
    c.optimizer_ = read_blob(archive, "optimizer");
    c.fit_params_ = read_blob(archive, "fit.params");
    c.fit_optimizer_ = read_blob(archive, "fit.optimizer");
    if (archive.try_read("fit.name", v)) c.fit_name_ = v.toStringRef();
    if (archive.try_read("fit.next_step", v)) c.fit_next_step_ = v.toInt();
    c10::IValue growth;
    if (archive.try_read("scaler.scale", v) && archive.try_read("scaler.growth", growth))
      c.scaler = std::make_pair(v.toDouble(), growth.toInt());
  } catch (const std::exception& e) {
    throw Error("damaged checkpoint " + path + " (delete it to start over): " + e.what());
  }
  if (c.task_start.empty()) {
    throw Error("damaged checkpoint " + path + " (delete it to start over): no task-start state");
  }
  return c;
}

void Checkpoint::restore_optimizer(torch::optim::Optimizer& optimizer) const {
  if (!optimizer_.empty()) restore_optimizer_from(optimizer_, optimizer, device_);
}

std::optional<FitCheckpoint> Checkpoint::fit() const {
  if (state.fit < 0 || fit_params_.empty()) return std::nullopt;
  FitCheckpoint f;
  f.index = state.fit;
  f.name = fit_name_;
  f.next_step = fit_next_step_;
  torch::serialize::InputArchive a;
  from_bytes(a, fit_params_, torch::kCPU);
  StateLoader loader(a, device_);
  loader("params", f.params);
  const std::string bytes = fit_optimizer_;
  const torch::Device device = device_;
  f.restore_optimizer = [bytes, device](torch::optim::Optimizer& o) {
    restore_optimizer_from(bytes, o, device);
  };
  return f;
}

}  // namespace clbench
