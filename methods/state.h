#pragma once
// A method's state, declared once. A method lists its fields in `state(StateVisitor&)`; the same
// declaration saves them to a checkpoint and loads them back (on this rank's device), so save and
// load can never disagree:
//   void state(StateVisitor& v) override {
//     v("importance", importance_);            // tensors, lists of tensors, numbers, flags
//     v.each("anchors", anchors_, [](StateVisitor& v, Anchor& a) { v("fisher", a.fisher); });
//   }
// Loading copies into a tensor that already exists with the same shape, dtype and device kind
// (so views into it and tensors shared with it stay shared); otherwise it replaces the tensor.
// Every tensor comes back where it lived: on the host, or on the rank's device. A leaf tensor
// keeps its requires_grad.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>
#include <torch/serialize/archive.h>
#include <torch/types.h>

namespace torch::nn {
class Module;
}

namespace clbench {

class StateVisitor {
 public:
  virtual ~StateVisitor() = default;
  virtual bool loading() const = 0;

  virtual void operator()(const std::string& name, torch::Tensor& value) = 0;
  virtual void operator()(const std::string& name, int64_t& value) = 0;
  virtual void operator()(const std::string& name, double& value) = 0;
  virtual void operator()(const std::string& name, std::string& value) = 0;
  virtual void operator()(const std::string& name, at::Generator& value) = 0;
  virtual void operator()(const std::string& name, std::vector<int64_t>& values) = 0;
  virtual void operator()(const std::string& name, std::vector<double>& values) = 0;
  void operator()(const std::string& name, bool& value);
  void operator()(const std::string& name, int& value);
  void operator()(const std::string& name, uint64_t& value);
  void operator()(const std::string& name, std::vector<torch::Tensor>& values);
  // Every parameter and buffer of `module`, by name, always loaded in place (the module must
  // already have them, with the same shapes).
  void operator()(const std::string& name, torch::nn::Module& module);
  // Every parameter of `module` as a tensor of its own ("<name>.<parameter>"): a load replaces or
  // copies it with its requires_grad, where the in-place module load above keeps the flags of the
  // module it loads into (for modules whose parameters train in some tasks only).
  void parameters(const std::string& name, torch::nn::Module& module);

  // A list of composite items: its length, then `visit(visitor, item)` for each item under the
  // prefix "<name>.<i>.". Loading resizes the list first.
  template <class T, class Visit>
  void each(const std::string& name, std::vector<T>& items, Visit visit) {
    const int64_t n = count(name, static_cast<int64_t>(items.size()));
    items.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      Prefix scope(*this, name + "." + std::to_string(i) + ".");
      visit(*this, items[static_cast<size_t>(i)]);
    }
  }

 protected:
  // Saving writes `size` and returns it; loading returns the stored length.
  virtual int64_t count(const std::string& name, int64_t size) = 0;
  // A tensor that must be loaded in place (a module's).
  virtual void in_place(const std::string& name, torch::Tensor& value) = 0;
  std::string key(const std::string& name) const { return prefix_ + name; }

 private:
  struct Prefix {
    Prefix(StateVisitor& v, const std::string& more) : v_(v), saved_(v.prefix_) {
      v.prefix_ += more;
    }
    ~Prefix() { v_.prefix_ = saved_; }
    StateVisitor& v_;
    std::string saved_;
  };
  std::string prefix_;
};

// Writes the visited state into an archive (which refers to the tensors until it is saved).
class StateSaver : public StateVisitor {
 public:
  explicit StateSaver(torch::serialize::OutputArchive& archive) : archive_(archive) {}
  bool loading() const override { return false; }
  using StateVisitor::operator();
  void operator()(const std::string& name, torch::Tensor& value) override;
  void operator()(const std::string& name, int64_t& value) override;
  void operator()(const std::string& name, double& value) override;
  void operator()(const std::string& name, std::string& value) override;
  void operator()(const std::string& name, at::Generator& value) override;
  void operator()(const std::string& name, std::vector<int64_t>& values) override;
  void operator()(const std::string& name, std::vector<double>& values) override;

 protected:
  int64_t count(const std::string& name, int64_t size) override;
  void in_place(const std::string& name, torch::Tensor& value) override;

 private:
  torch::serialize::OutputArchive& archive_;
};

// Reads the visited state from an archive written by StateSaver; tensors that lived on a device go
// to `device`. A missing or mistyped field is an error naming it.
class StateLoader : public StateVisitor {
 public:
  StateLoader(torch::serialize::InputArchive& archive, torch::Device device)
      : archive_(archive), device_(device) {}
  bool loading() const override { return true; }
  using StateVisitor::operator();
  void operator()(const std::string& name, torch::Tensor& value) override;
  void operator()(const std::string& name, int64_t& value) override;
  void operator()(const std::string& name, double& value) override;
  void operator()(const std::string& name, std::string& value) override;
  void operator()(const std::string& name, at::Generator& value) override;
  void operator()(const std::string& name, std::vector<int64_t>& values) override;
  void operator()(const std::string& name, std::vector<double>& values) override;

 protected:
  int64_t count(const std::string& name, int64_t size) override;
  void in_place(const std::string& name, torch::Tensor& value) override;

 private:
  torch::Tensor read(const std::string& name, int64_t* flags);
  torch::serialize::InputArchive& archive_;
  torch::Device device_;
};

}  // namespace clbench
