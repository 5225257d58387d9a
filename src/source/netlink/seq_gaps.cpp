#include "source/netlink/seq_gaps.hpp"

#include <cstddef>

namespace proctrail {

void SeqGapFinder::add(int32_t cpu, uint32_t seq, uint64_t ts_ns) {
  if (cpu < 0 || cpu >= kMaxCpus) {
    ++untracked_;
    return;
  }
  auto i = static_cast<size_t>(cpu);
  if (i >= cpus_.size()) cpus_.resize(i + 1);
  Cpu& c = cpus_[i];
  // Unwrap the 32-bit counter around the newest number seen: a step is taken to be the
  // shorter way round, so both wrap-around and slightly late messages land right.
  uint64_t unwrapped;
  if (!c.seen) {
    unwrapped = (uint64_t{1} << 32) + seq;  // room below for late messages
    c.seen = true;
    c.newest = unwrapped;
  } else {
    auto step = static_cast<int32_t>(seq - static_cast<uint32_t>(c.newest));
    unwrapped = static_cast<uint64_t>(static_cast<int64_t>(c.newest) + step);
    if (unwrapped > c.newest) c.newest = unwrapped;
  }
  c.pending.emplace(unwrapped, ts_ns);
}

void SeqGapFinder::settle(uint64_t watermark_ns, std::vector<Gap>& gaps) {
  for (size_t i = 0; i < cpus_.size(); ++i) {
    Cpu& c = cpus_[i];
    while (!c.pending.empty() && c.pending.begin()->second <= watermark_ns) {
      auto [seq, ts] = *c.pending.begin();
      c.pending.erase(c.pending.begin());
      if (!c.started) {
        c.started = true;
        c.next = seq + 1;
      } else if (seq >= c.next) {
        if (seq > c.next) gaps.push_back(Gap{static_cast<int32_t>(i), seq - c.next, ts});
        c.next = seq + 1;
      }
      // seq < next: a duplicate or a message from before the baseline: not a gap.
    }
  }
}

}  // namespace proctrail
