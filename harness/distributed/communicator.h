#pragma once
// The one seam for everything distributed: gradient sums, metric reduction, broadcast.
// The trainer and the methods talk only to this interface; backends live behind it.
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

namespace clbench {

// A sum over ranks that was started and is completed by wait(): then the tensor holds the sum (on
// a GPU, for the work queued on the caller's stream after wait()).
class PendingSum {
 public:
  virtual ~PendingSum() = default;
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int local_rank() const { return rank(); }  // rank among the processes on this node
  virtual int local_size() const { return size(); }
  // In-place sum over ranks of every tensor (fused into flat buckets by real backends).
  virtual void allreduce_sum(std::vector<torch::Tensor>& tensors) = 0;
  // Starts the in-place sum over ranks of one flat tensor, possibly from backward's own thread
  // (GradientReducer); every rank starts the same sums in the same order. This default, and a
  // backend for a tensor it cannot sum asynchronously, sums in wait() on the thread calling it.
  virtual std::unique_ptr<PendingSum> start_sum(const torch::Tensor& flat);
  virtual void broadcast(std::vector<torch::Tensor>& tensors, int root) = 0;
  virtual void barrier() = 0;
  // Ends every rank of the job at once (a failing rank must never leave the others hanging).
  [[noreturn]] virtual void abort(int code);

  bool is_root() const { return rank() == 0; }
  // Gradients of `params` are summed over ranks (parameters without a gradient are skipped).
  // Returns how many ranks set `flag`, as a one-element tensor on the gradients' device (it rides
  // in the same all-reduce, so agreeing on it costs no extra collective, and reading it is the
  // caller's one host synchronisation, when it chooses).
  torch::Tensor sum_gradients(const std::vector<torch::Tensor>& params, bool flag = false);
  // Sum of a tensor over ranks, returned as a new tensor (the argument is left as it was).
  torch::Tensor sum(const torch::Tensor& t);
  // Whether `flag` is set on any rank (collective: every rank calls it at the same point).
  bool any(bool flag);
  // The lowest rank on which `flag` is set, -1 if none (collective).
  int first_rank_with(bool flag);
  // `root`'s bytes on every rank (collective; the other ranks' argument is ignored).
  std::string broadcast_bytes(const std::string& bytes, int root);
};

// The communicator for this process: MPI (CPU tensors; NCCL for CUDA tensors where built) when
// started by mpirun/srun and built with MPI, otherwise a single local rank.
std::unique_ptr<Communicator> make_communicator(int* argc, char*** argv);

// One process: every collective is the identity.
class LocalCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void allreduce_sum(std::vector<torch::Tensor>&) override {}
  void broadcast(std::vector<torch::Tensor>&, int) override {}
  void barrier() override {}
};

}  // namespace clbench
