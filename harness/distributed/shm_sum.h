#pragma once
// Sums CPU tensors among the ranks of one node through an MPI-3 shared-memory window (the way
// NCCL and Gloo reduce within a node): each rank copies its bucket into its own segment, sums one
// slice of the bucket over every rank's segment, and copies each slice back from the rank that
// summed it. No message fragments pass through bounce buffers, and every element is summed once,
// in rank order, so all ranks get bit-identical sums.
#include <mpi.h>

#include <cstdint>
#include <vector>

#include <torch/types.h>

namespace clbench {

class ShmSum {
 public:
  explicit ShmSum(MPI_Comm node);  // every rank of `node` must share memory with the others
  ~ShmSum();
  ShmSum(const ShmSum&) = delete;
  ShmSum& operator=(const ShmSum&) = delete;

  // In-place sum over the ranks of `tensors`: CPU, one dtype, the same shapes on every rank.
  // Collective over the node: every rank calls it with the same shapes in the same order.
  void allreduce_sum(const std::vector<torch::Tensor*>& tensors);

 private:
  void reserve(int64_t bytes);  // collective: grows every rank's segment to `bytes` per area
  void sync();                  // all ranks' writes so far are visible to every rank
  char* input(int rank) const { return segments_[rank]; }
  char* result(int rank) const { return segments_[rank] + capacity_; }

  MPI_Comm node_ = MPI_COMM_NULL;
  MPI_Win window_ = MPI_WIN_NULL;
  int rank_ = 0, size_ = 1;
  int64_t capacity_ = 0;         // bytes of each of a segment's two areas (input, result)
  std::vector<char*> segments_;  // every rank's segment, mapped into this process
};

}  // namespace clbench
