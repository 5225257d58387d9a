// Finds lost proc connector messages from gaps in each CPU's sequence numbers.
//
// The kernel numbers the messages it sends from each CPU (cn_msg.seq, a per-CPU u32 counter,
// acks included) and sends them in order, so with no kernel-side filter every message of a
// CPU arrives with the previous number plus one. The counter wraps; the cpu field comes from
// the wire and is not trusted.
#pragma once

#include <cstdint>
#include <vector>

namespace proctrail {

class SeqTracker {
 public:
  static constexpr int32_t kMaxCpus = 8192;

  // Returns how many messages are missing before this one. Out-of-range cpus and numbers
  // at or behind the last seen (duplicates, late reordering) count nothing.
  uint64_t observe(int32_t cpu, uint32_t seq);

  // Forget every CPU's position (after a subscription change).
  void reset() { last_.clear(); }

  [[nodiscard]] uint64_t untracked() const { return untracked_; }

 private:
  // last seen seq + 1 per CPU; 0 means "not seen yet" (stored as value+1 to keep 0 free).
  std::vector<uint64_t> last_;
  uint64_t untracked_ = 0;
};

}  // namespace proctrail
