#include "util/clock.hpp"

#include <time.h>

namespace proctrail {

namespace {
int64_t read_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
}  // namespace

uint64_t monotonic_now_ns() {
  return static_cast<uint64_t>(read_ns(CLOCK_MONOTONIC));
}

void ClockSync::refresh() {
  // Bracket the other clock between two monotonic reads and use the midpoint.
  int64_t m0 = read_ns(CLOCK_MONOTONIC);
  int64_t real = read_ns(CLOCK_REALTIME);
  int64_t boot = read_ns(CLOCK_BOOTTIME);
  int64_t m1 = read_ns(CLOCK_MONOTONIC);
  int64_t mid = m0 + (m1 - m0) / 2;
  realtime_offset_ = real - mid;
  boottime_offset_ = boot > mid ? static_cast<uint64_t>(boot - mid) : 0;
  sampled_ns_ = static_cast<uint64_t>(m1);
}

}  // namespace proctrail
