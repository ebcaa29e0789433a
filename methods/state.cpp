#include "methods/state.h"

#include <torch/torch.h>

#include "harness/foundation/error.h"

namespace clbench {
namespace {

// Per tensor, next to it: which of these hold.
constexpr int64_t kDefined = 1, kRequiresGrad = 2, kOnDevice = 4;

std::string flags_key(const std::string& key) {
  return key + "@flags";
}

c10::IValue read_value(torch::serialize::InputArchive& a, const std::string& key) {
  c10::IValue v;
  if (!a.try_read(key, v)) throw Error("checkpoint state has no field '" + key + "'");
  return v;
}

}  // namespace

void StateVisitor::operator()(const std::string& name, bool& value) {
  int64_t v = value ? 1 : 0;
  (*this)(name, v);
  value = v != 0;
}

void StateVisitor::operator()(const std::string& name, int& value) {
  int64_t v = value;
  (*this)(name, v);
  value = static_cast<int>(v);
}

void StateVisitor::operator()(const std::string& name, uint64_t& value) {
  int64_t v = static_cast<int64_t>(value);
  (*this)(name, v);
  value = static_cast<uint64_t>(v);
}

void StateVisitor::operator()(const std::string& name, std::vector<torch::Tensor>& values) {
  each(name, values, [](StateVisitor& v, torch::Tensor& t) { v("tensor", t); });
}

void StateVisitor::operator()(const std::string& name, torch::nn::Module& module) {
  for (auto& item : module.named_parameters(true)) in_place(name + "." + item.key(), item.value());
  for (auto& item : module.named_buffers(true)) in_place(name + "." + item.key(), item.value());
}

void StateVisitor::parameters(const std::string& name, torch::nn::Module& module) {
  for (auto& item : module.named_parameters(true)) (*this)(name + "." + item.key(), item.value());
}

// ---- saving ----

void StateSaver::operator()(const std::string& name, torch::Tensor& value) {
  const std::string k = key(name);
  int64_t flags = 0;
  if (value.defined()) {
    flags = kDefined | (value.requires_grad() ? kRequiresGrad : 0) |
            (value.device().is_cpu() ? 0 : kOnDevice);
    archive_.write(k, value.detach(), /*is_buffer=*/true);
  }
  archive_.write(flags_key(k), c10::IValue(flags));
}

void StateSaver::operator()(const std::string& name, int64_t& value) {
  archive_.write(key(name), c10::IValue(value));
}

void StateSaver::operator()(const std::string& name, double& value) {
  archive_.write(key(name), c10::IValue(value));
}

void StateSaver::operator()(const std::string& name, std::string& value) {
  archive_.write(key(name), c10::IValue(value));
}

void StateSaver::operator()(const std::string& name, at::Generator& value) {
  archive_.write(key(name), value.get_state(), /*is_buffer=*/true);
}

void StateSaver::operator()(const std::string& name, std::vector<int64_t>& values) {
  archive_.write(key(name), c10::IValue(values));
}

void StateSaver::operator()(const std::string& name, std::vector<double>& values) {
  archive_.write(key(name), c10::IValue(values));
}

int64_t StateSaver::count(const std::string& name, int64_t size) {
  archive_.write(key(name) + "@count", c10::IValue(size));
  return size;
}

void StateSaver::in_place(const std::string& name, torch::Tensor& value) {
  (*this)(name, value);
}

// ---- loading ----

torch::Tensor StateLoader::read(const std::string& name, int64_t* flags) {
  const std::string k = key(name);
  *flags = read_value(archive_, flags_key(k)).toInt();
  torch::Tensor t;
  if ((*flags & kDefined) == 0) return t;
  if (!archive_.try_read(k, t, /*is_buffer=*/true)) {
    throw Error("checkpoint state has no tensor '" + k + "'");
  }
  return t.to((*flags & kOnDevice) ? device_ : torch::Device(torch::kCPU));
}

void StateLoader::operator()(const std::string& name, torch::Tensor& value) {
  int64_t flags = 0;
  auto loaded = read(name, &flags);
  torch::NoGradGuard no_grad;
  if (!loaded.defined()) {
    value = torch::Tensor();
    return;
  }
  const bool same = value.defined() && value.sizes() == loaded.sizes() &&
                    value.scalar_type() == loaded.scalar_type() &&
                    value.device() == loaded.device();
  if (same) {
    value.copy_(loaded);
  } else {
    value = loaded;
  }
  if (value.is_leaf()) value.requires_grad_((flags & kRequiresGrad) != 0);
}

void StateLoader::operator()(const std::string& name, int64_t& value) {
  value = read_value(archive_, key(name)).toInt();
}

void StateLoader::operator()(const std::string& name, double& value) {
  value = read_value(archive_, key(name)).toDouble();
}

void StateLoader::operator()(const std::string& name, std::string& value) {
  value = read_value(archive_, key(name)).toStringRef();
}

void StateLoader::operator()(const std::string& name, at::Generator& value) {
  torch::Tensor state;
  if (!archive_.try_read(key(name), state, /*is_buffer=*/true)) {
    throw Error("checkpoint state has no generator '" + key(name) + "'");
  }
  value.set_state(state.cpu());
}

void StateLoader::operator()(const std::string& name, std::vector<int64_t>& values) {
  values = read_value(archive_, key(name)).toIntVector();
}

void StateLoader::operator()(const std::string& name, std::vector<double>& values) {
  values = read_value(archive_, key(name)).toDoubleVector();
}

int64_t StateLoader::count(const std::string& name, int64_t) {
  return read_value(archive_, key(name) + "@count").toInt();
}

void StateLoader::in_place(const std::string& name, torch::Tensor& value) {
  int64_t flags = 0;
  const auto loaded = read(name, &flags);
  if (!loaded.defined() || !value.defined() || loaded.sizes() != value.sizes()) {
    throw Error("checkpoint state '" + key(name) + "' does not fit the model (shape " +
                (loaded.defined() ? c10::str(loaded.sizes()) : std::string("undefined")) +
                ", model " + (value.defined() ? c10::str(value.sizes()) : "undefined") + ")");
  }
  torch::NoGradGuard no_grad;
  value.copy_(loaded);
}

}  // namespace clbench
