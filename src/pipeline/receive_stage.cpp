#include "pipeline/receive_stage.hpp"

#include <algorithm>
#include <thread>

namespace proctrail {

namespace {

constexpr uint64_t kSecond = 1'000'000'000;

Event stream_event(EventData data, uint64_t ts, const ClockSync& clock) {
  Event e;
  e.ts_ns = ts;
  e.wall_ns = clock.to_wall_ns(ts);
  e.data = std::move(data);
  return e;
}

}  // namespace

void ReceiveStage::account_refused(const std::vector<Event>& refused, size_t from) {
  for (size_t i = from; i < refused.size(); ++i) {
    const auto* l = std::get_if<LostData>(&refused[i].data);
    if (!l) {
      ++dropped_;
      ++queue_drops_;
    } else if (l->count) {
      dropped_ += *l->count;  // a dropped loss record still counts what it stood for
    } else {
      dropped_unknown_ = true;
    }
  }
}

void ReceiveStage::forward(uint64_t upto, uint64_t watermark, bool final) {
  auto cut = std::upper_bound(held_.begin(), held_.end(), upto,
                              [](uint64_t t, const Event& e) { return t < e.ts_ns; });
  Batch batch;
  batch.events.assign(std::make_move_iterator(held_.begin()), std::make_move_iterator(cut));
  held_.erase(held_.begin(), cut);
  for (Event& e : batch.events) {
    if (enricher_) enricher_->process(e, clock_);
    if (e.type() == EventType::Lost) resync_due_ = true;
    batch.bytes += approx_bytes(e);
  }
  const uint64_t now = monotonic_now_ns();
  if (enricher_ && enricher_->tracks_processes() && enricher_->live() && resync_due_ &&
      (now - last_resync_ > kSecond || final)) {
    Event r = enricher_->resync(clock_);
    r.ts_ns = std::max(r.ts_ns, batch.events.empty() ? watermark : batch.events.back().ts_ns);
    batch.events.push_back(std::move(r));
    ++resyncs_;
    resync_due_ = false;
    last_resync_ = now;
  }
  const bool report = dropped_ > 0 || dropped_unknown_;
  if (report) {
    std::string why =
        "output queue full (" + std::to_string(queue_.capacity()) + " events or " +
        std::to_string(queue_.capacity_bytes() >> 20) + " MiB of them): the writer fell behind";
    if (dropped_unknown_) why += " (losses of unknown size were among what it dropped)";
    uint64_t ts = batch.events.empty() ? watermark : batch.events.front().ts_ns;
    batch.events.insert(batch.events.begin(),
                        stream_event(LostData{dropped_, std::move(why)}, ts, clock_));
  }
  batch.watermark_ns = watermark;
  if (final) {
    queue_.push_anyway(std::move(batch));
  } else if (!source_.live()) {
    // A recording can wait for the writer: nothing of it is dropped.
    while (!queue_.try_push(batch)) {
      if (give_up_ && give_up_->load(std::memory_order_relaxed)) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  } else if (!queue_.try_push(batch)) {
    account_refused(batch.events, report ? 1 : 0);
    return;
  }
  if (report) {
    dropped_ = 0;
    dropped_unknown_ = false;
  }
}

Status ReceiveStage::run(const std::atomic<bool>& stop, const std::atomic<bool>& give_up) {
  give_up_ = &give_up;
  Status status;
  uint64_t last_housekeeping = monotonic_now_ns(), stop_at = 0;
  auto by_time = [](const Event& a, const Event& b) { return a.ts_ns < b.ts_ns; };
  for (;;) {
    uint64_t now = monotonic_now_ns();
    if (give_up.load(std::memory_order_relaxed)) break;
    if (stop.load(std::memory_order_relaxed) && stop_at == 0) stop_at = now + options_.linger_ns;
    if (stop_at != 0 && now >= stop_at) break;

    const size_t before = held_.size();
    if (auto s = source_.poll(options_.poll_interval, held_); !s) {
      status = s;
      break;
    }
    if (held_.size() != before) {
      auto mid = held_.begin() + static_cast<long>(before);
      std::stable_sort(mid, held_.end(), by_time);
      std::inplace_merge(held_.begin(), mid, held_.end(), by_time);
    }
    const uint64_t watermark = source_.watermark_ns();
    if (source_.exhausted()) break;  // all of it is held: the last batch below takes it
    forward(watermark, watermark, false);
    now = monotonic_now_ns();
    if (now - last_housekeeping > kSecond) {
      clock_.refresh();
      // A recording's tombstones age in its own time.
      if (enricher_) enricher_->expire(source_.live() ? now : watermark);
      last_housekeeping = now;
    }
  }
  // Whatever is still held goes out, and so does the count of anything dropped.
  if (!give_up) forward(UINT64_MAX, source_.watermark_ns(), true);
  return status;
}

}  // namespace proctrail
