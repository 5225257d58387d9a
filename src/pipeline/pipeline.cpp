#include "proctrail/pipeline.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "proctrail/clock.hpp"

namespace proctrail {

namespace {

constexpr uint64_t kSecond = 1'000'000'000;

struct Batch {
  std::vector<Event> events;
  uint64_t watermark_ns = 0;
};

// Single producer, single consumer; bounded by the number of events it holds. The consumer
// is woken by time, not by every batch: the orderer holds events for the exec guard anyway,
// and a thread wakeup per event would cost more than handling the event.
class BatchQueue {
 public:
  explicit BatchQueue(size_t capacity) : capacity_(capacity), wake_at_(capacity / 8) {}

  // Takes the batch, or leaves it as it was and returns false when it does not fit. Batches
  // without events always fit: they only carry the watermark forward.
  bool try_push(Batch& b) {
    bool wake = false;
    {
      std::lock_guard lock(mu_);
      if (!b.events.empty() && held_ + b.events.size() > capacity_) return false;
      held_ += b.events.size();
      q_.push_back(std::move(b));
      wake = held_ >= wake_at_;
    }
    if (wake) cv_.notify_one();
    return true;
  }

  // Waits up to `period` (less when the queue fills up), then takes every batch queued.
  // False once the queue is closed and empty.
  bool take_all(std::deque<Batch>& out, std::chrono::milliseconds period) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, period, [this] { return held_ >= wake_at_ || closed_; });
    out.clear();
    out.swap(q_);
    held_ = 0;
    return !(closed_ && out.empty());
  }

  // For the last batch of a run: in even when the queue is full, so nothing goes unsaid.
  bool push_anyway(Batch&& b) {
    {
      std::lock_guard lock(mu_);
      held_ += b.events.size();
      q_.push_back(std::move(b));
    }
    cv_.notify_one();
    return true;
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
  size_t capacity_;
  size_t wake_at_;
  bool closed_ = false;
};

Event make_stream_event(EventData data, const ClockSync& clock) {
  Event e;
  e.ts_ns = monotonic_now_ns();
  e.wall_ns = clock.to_wall_ns(e.ts_ns);
  e.data = std::move(data);
  return e;
}

}  // namespace

Pipeline::Pipeline(EventSource& source, Enricher* enricher, Formatter& formatter, int out_fd,
                   PipelineOptions options)
    : source_(source),
      enricher_(enricher),
      formatter_(formatter),
      out_fd_(out_fd),
      options_(std::move(options)) {}

