#include "proctrail/seq_tracker.hpp"

#include <cstddef>

namespace proctrail {

uint64_t SeqTracker::observe(int32_t cpu, uint32_t seq) {
  if (cpu < 0 || cpu >= kMaxCpus) {
    ++untracked_;
    return 0;
  }
  auto i = static_cast<size_t>(cpu);
  if (i >= last_.size()) last_.resize(i + 1, 0);
  uint64_t& slot = last_[i];
  if (slot == 0) {  // first message from this CPU: it sets the baseline
    slot = uint64_t{seq} + 1;
    return 0;
  }
  const auto expected = static_cast<uint32_t>(slot - 1 + 1);
  const uint32_t ahead = seq - expected;  // modulo 2^32: wrap-around is a step of one
  if (ahead >= 0x80000000u) {
    return 0;  // at or behind the last one seen: not a gap, and the position stays
  }
  slot = uint64_t{seq} + 1;
  return ahead;
}

}  // namespace proctrail
