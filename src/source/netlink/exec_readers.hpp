// ExecReaders: a thread per exec channel that runs the exec handler the moment an exec event
// arrives, on the CPU the exec happened on.
//
// The kernel sends an exec event from the CPU the process runs on. Each reader is pinned to
// its channel's CPU at real-time priority, so the kernel's wakeup is local and the reader
// preempts the process before it returns from execve: /proc is read while the new program has
// not run. What the readers receive waits in an inbox until the source's poll() takes it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "proctrail/source.hpp"
#include "source/netlink/channel.hpp"
#include "util/sched.hpp"
#include "util/unique_fd.hpp"

namespace proctrail::netlink {

// A message as received: the event, its sender's sequence number, and whether it goes into
// the stream (false: only its sequence number counts, as for other listeners' acks).
struct Received {
  Event event;
  uint32_t seq = 0;
  bool emit = true;
};

// Turns one decoded message into a Received, running the exec handler on exec events.
using Accept =
    std::function<void(cn_proc::Message&&, const ExecHandler* handler, std::vector<Received>& out)>;

class ExecReaders {
 public:
  explicit ExecReaders(Accept accept) : accept_(std::move(accept)) {}
  ~ExecReaders();  // stops and joins the threads
  ExecReaders(const ExecReaders&) = delete;
  ExecReaders& operator=(const ExecReaders&) = delete;

  // Starts a reader per channel; returns once each has set its priority.
  // `keep`: the capabilities each reader keeps once running (reading /proc).
  Status start(const std::vector<Channel*>& channels, const ExecHandlerFactory& factory,
               Priority priority, std::vector<int> keep);

  // Waits up to `timeout` for the inbox to fill (or a reader to fail), then moves out what the
  // readers queued, and, in *drained_ns, the earliest of the times each channel was last found
  // empty: every exec up to then is in out.
  Status take(std::chrono::milliseconds timeout, std::vector<Received>& out, uint64_t* drained_ns);

  // Readable while the inbox holds something (for embedders' event loops). Written only once
  // someone has asked for it: a write per wakeup is a system call per exec.
  [[nodiscard]] int wake_fd() const {
    wake_wanted_ = true;
    return wake_.get();
  }
  // What priority the readers got, for -v.
  [[nodiscard]] std::string priorities() const;

 private:
  void run(size_t index);

  Accept accept_;
  ExecHandlerFactory factory_;
  Priority priority_ = Priority::Normal;
  std::vector<int> keep_;
  std::vector<Channel*> channels_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  UniqueFd wake_;
  mutable std::atomic<bool> wake_wanted_{false};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Received> inbox_;
  std::vector<uint64_t> drained_;  // per channel: found empty at this CLOCK_MONOTONIC time
  std::vector<std::string> priorities_;
  std::optional<Error> error_;
};

}  // namespace proctrail::netlink
