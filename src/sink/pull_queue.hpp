// PullQueue: the sink behind Monitor::poll() and Monitor::fd(). Events wait here, up to a
// capacity, for the embedder's thread to take them; beyond it they are dropped, counted, and
// the next take() starts with a lost record that says how many.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>

#include "proctrail/sink.hpp"
#include "util/unique_fd.hpp"

namespace proctrail {

class PullQueue final : public Sink {
 public:
  explicit PullQueue(size_t capacity);

  Status write(std::span<const Event> events) override;
  Status close() override;

  // Waits up to timeout for events, then moves out all that wait. After close(), returns at
  // once. Called by the embedder's thread.
  void take(std::chrono::milliseconds timeout, std::vector<Event>& out);
  // Readable while events wait.
  [[nodiscard]] int fd() const { return wake_.get(); }
  [[nodiscard]] uint64_t dropped() const;

 private:
  size_t capacity_;
  UniqueFd wake_;  // eventfd
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> events_;
  uint64_t dropped_ = 0, unreported_ = 0;
  bool closed_ = false;
};

}  // namespace proctrail
