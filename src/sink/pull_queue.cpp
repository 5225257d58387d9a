#include "sink/pull_queue.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include "util/clock.hpp"

namespace proctrail {

PullQueue::PullQueue(size_t capacity) : capacity_(capacity) {
  wake_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
}

Status PullQueue::write(std::span<const Event> events) {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    for (const Event& e : events) {
      if (events_.size() >= capacity_) {
        ++dropped_;
        ++unreported_;
        continue;
      }
      events_.push_back(e);
    }
    wake = !events_.empty();
  }
  if (wake) {
    uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof one);
    cv_.notify_one();
  }
  return {};
}

Status PullQueue::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
  cv_.notify_all();
  return {};
}

void PullQueue::take(std::chrono::milliseconds timeout, std::vector<Event>& out) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [this] { return !events_.empty() || unreported_ || closed_; });
  if (unreported_) {
    Event lost;
    lost.ts_ns = events_.empty() ? monotonic_now_ns() : events_.front().ts_ns;
    ClockSync clock;
    lost.wall_ns = clock.to_wall_ns(lost.ts_ns);
    lost.data =
        LostData{unreported_, "the pull queue was full: poll() was not called often enough"};
    out.push_back(std::move(lost));
    unreported_ = 0;
  }
  for (auto& e : events_) out.push_back(std::move(e));
  events_.clear();
  uint64_t drain;
  (void)!::read(wake_.get(), &drain, sizeof drain);  // empty again, under the lock
}

uint64_t PullQueue::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

}  // namespace proctrail
