#include "harness/engine/peak_memory.h"

#include <fstream>
#include <string>

#ifdef CLBENCH_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace clbench {
namespace {

// "VmHWM:   123456 kB" -> bytes; -1 when the line is missing.
int64_t high_water_mark_bytes() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmHWM:") {
      int64_t kib = -1;
      if (status >> kib) return kib * 1024;
      return -1;
    }
    std::getline(status, key);
  }
  return -1;
}

}  // namespace

void reset_peak_memory(int device_index) {
  std::ofstream("/proc/self/clear_refs") << "5";
#ifdef CLBENCH_WITH_CUDA
  if (device_index >= 0) c10::cuda::CUDACachingAllocator::resetPeakStats(device_index);
#else
  (void)device_index;
#endif
}

PeakMemory read_peak_memory(int device_index) {
  PeakMemory peak;
  peak.host_rss_bytes = high_water_mark_bytes();
#ifdef CLBENCH_WITH_CUDA
  if (device_index >= 0) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device_index);
    peak.device_bytes =
        stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak;
  }
#else
  (void)device_index;
#endif
  return peak;
}

}  // namespace clbench
