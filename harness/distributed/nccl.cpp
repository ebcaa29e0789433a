#include "harness/distributed/nccl.h"

#include <dlfcn.h>
#include <nccl.h>  // the types only: the library is loaded with LibTorch's CUDA half

#include <c10/core/Event.h>
#include <c10/core/impl/VirtualGuardImpl.h>

#include <string>

#include <torch/torch.h>

#include "harness/distributed/cuda_library.h"
#include "harness/foundation/error.h"
#ifdef CLBENCH_WITH_MPI
#include "harness/distributed/mpi_check.h"
#endif

namespace clbench {
namespace {

// NCCL's entry points, from the libnccl.so.2 that LibTorch's CUDA half brought (or the one found
// at build time): nothing CUDA is linked into clbench (cuda_library.h).
struct Nccl {
  decltype(&ncclGetUniqueId) get_unique_id;
  decltype(&ncclCommInitRank) comm_init_rank;
  decltype(&ncclCommDestroy) comm_destroy;
  decltype(&ncclAllReduce) all_reduce;
  decltype(&ncclBroadcast) broadcast;
  decltype(&ncclGetErrorString) error_string;
};

const Nccl& nccl() {
  static const Nccl api = [] {
    if (!cuda_library_loaded())
      throw Error("NCCL needs LibTorch's CUDA library: " + cuda_library_absence());
    void* lib = dlopen("libnccl.so.2", RTLD_NOW | RTLD_NOLOAD);
    if (lib == nullptr) lib = dlopen(CLBENCH_NCCL_LIBRARY, RTLD_NOW);  // CMake's
    if (lib == nullptr) lib = dlopen("libnccl.so.2", RTLD_NOW);
    if (lib == nullptr) throw Error(std::string("cannot load NCCL (libnccl.so.2): ") + dlerror());
    const auto find = [lib](const char* name) {
      void* f = dlsym(lib, name);
      if (f == nullptr) throw Error(std::string("NCCL library without ") + name);
      return f;
    };
    Nccl n{};
    n.get_unique_id = reinterpret_cast<decltype(n.get_unique_id)>(find("ncclGetUniqueId"));
    n.comm_init_rank = reinterpret_cast<decltype(n.comm_init_rank)>(find("ncclCommInitRank"));
    n.comm_destroy = reinterpret_cast<decltype(n.comm_destroy)>(find("ncclCommDestroy"));
    n.all_reduce = reinterpret_cast<decltype(n.all_reduce)>(find("ncclAllReduce"));
    n.broadcast = reinterpret_cast<decltype(n.broadcast)>(find("ncclBroadcast"));
    n.error_string = reinterpret_cast<decltype(n.error_string)>(find("ncclGetErrorString"));
    return n;
  }();
  return api;
}

void check(ncclResult_t rc, const char* what) {
  if (rc != ncclSuccess)
    throw Error(std::string("NCCL ") + what + " failed: " + nccl().error_string(rc));
}

// LibTorch's CUDA streams and events through its device-generic interface.
const c10::impl::VirtualGuardImpl& cuda() {
  static const c10::impl::VirtualGuardImpl impl(c10::DeviceType::CUDA);
  return impl;
}

c10::Stream current_stream(const torch::Tensor& t) {
  return cuda().getStream(t.device());
}

cudaStream_t native(const c10::Stream& s) {
  return static_cast<cudaStream_t>(s.native_handle());
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
  if (rank == 0) check(nccl().get_unique_id(&id), "ncclGetUniqueId");
  if (size > 1) {
#ifdef CLBENCH_WITH_MPI
    check_mpi(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast (NCCL unique id)");
#else
    throw Error("NCCL with several ranks needs a build with MPI");
#endif
  }
  try {
    cuda().setDevice(c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(local_rank)));
  } catch (const c10::Error& e) {
    throw Error("cannot select GPU " + std::to_string(local_rank) + " for rank " +
                std::to_string(rank) + ": " + e.what_without_backtrace());
  }
  ncclComm_t comm;
  check(nccl().comm_init_rank(&comm, size, id, rank), "ncclCommInitRank");
  comm_ = comm;
}

NcclComm::~NcclComm() {
  if (comm_ != nullptr) nccl().comm_destroy(as_comm(comm_));
}

void NcclComm::allreduce_sum(torch::Tensor& flat) {
  check(nccl().all_reduce(flat.data_ptr(), flat.data_ptr(), static_cast<size_t>(flat.numel()),
                          nccl_type(flat.scalar_type()), ncclSum, as_comm(comm_),
                          native(current_stream(flat))),
        "ncclAllReduce");
}

namespace {

class NcclSum : public PendingSum {
 public:
  NcclSum(torch::Tensor flat, std::shared_ptr<c10::Event> done)
      : flat_(std::move(flat)), done_(std::move(done)) {}
  void wait() override { done_->block(current_stream(flat_)); }

 private:
  torch::Tensor flat_;
  std::shared_ptr<c10::Event> done_;
};

}  // namespace

std::unique_ptr<PendingSum> NcclComm::start_allreduce_sum(const torch::Tensor& flat) {
  const auto producer = current_stream(flat);
  if (!side_ || side_->device() != flat.device()) {
    side_ = cuda().getStreamFromGlobalPool(flat.device(), /*isHighPriority=*/true);
  }
  c10::Event ready(c10::DeviceType::CUDA);
  ready.record(producer);
  ready.block(*side_);
  // The caching allocator must not hand the bucket's memory to another stream before the sum.
  flat.record_stream(*side_);
  check(nccl().all_reduce(flat.data_ptr(), flat.data_ptr(), static_cast<size_t>(flat.numel()),
                          nccl_type(flat.scalar_type()), ncclSum, as_comm(comm_), native(*side_)),
        "ncclAllReduce");
  auto done = std::make_shared<c10::Event>(c10::DeviceType::CUDA);
  done->record(*side_);
  return std::make_unique<NcclSum>(flat, std::move(done));
}

void NcclComm::broadcast(torch::Tensor& flat, int root) {
  check(nccl().broadcast(flat.data_ptr(), flat.data_ptr(), static_cast<size_t>(flat.numel()),
                         nccl_type(flat.scalar_type()), root, as_comm(comm_),
                         native(current_stream(flat))),
        "ncclBroadcast");
}

}  // namespace clbench
