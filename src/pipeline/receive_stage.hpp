// ReceiveStage: the receive thread's work.
//
// It takes events from the source, holds them until the source's watermark passes them and
// applies them to the process table in timestamp order (a CPU's exec reader may hand over an
// exec after the receive socket delivered that process's exit), then queues them for the
// output thread. When the queue is full it drops whole batches, and the next batch that fits
// starts with a lost record counting them (a source that is not live, a recording, waits for
// room instead). After a live loss it rebuilds the table from /proc and a resync record says
// so. The urgent /proc reads happen earlier, in the source's exec handlers.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

#include "enrich/enricher.hpp"
#include "pipeline/batch_queue.hpp"
#include "proctrail/source.hpp"
#include "util/clock.hpp"

namespace proctrail {

class ReceiveStage {
 public:
  struct Options {
    std::chrono::milliseconds poll_interval{50};
    // After a stop is asked for, receiving goes on this long, so held execs can be verified
    // and what the kernel queued before the stop is written.
    uint64_t linger_ns = 0;
  };

  ReceiveStage(EventSource& source, Enricher* enricher, BatchQueue& queue, Options options)
      : source_(source), enricher_(enricher), queue_(queue), options_(options) {}

  // Runs until `stop` (then lingers) or `give_up` (the output is gone: at once). Returns the
  // source's error, if any. Everything received goes out in a last batch.
  Status run(const std::atomic<bool>& stop, const std::atomic<bool>& give_up);

  [[nodiscard]] uint64_t queue_drops() const { return queue_drops_; }
  [[nodiscard]] uint64_t resyncs() const { return resyncs_; }

 private:
  // Applies the held events up to `upto` to the table, in order, and queues them.
  void forward(uint64_t upto, uint64_t watermark, bool final);
  void account_refused(const std::vector<Event>& refused, size_t from);

  EventSource& source_;
  Enricher* enricher_;
  BatchQueue& queue_;
  Options options_;
  ClockSync clock_;
  std::vector<Event> held_;       // received, not yet applied to the table: sorted by time
  uint64_t dropped_ = 0;          // events dropped at the queue, not yet reported in the stream
  bool dropped_unknown_ = false;  // a dropped lost record of unknown size was among them
  const std::atomic<bool>* give_up_ = nullptr;
  uint64_t last_resync_ = 0;
  bool resync_due_ = false;
  std::atomic<uint64_t> queue_drops_{0};
  std::atomic<uint64_t> resyncs_{0};
};

}  // namespace proctrail
