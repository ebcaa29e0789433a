#include "harness/engine/peak_memory.h"

#include <fstream>
#include <string>

#include <c10/core/CachingDeviceAllocator.h>

#include "harness/distributed/cuda_library.h"

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

// LibTorch's CUDA caching allocator, through the device-generic interface (cuda_library.h).
c10::DeviceAllocator* cuda_allocator() {
  return c10::getDeviceAllocator(c10::DeviceType::CUDA);
}

}  // namespace

void reset_peak_memory(int device_index) {
  std::ofstream("/proc/self/clear_refs") << "5";
  if (device_index >= 0 && cuda_library_loaded())
    cuda_allocator()->resetPeakStats(static_cast<c10::DeviceIndex>(device_index));
}

PeakMemory read_peak_memory(int device_index) {
  PeakMemory peak;
  peak.host_rss_bytes = high_water_mark_bytes();
  if (device_index >= 0 && cuda_library_loaded()) {
    const auto stats =
        cuda_allocator()->getDeviceStats(static_cast<c10::DeviceIndex>(device_index));
    peak.device_bytes =
        stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak;
  }
  return peak;
}

}  // namespace clbench
