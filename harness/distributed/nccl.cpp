#include "harness/distributed/nccl.h"

#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>
#include <nccl.h>

#include <string>

#include <torch/torch.h>

#include "harness/foundation/error.h"
#ifdef CLBENCH_WITH_MPI
#include "harness/distributed/mpi_check.h"
#endif

namespace clbench {
namespace {

void check(ncclResult_t rc, const char* what) {
  if (rc != ncclSuccess)
    throw Error(std::string("NCCL ") + what + " failed: " + ncclGetErrorString(rc));
}

ncclDataType_t nccl_type(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32:
      return ncclFloat32;
    case torch::kFloat64:
      return ncclFloat64;
    case torch::kFloat16:
      return ncclFloat16;
    case torch::kBFloat16:
      return ncclBfloat16;
    case torch::kInt64:
      return ncclInt64;
    case torch::kInt32:
      return ncclInt32;
    case torch::kUInt8:
      return ncclUint8;
    default:
      throw Error(std::string("NCCL: unsupported dtype ") + c10::toString(t));
  }
}

ncclComm_t as_comm(void* p) {
  return static_cast<ncclComm_t>(p);
}

}  // namespace

NcclComm::NcclComm(int rank, int size, int local_rank) {
  ncclUniqueId id;
  if (rank == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
  if (size > 1) {
#ifdef CLBENCH_WITH_MPI
    check_mpi(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast (NCCL unique id)");
#else
    throw Error("NCCL with several ranks needs a build with MPI");
#endif
  }
  if (cudaSetDevice(local_rank) != cudaSuccess) {
    throw Error("cannot select GPU " + std::to_string(local_rank) + " for rank " +
                std::to_string(rank));
  }
  ncclComm_t comm;
  check(ncclCommInitRank(&comm, size, id, rank), "ncclCommInitRank");
  comm_ = comm;
}

NcclComm::~NcclComm() {
  if (comm_ != nullptr) ncclCommDestroy(as_comm(comm_));
}

void NcclComm::allreduce_sum(torch::Tensor& flat) {
  const auto stream = c10::cuda::getCurrentCUDAStream(flat.device().index());
  check(ncclAllReduce(flat.data_ptr(), flat.data_ptr(), static_cast<size_t>(flat.numel()),
                      nccl_type(flat.scalar_type()), ncclSum, as_comm(comm_), stream.stream()),
        "ncclAllReduce");
}

namespace {

class NcclSum : public PendingSum {
 public:
  NcclSum(torch::Tensor flat, std::shared_ptr<at::cuda::CUDAEvent> done)
      : flat_(std::move(flat)), done_(std::move(done)) {}
  void wait() override { done_->block(c10::cuda::getCurrentCUDAStream(flat_.device().index())); }

 private:
  torch::Tensor flat_;
  std::shared_ptr<at::cuda::CUDAEvent> done_;
};

}  // namespace

std::unique_ptr<PendingSum> NcclComm::start_allreduce_sum(const torch::Tensor& flat) {
  const auto index = flat.device().index();
  const auto producer = c10::cuda::getCurrentCUDAStream(index);
  if (!side_ || side_->device() != flat.device()) {
    side_ = c10::cuda::getStreamFromPool(/*isHighPriority=*/true, index).unwrap();
  }
  const c10::cuda::CUDAStream side(c10::cuda::CUDAStream::UNCHECKED, *side_);
  at::cuda::CUDAEvent ready;
  ready.record(producer);
  ready.block(side);
  // The caching allocator must not hand the bucket's memory to another stream before the sum.
  flat.record_stream(*side_);
  check(ncclAllReduce(flat.data_ptr(), flat.data_ptr(), static_cast<size_t>(flat.numel()),
                      nccl_type(flat.scalar_type()), ncclSum, as_comm(comm_), side.stream()),
        "ncclAllReduce");
  auto done = std::make_shared<at::cuda::CUDAEvent>();
  done->record(side);
  return std::make_unique<NcclSum>(flat, std::move(done));
}

void NcclComm::broadcast(torch::Tensor& flat, int root) {
  const auto stream = c10::cuda::getCurrentCUDAStream(flat.device().index());
  check(ncclBroadcast(flat.data_ptr(), flat.data_ptr(), static_cast<size_t>(flat.numel()),
                      nccl_type(flat.scalar_type()), root, as_comm(comm_), stream.stream()),
        "ncclBroadcast");
}

}  // namespace clbench
