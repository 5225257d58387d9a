#include "pipeline/event_orderer.hpp"

#include <algorithm>

#include "model/event_size.hpp"

namespace proctrail {

void EventOrderer::push(Event e) {
  if (e.type() == EventType::Lost) verifier_.on_loss(e.ts_ns);
  Key key{e.ts_ns, arrivals_++};
  verifier_.add(key, e);
  bytes_ += approx_bytes(e);
  events_.emplace(key, std::move(e));
}

void EventOrderer::release(Iter it, std::vector<Event>& out) {
  verifier_.remove(it->first, it->second);
  bytes_ -= std::min(bytes_, approx_bytes(it->second));
  out.push_back(std::move(it->second));
  events_.erase(it);
}

void EventOrderer::advance(uint64_t watermark_ns, std::vector<Event>& out) {
  if (watermark_ns > watermark_) watermark_ = watermark_ns;
  while (!events_.empty()) {
    Iter it = events_.begin();
    const bool overfull =
        events_.size() > options_.max_pending || bytes_ > options_.max_pending_bytes;
    if (it->first.first > watermark_ && !overfull) break;
    if (!verifier_.settle(it->first, it->second, watermark_, overfull, verify::kTooManyHeld)) {
      break;  // its verdict needs later events
    }
    release(it, out);
  }
}

void EventOrderer::finish(std::vector<Event>& out) {
  while (!events_.empty()) {
    Iter it = events_.begin();
    verifier_.settle(it->first, it->second, watermark_, true, verify::kStopped);
    release(it, out);
  }
}

}  // namespace proctrail
