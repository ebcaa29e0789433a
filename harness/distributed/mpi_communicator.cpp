// MPI backend of the communicator (flashlight/Horovod style): tensors are packed into flat buckets
// and reduced with one MPI call per bucket. CUDA tensors go to NCCL where it is built in; CPU sums
// among ranks that all share one node go through shared memory (comm_shm.h).
#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <thread>

#include <torch/torch.h>

#include "harness/distributed/communicator.h"
#include "harness/distributed/mpi_check.h"
#include "harness/distributed/shm_sum.h"
#include "harness/foundation/error.h"
#ifdef CLBENCH_WITH_NCCL
#include "harness/distributed/nccl.h"
#endif

namespace clbench {
namespace {

constexpr int64_t kBucketBytes = 32 << 20;

MPI_Datatype mpi_type(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32:
      return MPI_FLOAT;
    case torch::kFloat64:
      return MPI_DOUBLE;
    case torch::kInt64:
      return MPI_INT64_T;
    case torch::kInt32:
      return MPI_INT32_T;
    case torch::kUInt8:
      return MPI_UINT8_T;
    default:
      throw Error(std::string("MPI communicator: unsupported dtype ") + c10::toString(t));
  }
}

bool launched_by_mpi() {
  for (const char* v :
       {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"}) {
    if (std::getenv(v) != nullptr) return true;
  }
  return false;
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

struct DoneSum : PendingSum {
  void wait() override {}
};

struct MpiSum : PendingSum {
  explicit MpiSum(torch::Tensor t) : flat(std::move(t)) {}
  ~MpiSum() override {
    if (request != MPI_REQUEST_NULL) MPI_Wait(&request, MPI_STATUS_IGNORE);
  }
  void wait() override { check_mpi(MPI_Wait(&request, MPI_STATUS_IGNORE), "MPI_Wait"); }
  torch::Tensor flat;  // kept alive until the sum is done
  MPI_Request request = MPI_REQUEST_NULL;
};

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator() {
    check_mpi(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
    check_mpi(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
    MPI_Comm local;
    check_mpi(
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local),
        "MPI_Comm_split_type");
    check_mpi(MPI_Comm_rank(local, &local_rank_), "MPI_Comm_rank");
    check_mpi(MPI_Comm_size(local, &local_size_), "MPI_Comm_size");
    // CLBENCH_SHARED_MEMORY=0 sends every sum through MPI_Allreduce, as across nodes.
    if (size_ > 1 && local_size_ == size_ && env_int("CLBENCH_SHARED_MEMORY", 1) != 0) {
      shm_ = std::make_unique<ShmSum>(local);
    }
    check_mpi(MPI_Comm_free(&local), "MPI_Comm_free");
    // The launcher's view must agree with MPI's (a mismatch means ranks would pick wrong GPUs).
    for (const char* v : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID"}) {
      const int env = env_int(v, -1);
      if (env >= 0 && env != local_rank_ && size_ > 1) {
        std::fprintf(stderr, "clbench: warning: rank %d: %s=%d but MPI says local rank %d\n", rank_,
                     v, env, local_rank_);
      }
    }
  }
  ~MpiCommunicator() override {
    shm_.reset();  // its window is freed while MPI is still up
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }

  void allreduce_sum(std::vector<torch::Tensor>& tensors) override {
    if (size_ == 1) return;
    for_each_bucket(tensors, [&](const std::vector<torch::Tensor*>& bucket) {
      if (shm_ && bucket.front()->device().is_cpu()) return shm_->allreduce_sum(bucket);
      packed(bucket, [&](torch::Tensor& flat) {
#ifdef CLBENCH_WITH_NCCL
        if (flat.is_cuda()) return nccl().allreduce_sum(flat);
#endif
        auto host = flat.is_cuda() ? flat.cpu() : flat;
        check_mpi(MPI_Allreduce(MPI_IN_PLACE, host.data_ptr(), static_cast<int>(host.numel()),
                                mpi_type(host.scalar_type()), MPI_SUM, MPI_COMM_WORLD),
                  "MPI_Allreduce");
        if (flat.is_cuda()) flat.copy_(host);
      });
    });
  }

  // CPU tensors on the thread that called MPI_Init (the one MPI_THREAD_FUNNELED allows):
  // MPI_Iallreduce, or the shared-memory sum at once; CUDA tensors: NCCL on its own stream.
  std::unique_ptr<PendingSum> start_sum(const torch::Tensor& flat) override {
    if (size_ == 1) return Communicator::start_sum(flat);
#ifdef CLBENCH_WITH_NCCL
    if (flat.is_cuda()) return nccl().start_allreduce_sum(flat);
#endif
    if (!flat.device().is_cpu() || std::this_thread::get_id() != mpi_thread_ ||
        !flat.is_contiguous())
      return Communicator::start_sum(flat);
    if (shm_) {
      torch::Tensor t = flat;
      shm_->allreduce_sum({&t});
      return std::make_unique<DoneSum>();
    }
    auto pending = std::make_unique<MpiSum>(flat);
    check_mpi(
        MPI_Iallreduce(MPI_IN_PLACE, flat.data_ptr(), static_cast<int>(flat.numel()),
                       mpi_type(flat.scalar_type()), MPI_SUM, MPI_COMM_WORLD, &pending->request),
        "MPI_Iallreduce");
    return pending;
  }

  void broadcast(std::vector<torch::Tensor>& tensors, int root) override {
    if (size_ == 1) return;
    for_each_bucket(tensors, [&](const std::vector<torch::Tensor*>& bucket) {
      packed(bucket, [&](torch::Tensor& flat) {
#ifdef CLBENCH_WITH_NCCL
        if (flat.is_cuda()) return nccl().broadcast(flat, root);
#endif
        auto host = flat.is_cuda() ? flat.cpu() : flat;
        check_mpi(MPI_Bcast(host.data_ptr(), static_cast<int>(host.numel()),
                            mpi_type(host.scalar_type()), root, MPI_COMM_WORLD),
                  "MPI_Bcast");
        if (flat.is_cuda()) flat.copy_(host);
      });
    });
  }

  void barrier() override {
    check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
  }

  [[noreturn]] void abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code);
  }

 private:
  // Groups same-device, same-dtype tensors into buckets of at most kBucketBytes and applies fn to
  // each bucket.
  template <class Fn>
  static void for_each_bucket(std::vector<torch::Tensor>& tensors, Fn fn) {
    std::map<std::pair<int, int>, std::vector<torch::Tensor*>> groups;
    for (auto& t : tensors) {
      groups[{static_cast<int>(t.device().type()), static_cast<int>(t.scalar_type())}].push_back(
          &t);
    }
    for (auto& [key, group] : groups) {
      size_t begin = 0;
      while (begin < group.size()) {
        size_t end = begin;
        int64_t bytes = 0;
        do {
          bytes += group[end]->numel() * group[end]->element_size();
          ++end;
        } while (end < group.size() &&
                 bytes + group[end]->numel() * group[end]->element_size() <= kBucketBytes);
        fn(std::vector<torch::Tensor*>(group.begin() + begin, group.begin() + end));
        begin = end;
      }
    }
  }

  // Packs a bucket into one flat tensor, applies fn to it in place, and copies the results back.
  template <class Fn>
  static void packed(const std::vector<torch::Tensor*>& bucket, Fn fn) {
    std::vector<torch::Tensor> flats;
    for (const auto* t : bucket) flats.push_back(t->reshape({-1}));
    torch::Tensor flat = torch::cat(flats);
    fn(flat);
    int64_t offset = 0;
    for (auto* t : bucket) {
      const int64_t n = t->numel();
      t->copy_(flat.narrow(0, offset, n).view_as(*t));
      offset += n;
    }
  }

#ifdef CLBENCH_WITH_NCCL
  NcclComm& nccl() {
    if (!nccl_) nccl_ = std::make_unique<NcclComm>(rank_, size_, local_rank_);
    return *nccl_;
  }
  std::unique_ptr<NcclComm> nccl_;
#endif
  std::unique_ptr<ShmSum> shm_;  // CPU sums when every rank is on this node
  const std::thread::id mpi_thread_ = std::this_thread::get_id();
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
};

}  // namespace

std::unique_ptr<Communicator> make_communicator(int* argc, char*** argv) {
  if (!launched_by_mpi()) return std::make_unique<LocalCommunicator>();
  // Only the main thread calls MPI (the loader's threads never do): FUNNELED is enough.
  int provided = 0;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    throw Error("MPI_Init_thread failed");
  }
  check_mpi(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  if (provided < MPI_THREAD_FUNNELED) {
    MPI_Finalize();
    throw Error("this MPI library provides thread support level " + std::to_string(provided) +
                " (MPI_THREAD_SINGLE); clbench needs MPI_THREAD_FUNNELED: its data loader runs "
                "threads next to the one that calls MPI");
  }
  return std::make_unique<MpiCommunicator>();
}

}  // namespace clbench
