// Finds lost proc connector messages from gaps in each CPU's sequence numbers.
//
// The kernel numbers the messages it sends from each CPU (cn_msg.seq: a per-CPU u32 counter,
// acks included) and sends them in that order. proctrail may read one CPU's messages from
// several sockets (exec events on a socket per CPU, the rest on another), each holding a
// subsequence; the numbers are merged here, and a missing number counts as lost only once
// every socket has been read past its time: the caller's watermark. The counter wraps; the cpu
// field comes from the wire and is not trusted.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

namespace proctrail {

class SeqGapFinder {
 public:
  static constexpr int32_t kMaxCpus = 8192;

  struct Gap {
    int32_t cpu = 0;
    uint64_t count = 0;
    uint64_t ts_ns = 0;  // timestamp of the first message after the gap
  };

  void add(int32_t cpu, uint32_t seq, uint64_t ts_ns);
  // Every message sent up to watermark_ns has been added: settles those, in sequence order per
  // CPU, and appends the gaps between them. A CPU's first settled message is its baseline.
  void settle(uint64_t watermark_ns, std::vector<Gap>& gaps);

  [[nodiscard]] uint64_t untracked() const { return untracked_; }

 private:
  struct Cpu {
    bool seen = false;
    uint64_t newest = 0;  // largest unwrapped number added so far
    bool started = false;
    uint64_t next = 0;                     // the number expected after the last settled one
    std::map<uint64_t, uint64_t> pending;  // unwrapped number -> timestamp
  };
  std::vector<Cpu> cpus_;
  uint64_t untracked_ = 0;
};

}  // namespace proctrail
