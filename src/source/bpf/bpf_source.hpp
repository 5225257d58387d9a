// BpfSource: fork, exec and exit from eBPF programs on BTF tracepoints; the command line is
// read inside the kernel at exec, before the new program runs.
//
// Promises:
//  - argv is the exec's own, byte for byte, up to max_argv_bytes with the real size and
//    argument count, whatever the process does afterwards (exit at once, rewrite its argv);
//  - records that did not fit in the ring buffer are counted per CPU in the kernel and come
//    out as LostData events;
//  - it gives fork, exec and exit only: no tracepoint here carries uid, gid, sid, ptrace, comm
//    or coredump events (the monitor combines it with a proc connector source for those);
//  - start() fails with one clear line where eBPF cannot work: no BTF, no privilege, a
//    program the kernel refuses.
#pragma once

#include <memory>
#include <optional>

#include "proctrail/event.hpp"
#include "proctrail/filter.hpp"
#include "proctrail/source.hpp"

namespace proctrail {

struct BpfOptions {
  EventMask events = EventMask::all();
  size_t max_argv_bytes = 128 * 1024;
  size_t ring_buffer_bytes = 2 << 20;  // a power of two
  // Only these processes and their descendants, decided in the kernel: the programs follow
  // the trees through forks, and nothing of other processes enters the ring buffer. Empty:
  // every process.
  std::vector<int32_t> follow_pids;
};

class BpfSource final : public EventSource {
 public:
  explicit BpfSource(BpfOptions options);
  ~BpfSource() override;
  BpfSource(const BpfSource&) = delete;
  BpfSource& operator=(const BpfSource&) = delete;

  // With a handler the exec records wake the consumer at once (the handler races the process
  // to /proc); without one they are collected on a timer.
  void set_exec_handler(ExecHandlerFactory factory) override;
  Status start() override;
  Status poll(std::chrono::milliseconds timeout, std::vector<Event>& out) override;
  [[nodiscard]] uint64_t watermark_ns() const override;
  [[nodiscard]] int fd() const override;
  [[nodiscard]] SourceStats stats() const override;
  [[nodiscard]] std::string_view name() const override { return "bpf"; }
  [[nodiscard]] std::vector<std::string> notes() const override;

  // The largest max_argv_bytes the kernel side supports.
  static size_t argv_limit();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace proctrail
