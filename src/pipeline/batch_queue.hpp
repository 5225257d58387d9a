// BatchQueue: the bounded hand-over from the receive thread to the output thread.
//
// Single producer, single consumer; bounded by the number of events it holds and by their
// size (approx_bytes): what a monitored process controls must not grow it. The consumer is
// woken by time, not by every batch: the orderer holds events for the exec guard anyway, and a
// thread wakeup per event would cost more than handling the event.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include "model/event_size.hpp"
#include "proctrail/event.hpp"

namespace proctrail {

struct Batch {
  std::vector<Event> events;
  uint64_t watermark_ns = 0;
  size_t bytes = 0;  // approx_bytes of the events, summed by the producer
};

class BatchQueue {
 public:
  BatchQueue(size_t capacity, size_t capacity_bytes)
      : capacity_(capacity), capacity_bytes_(capacity_bytes), wake_at_(capacity / 8) {}

  // Takes the batch, or leaves it as it was and returns false when it does not fit. Batches
  // without events always fit: they only carry the watermark forward.
  bool try_push(Batch& b) {
    bool wake = false;
    {
      std::lock_guard lock(mu_);
      if (!b.events.empty() &&
          (held_ + b.events.size() > capacity_ || bytes_ + b.bytes > capacity_bytes_)) {
        return false;
      }
      held_ += b.events.size();
      bytes_ += b.bytes;
      q_.push_back(std::move(b));
      wake = held_ >= wake_at_;
    }
    if (wake) cv_.notify_one();
    return true;
  }

  // For the last batch of a run: in even when the queue is full, so nothing goes unsaid.
  void push_anyway(Batch&& b) {
    {
      std::lock_guard lock(mu_);
      held_ += b.events.size();
      bytes_ += b.bytes;
      q_.push_back(std::move(b));
    }
    cv_.notify_one();
  }

  // Waits up to `period` (less when the queue fills up or a wake is asked for), then takes
  // every batch queued. False once the queue is closed and empty.
  bool take_all(std::deque<Batch>& out, std::chrono::milliseconds period) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, period, [this] { return held_ >= wake_at_ || closed_ || poke_; });
    poke_ = false;
    out.clear();
    out.swap(q_);
    held_ = 0;
    bytes_ = 0;
    return !(closed_ && out.empty());
  }

  [[nodiscard]] size_t capacity() const { return capacity_; }
  [[nodiscard]] size_t capacity_bytes() const { return capacity_bytes_; }

  // Wakes the consumer now (it has something to do besides the queue).
  void poke() {
    {
      std::lock_guard lock(mu_);
      poke_ = true;
    }
    cv_.notify_one();
  }

  void close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> q_;
  size_t held_ = 0;
  size_t bytes_ = 0;
  size_t capacity_;
  size_t capacity_bytes_;
  size_t wake_at_;
  bool closed_ = false;
  bool poke_ = false;
};

}  // namespace proctrail
