#pragma once
// Peak memory over a stretch of a run (a task): the process's resident host memory and, on a GPU,
// the bytes LibTorch's caching allocator had allocated. Linux only for the host figure.
#include <cstdint>

namespace clbench {

struct PeakMemory {
  int64_t host_rss_bytes = -1;  // VmHWM of /proc/self/status; -1 where unreadable
  int64_t device_bytes = -1;    // peak allocated CUDA bytes on `device_index`; -1 on the CPU
};

// Starts a new stretch: resets the kernel's high-water mark of this process's resident memory
// (/proc/self/clear_refs "5", Linux >= 4.0) and, for device_index >= 0, the allocator's peak.
// Where the reset is refused the next reading is the peak since the process started.
void reset_peak_memory(int device_index);

// The peaks since the last reset_peak_memory.
PeakMemory read_peak_memory(int device_index);

}  // namespace clbench
