#include "harness/distributed/shm_sum.h"

#include <torch/torch.h>

#include "harness/distributed/mpi_check.h"

namespace clbench {
namespace {

// Element range of the slice that `rank` sums.
std::pair<int64_t, int64_t> slice(int64_t n, int rank, int size) {
  return {n * rank / size, n * (rank + 1) / size};
}

torch::Tensor flat_at(char* bytes, int64_t offset, int64_t n, torch::ScalarType dtype) {
  return torch::from_blob(bytes + offset * c10::elementSize(dtype), {n}, dtype);
}

}  // namespace

ShmSum::ShmSum(MPI_Comm node) {
  check_mpi(MPI_Comm_dup(node, &node_), "MPI_Comm_dup");
  check_mpi(MPI_Comm_rank(node_, &rank_), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(node_, &size_), "MPI_Comm_size");
  segments_.assign(size_, nullptr);
}

ShmSum::~ShmSum() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  if (window_ != MPI_WIN_NULL) {
    MPI_Win_unlock_all(window_);
    MPI_Win_free(&window_);
  }
  MPI_Comm_free(&node_);
}

void ShmSum::reserve(int64_t bytes) {
  if (bytes <= capacity_) return;
  if (window_ != MPI_WIN_NULL) {
    check_mpi(MPI_Win_unlock_all(window_), "MPI_Win_unlock_all");
    check_mpi(MPI_Win_free(&window_), "MPI_Win_free");
  }
  capacity_ = (bytes + 4095) / 4096 * 4096;  // page-aligned areas: aligned vector loads
  char* mine = nullptr;
  check_mpi(MPI_Win_allocate_shared(2 * capacity_, 1, MPI_INFO_NULL, node_, &mine, &window_),
            "MPI_Win_allocate_shared");
  // A window has its own error handler (MPI_ERRORS_ARE_FATAL by default): make it return codes.
  check_mpi(MPI_Win_set_errhandler(window_, MPI_ERRORS_RETURN), "MPI_Win_set_errhandler");
  for (int q = 0; q < size_; ++q) {
    MPI_Aint length = 0;
    int unit = 0;
    check_mpi(MPI_Win_shared_query(window_, q, &length, &unit, &segments_[q]),
              "MPI_Win_shared_query");
  }
  // One passive epoch for the window's lifetime; sync() orders the accesses.
  check_mpi(MPI_Win_lock_all(MPI_MODE_NOCHECK, window_), "MPI_Win_lock_all");
}

void ShmSum::sync() {
  check_mpi(MPI_Win_sync(window_), "MPI_Win_sync");
  check_mpi(MPI_Barrier(node_), "MPI_Barrier");
  check_mpi(MPI_Win_sync(window_), "MPI_Win_sync");
}

void ShmSum::allreduce_sum(const std::vector<torch::Tensor*>& tensors) {
  if (tensors.empty()) return;
  const auto dtype = tensors.front()->scalar_type();
  int64_t n = 0;
  for (const auto* t : tensors) n += t->numel();
  reserve(n * static_cast<int64_t>(c10::elementSize(dtype)));

  int64_t offset = 0;
  for (const auto* t : tensors) {
    flat_at(input(rank_), offset, t->numel(), dtype).view(t->sizes()).copy_(*t);
    offset += t->numel();
  }
  sync();
  // The result area is only read by the others after the next sync, and they have finished
  // reading this rank's previous results before they reach the sync above.
  const auto [lo, hi] = slice(n, rank_, size_);
  auto sum = flat_at(result(rank_), lo, hi - lo, dtype);
  torch::add_out(sum, flat_at(input(0), lo, hi - lo, dtype), flat_at(input(1), lo, hi - lo, dtype));
  for (int q = 2; q < size_; ++q) sum.add_(flat_at(input(q), lo, hi - lo, dtype));
  sync();
  offset = 0;
  for (auto* t : tensors) {
    const int64_t end = offset + t->numel();
    auto out = t->is_contiguous() ? t->view({-1}) : torch::empty({t->numel()}, t->options());
    for (int q = 0; q < size_; ++q) {
      const auto [a, b] = slice(n, q, size_);
      const int64_t from = std::max(a, offset), to = std::min(b, end);
      if (from < to) {
        out.narrow(0, from - offset, to - from).copy_(flat_at(result(q), from, to - from, dtype));
      }
    }
    if (!t->is_contiguous()) t->copy_(out.view(t->sizes()));
    offset = end;
  }
}

}  // namespace clbench
