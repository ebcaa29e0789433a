#pragma once
// NCCL for CUDA tensors (Horovod/flashlight style): rank 0 makes the unique id, MPI broadcasts it,
// every rank joins the communicator on its local GPU. Used by the MPI communicator whenever the
// tensors it is given live on a GPU.
#include <memory>
#include <optional>

#include <c10/core/Stream.h>
#include <torch/types.h>

#include "harness/distributed/communicator.h"

namespace clbench {

class NcclComm {
 public:
  // With size > 1, MPI must be initialised (the unique id travels over MPI_COMM_WORLD).
  NcclComm(int rank, int size, int local_rank);
  ~NcclComm();
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  void allreduce_sum(torch::Tensor& flat);  // in place, on the tensor's current CUDA stream
  // The sum on this communicator's own stream, after the work queued so far on the tensor's
  // current stream; wait() orders the current stream after the sum.
  std::unique_ptr<PendingSum> start_allreduce_sum(const torch::Tensor& flat);
  void broadcast(torch::Tensor& flat, int root);

 private:
  void* comm_ = nullptr;             // ncclComm_t
  std::optional<c10::Stream> side_;  // where start_allreduce_sum's sums run
};

}  // namespace clbench
