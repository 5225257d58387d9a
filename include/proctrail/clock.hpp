// Clocks. Kernel event timestamps (proc connector and bpf_ktime_get_ns) are CLOCK_MONOTONIC;
// /proc/PID/stat start times are CLOCK_BOOTTIME in clock ticks; people read CLOCK_REALTIME.
#pragma once

#include <cstdint>

namespace proctrail {

uint64_t monotonic_now_ns();

// Offsets between CLOCK_MONOTONIC and the other two clocks, sampled at construction and on
// refresh(). Not thread-safe: each thread that converts keeps its own.
class ClockSync {
 public:
  ClockSync() { refresh(); }
  void refresh();
  [[nodiscard]] int64_t to_wall_ns(uint64_t monotonic_ns) const {
    return static_cast<int64_t>(monotonic_ns) + realtime_offset_;
  }
  [[nodiscard]] uint64_t to_boottime_ns(uint64_t monotonic_ns) const {
    return monotonic_ns + boottime_offset_;
  }
  [[nodiscard]] uint64_t boottime_to_monotonic_ns(uint64_t boottime_ns) const {
    return boottime_ns >= boottime_offset_ ? boottime_ns - boottime_offset_ : 0;
  }
  [[nodiscard]] int64_t boottime_to_wall_ns(uint64_t boottime_ns) const {
    return static_cast<int64_t>(boottime_ns - boottime_offset_) + realtime_offset_;
  }

 private:
  int64_t realtime_offset_ = 0;   // realtime - monotonic
  uint64_t boottime_offset_ = 0;  // boottime - monotonic (time spent suspended)
};

}  // namespace proctrail
