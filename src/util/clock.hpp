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
  // Refreshes when the offsets were sampled more than `max_age_ns` before `now_ns` (a
  // monotonic time, such as an event's): a suspend or a clock step shows within that long.
  // Cheap to call per event.
  void refresh_if_older(uint64_t now_ns, uint64_t max_age_ns = 1'000'000'000) {
    if (now_ns > sampled_ns_ && now_ns - sampled_ns_ > max_age_ns) refresh();
  }
  [[nodiscard]] int64_t to_wall_ns(uint64_t monotonic_ns) const {
    return static_cast<int64_t>(monotonic_ns) + realtime_offset_;
  }
  [[nodiscard]] uint64_t to_boottime_ns(uint64_t monotonic_ns) const {
    return monotonic_ns + boottime_offset_;
  }
  [[nodiscard]] uint64_t boottime_to_monotonic_ns(uint64_t boottime_ns) const {
    return boottime_ns >= boottime_offset_ ? boottime_ns - boottime_offset_ : 0;
  }
  [[nodiscard]] uint64_t boottime_offset_ns() const { return boottime_offset_; }
  // Takes another machine's or another time's offsets (a recording's), for good: refresh()
  // would bring back this machine's.
  void adopt(int64_t realtime_offset, uint64_t boottime_offset) {
    realtime_offset_ = realtime_offset;
    boottime_offset_ = boottime_offset;
  }

 private:
  int64_t realtime_offset_ = 0;   // realtime - monotonic
  uint64_t boottime_offset_ = 0;  // boottime - monotonic (time spent suspended)
  uint64_t sampled_ns_ = 0;       // monotonic time of the last refresh()
};

}  // namespace proctrail