Status Pipeline::run(const std::atomic<bool>& stop) {
  ClockSync clock;
  Enricher* enricher = enricher_;
  if (enricher) {
    if (auto s = enricher->seed(clock); !s) return s;
  }

  BatchQueue queue(options_.queue_capacity);
  std::atomic<bool> output_closed{false};
  Status output_status;

  // The output thread: order, filter, format, write.
  std::thread writer([&] {
    EventOrderer orderer(options_.ordering);
    UserNames users;
    std::string buf;
    std::vector<Event> ready;
    bool failed = false;
    auto flush = [&] {
      size_t off = 0;
      while (off < buf.size() && !failed) {
        ssize_t n = ::write(out_fd_, buf.data() + off, buf.size() - off);
        if (n >= 0) {
          off += static_cast<size_t>(n);
        } else if (errno == EPIPE) {
          output_closed = true;  // the reader went away (| head): a quiet end
          failed = true;
        } else if (errno != EINTR) {
          output_status = system_error("write output");
          output_closed = true;
          failed = true;
        }
      }
      buf.clear();
    };
    auto emit = [&] {
      for (Event& e : ready) {
        if (auto* x = std::get_if<ExecData>(&e.data); x && x->details) {
          ExecDetails& d = *x->details;
          ++stats_.execs;
          if (d.argv_source == ArgvSource::Kernel) ++stats_.argv_kernel;
          if (d.argv_source == ArgvSource::Procfs) ++stats_.argv_procfs;
          if (d.argv_source == ArgvSource::Unavailable) ++stats_.argv_unavailable;
          if (d.creds && !d.user) {
            if (const std::string* name = users.lookup(d.creds->uid)) d.user = *name;
          }
        }
        if (failed) continue;
        formatter_.format(e, buf);
        ++stats_.written;
        if (buf.size() >= 64 * 1024) flush();
      }
      ready.clear();
      if (!buf.empty()) flush();
    };
    if (options_.text_header) formatter_.header(buf);
    if (options_.start) {
      // The start record heads the stream, ahead of anything the kernel sent meanwhile.
      ready.push_back(make_stream_event(*options_.start, ClockSync{}));
      emit();
    }
    uint32_t hangups_seen = options_.hangups ? options_.hangups->load() : 0;
    auto on_hangup = [&] {
      if (!options_.hangups || options_.hangups->load() == hangups_seen) return;
      hangups_seen = options_.hangups->load();
      if (!options_.reopen_output || failed) return;  // a terminal or a pipe: carry on
      auto fd = options_.reopen_output();
      if (!fd) {
        output_status = fd.error();
        output_closed = true;
        failed = true;
        return;
      }
      if (out_fd_ != *fd) ::close(out_fd_);
      out_fd_ = *fd;
    };
    std::deque<Batch> batches;
    while (queue.take_all(batches, options_.output_interval)) {
      on_hangup();
      uint64_t watermark = 0;
      for (Batch& b : batches) {
        for (Event& e : b.events) {
          if (options_.events.accepts(e)) orderer.push(std::move(e));
        }
        watermark = std::max(watermark, b.watermark_ns);
      }
      orderer.advance(watermark, ready);
      emit();
    }
    orderer.finish(ready);
    emit();
    stats_.superseded = orderer.superseded();
  });

  // This thread receives. Raise its priority only now: the writer must not inherit it.
  if (options_.priority != Priority::Normal) {
    stats_.priority = "receive thread: " + raise_thread_priority(options_.priority);
    if (options_.verbose) options_.verbose(stats_.priority);
  }

  Status status;
  // Received but not yet applied to the process table: the sources deliver in watermark
  // order, not timestamp order (an exec from a CPU's reader may come after the exit the
  // receive socket already had), and the table must see each process's events in order.
  std::vector<Event> held;
  uint64_t dropped = 0;          // events dropped at the queue, not yet reported in the stream
  bool dropped_unknown = false;  // a dropped lost record of unknown size was among them
  uint64_t last_housekeeping = monotonic_now_ns(), last_resync = 0;
  bool resync_due = false;
  uint64_t stop_at = 0;
  auto by_time = [](const Event& a, const Event& b) { return a.ts_ns < b.ts_ns; };

  // Applies the held events up to `upto` to the table, in order, and queues them.
  auto forward = [&](uint64_t upto, uint64_t watermark, bool final) {
    auto cut = std::upper_bound(held.begin(), held.end(), upto,
                                [](uint64_t t, const Event& e) { return t < e.ts_ns; });
    Batch batch;
    batch.events.assign(std::make_move_iterator(held.begin()), std::make_move_iterator(cut));
    held.erase(held.begin(), cut);
    for (Event& e : batch.events) {
      if (enricher) enricher->process(e, clock);
      if (e.type() == EventType::Lost) resync_due = true;
    }
    const uint64_t now = monotonic_now_ns();
    if (enricher && enricher->tracks_processes() && resync_due &&
        (now - last_resync > kSecond || final)) {
      Event r = enricher->resync(clock);
      r.ts_ns = std::max(r.ts_ns, batch.events.empty() ? watermark : batch.events.back().ts_ns);
      batch.events.push_back(std::move(r));
      ++stats_.resyncs;
      resync_due = false;
      last_resync = now;
    }
    if (dropped > 0 || dropped_unknown) {
      std::string why = "output queue full: the writer fell behind";
      if (dropped_unknown) why += " (losses of unknown size were among what it dropped)";
      Event lost = make_stream_event(LostData{dropped, why}, clock);
      lost.ts_ns = batch.events.empty() ? watermark : batch.events.front().ts_ns;
      batch.events.insert(batch.events.begin(), std::move(lost));
    }
    batch.watermark_ns = watermark;
    const bool reported = dropped > 0 || dropped_unknown;
    if (final ? queue.push_anyway(std::move(batch)) : queue.try_push(batch)) {
      if (reported) {
        dropped = 0;
        dropped_unknown = false;
      }
      return;
    }
    const std::vector<Event>& refused = batch.events;
    for (size_t i = reported ? 1 : 0; i < refused.size(); ++i) {
      const auto* l = std::get_if<LostData>(&refused[i].data);
      if (!l) {
        ++dropped;
        ++stats_.queue_drops;
      } else if (l->count) {
        dropped += *l->count;  // a dropped loss record still counts what it stood for
      } else {
        dropped_unknown = true;
      }
    }
  };

  for (;;) {
    uint64_t now = monotonic_now_ns();
    if (output_closed) break;
    if (stop.load(std::memory_order_relaxed) && stop_at == 0) {
      // Keep receiving a little longer, so that held execs can be verified and what the
      // kernel queued before the stop is written.
      stop_at = now + options_.ordering.exec_guard_ns +
                2 * static_cast<uint64_t>(options_.poll_interval.count()) * 1'000'000;
    }
    if (stop_at != 0 && now >= stop_at) break;

    const size_t before = held.size();
    if (auto s = source_.poll(options_.poll_interval, held); !s) {
      status = s;
      break;
    }
    if (held.size() != before) {
      std::stable_sort(held.begin() + static_cast<long>(before), held.end(), by_time);
      std::inplace_merge(held.begin(), held.begin() + static_cast<long>(before), held.end(),
                         by_time);
    }
    const uint64_t watermark = source_.watermark_ns();
    forward(watermark, watermark, false);
    now = monotonic_now_ns();
    if (now - last_housekeeping > kSecond) {
      clock.refresh();
      if (enricher) enricher->expire(now);
      last_housekeeping = now;
    }
  }
  // Whatever is still held goes out, and so does the count of anything dropped.
  if (!output_closed) forward(UINT64_MAX, source_.watermark_ns(), true);
  queue.close();
  writer.join();
  output_closed_ = output_closed;
  stats_.source = source_.stats();
  if (enricher) stats_.table_size = enricher->table().size();
  if (!status) return status;
  return output_status;
}

}  // namespace proctrail
