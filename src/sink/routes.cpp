#include "sink/routes.hpp"

#include <algorithm>

namespace proctrail {

Status SinkRoutes::deliver(Route& r, std::span<const Event> events) {
  if (events.empty() || r.sink->closed()) return {};
  Status said;
  if (r.missed > 0) {
    // Back from a failure: first the count of what it missed, in its own stream, written on
    // its own: once it is through, that count is said, whatever becomes of the batch after it
    // (a sink that sends event by event may fail half-way through a batch).
    Event lost;
    lost.ts_ns = events.front().ts_ns;
    lost.wall_ns = events.front().wall_ns;
    lost.data = LostData{r.missed, r.name + " could not take them: " + r.why};
    said = r.sink->write(std::span<const Event>(&lost, 1));
    if (said) {
      std::lock_guard lock(mu_);
      r.missed = 0;
    }
  }
  Status s = said ? r.sink->write(events) : said;
  std::lock_guard lock(mu_);
  if (s) {
    r.stats.written += events.size();
    return {};
  }
  if (r.policy == FailurePolicy::Fatal) return s;
  count_missed(r, events.size(), s.error().message);
  return {};
}

// A degrading sink's failure: the failed call's own events and those of earlier calls that it
// lost with it (taken, and counted written, then) are missed, to be said in its stream.
void SinkRoutes::count_missed(Route& r, uint64_t events, const std::string& why) {
  const uint64_t earlier = r.sink->take_lost_earlier();
  r.stats.last_error = why;
  if (events + earlier == 0) return;  // a tick or a reopen that failed, and lost nothing
  if (r.missed == 0) ++r.stats.failures;
  r.missed += events + earlier;
  r.stats.failed += events + earlier;
  r.stats.written -= std::min(r.stats.written, earlier);
  r.why = why;
}

Status SinkRoutes::write(std::span<const Event> events) {
  Status first;
  std::vector<Event> mine;
  for (Route& r : routes_) {
    mine.clear();
    for (const Event& e : events) {
      if (r.filter->accept(e)) mine.push_back(e);
    }
    if (auto s = deliver(r, mine); !s && first) first = s;
  }
  return first;
}

template <class F>
Status SinkRoutes::each(F&& f) {
  Status first;
  for (Route& r : routes_) {
    Status s = f(*r.sink);
    if (s || r.policy == FailurePolicy::Fatal) {
      if (!s && first) first = s;
      continue;
    }
    std::lock_guard lock(mu_);
    count_missed(r, 0, s.error().message);
  }
  return first;
}

Status SinkRoutes::flush() {
  return each([](Sink& s) { return s.flush(); });
}

Status SinkRoutes::close() {
  Status first;
  for (Route& r : routes_) {
    // A degrading sink that never took its missed events back says so at its end.
    if (r.missed > 0 && !r.sink->closed()) {
      Event lost;
      lost.data = LostData{r.missed, r.name + " could not take them: " + r.why};
      if (Status said = r.sink->write(std::span<const Event>(&lost, 1)); !said) {
        std::lock_guard lock(mu_);
        count_missed(r, 0, said.error().message);  // in the counts, at least
      }
    }
    Status s = r.sink->close();
    if (!s && r.policy == FailurePolicy::Fatal && first) first = s;
    if (!s && r.policy == FailurePolicy::Degrade) {
      std::lock_guard lock(mu_);
      count_missed(r, 0, s.error().message);  // too late to be said but in the counts
    }
  }
  return first;
}

Status SinkRoutes::running(std::span<const Event> processes) {
  std::vector<Event> mine;
  return each([&](Sink& s) {
    mine.clear();
    for (const Route& r : routes_) {
      if (r.sink.get() != &s) continue;
      for (const Event& e : processes) {
        if (r.filter->in_scope(e)) mine.push_back(e);
      }
    }
    return s.running(mine);
  });
}

bool SinkRoutes::keeps_history() const {
  for (const Route& r : routes_) {
    if (r.sink->keeps_history()) return true;
  }
  return false;
}

Status SinkRoutes::reopen() {
  return each([](Sink& s) { return s.reopen(); });
}

Status SinkRoutes::tick() {
  return each([](Sink& s) { return s.closed() ? Status{} : s.tick(); });
}

void SinkRoutes::cancel() {
  for (Route& r : routes_) r.sink->cancel();
}

bool SinkRoutes::closed() const {
  bool any_fatal = false;
  for (const Route& r : routes_) {
    if (r.policy != FailurePolicy::Fatal) continue;
    any_fatal = true;
    if (!r.sink->closed()) return false;
  }
  if (any_fatal) return true;
  for (const Route& r : routes_) {
    if (!r.sink->closed()) return false;
  }
  return !routes_.empty();
}

size_t SinkRoutes::followed() const {
  for (const Route& r : routes_) {
    if (!r.filter->filter().pids.empty()) return r.filter->followed();
  }
  return 0;
}

std::vector<SinkStats> SinkRoutes::stats() const {
  std::lock_guard lock(mu_);
  std::vector<SinkStats> out;
  for (const Route& r : routes_) {
    out.push_back(r.stats);
    out.back().name = r.name;
  }
  return out;
}

}  // namespace proctrail
