#include "harness/checkpoint.h"

#include <unistd.h>

#include <filesystem>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "harness/error.h"
#include "methods/method.h"

namespace clbench {
namespace {

nlohmann::json to_json(const TrainerState& s) {
  const auto& r = s.record;
  return {{"task", s.task},
          {"epoch", s.epoch},
          {"step", s.step},
          {"task_elapsed", s.task_elapsed},
          {"evaluated_init", s.evaluated_init},
          {"class_il", r.class_il},
          {"task_il", r.task_il},
          {"init_class_il", r.init_class_il},
          {"init_task_il", r.init_task_il},
          {"task_seconds", r.task_seconds},
          {"trainable_params", r.trainable_params},
          {"stored_params", r.stored_params}};
}

TrainerState from_json(const nlohmann::json& j) {
  TrainerState s;
  s.task = j.at("task");
  s.epoch = j.at("epoch");
  s.step = j.at("step");
  s.task_elapsed = j.at("task_elapsed");
  s.evaluated_init = j.at("evaluated_init");
  auto& r = s.record;
  j.at("class_il").get_to(r.class_il);
  j.at("task_il").get_to(r.task_il);
  j.at("init_class_il").get_to(r.init_class_il);
  j.at("init_task_il").get_to(r.init_task_il);
  j.at("task_seconds").get_to(r.task_seconds);
  j.at("trainable_params").get_to(r.trainable_params);
  j.at("stored_params").get_to(r.stored_params);
  return s;
}

std::string read_string(torch::serialize::InputArchive& a, const std::string& key) {
  c10::IValue v;
  a.read(key, v);
  return v.toStringRef();
}

}  // namespace

void save_checkpoint(const std::string& path, const TrainerState& state,
                     const std::string& config_json, const torch::nn::Module& model,
                     const torch::optim::Optimizer* optimizer, const Method& method) {
  torch::serialize::OutputArchive archive;
  archive.write("state", c10::IValue(to_json(state).dump()));
  archive.write("config", c10::IValue(config_json));
  torch::serialize::OutputArchive model_archive, method_archive, optimizer_archive;
  model.save(model_archive);
  archive.write("model", model_archive);
  method.save(method_archive);
  archive.write("method", method_archive);
  if (optimizer != nullptr) {
    optimizer->save(optimizer_archive);
    archive.write("optimizer", optimizer_archive);
  }
  const auto parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  try {
    archive.save_to(tmp);
  } catch (const std::exception& e) {
    std::filesystem::remove(tmp, ec);
    throw Error("cannot write checkpoint " + path + ": " + e.what());
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw Error("cannot write checkpoint " + path + ": " + ec.message());
}

std::optional<Checkpoint> Checkpoint::load(const std::string& path, const torch::Device& device) {
  if (!std::filesystem::exists(path)) return std::nullopt;
  Checkpoint c;
  c.path_ = path;
  c.archive_ = std::make_shared<torch::serialize::InputArchive>();
  try {
    c.archive_->load_from(path, device);
    c.state = from_json(nlohmann::json::parse(read_string(*c.archive_, "state")));
    c.config_json = read_string(*c.archive_, "config");
  } catch (const std::exception& e) {
    throw Error("damaged checkpoint " + path + " (delete it to start over): " + e.what());
  }
  return c;
}

void Checkpoint::restore_model(torch::nn::Module& model) {
  torch::serialize::InputArchive a;
  archive_->read("model", a);
  model.load(a);
}

void Checkpoint::restore_method(Method& method) {
  torch::serialize::InputArchive a;
  archive_->read("method", a);
  method.load(a);
}

void Checkpoint::restore_optimizer(torch::optim::Optimizer& optimizer) {
  torch::serialize::InputArchive a;
  if (!archive_->try_read("optimizer", a)) return;
  optimizer.load(a);
}

}  // namespace clbench
