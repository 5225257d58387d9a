// EventOrderer: puts events in timestamp order, and holds each exec whose /proc read needs a
// verdict until verify::ExecReadVerifier can give one.
//
// Events from different CPUs reach user space slightly out of order; the receive stage puts
// them in order as it applies them to the process table, so they arrive here in order but for
// the records the stages add themselves (a resync, a lost record). Those are put in place on
// arrival, so there is one sort on the way, not two. A source's watermark says every event up
// to that time has been delivered; events are released in timestamp order once the watermark
// has passed them, and an exec with a /proc read once its verdict is in.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "proctrail/event.hpp"
#include "verify/exec_read.hpp"

namespace proctrail {

struct OrdererOptions {
  uint64_t exec_guard_ns = 20'000'000;
  // Beyond this many held events, or this many bytes of them (approx_bytes), the oldest are
  // released without waiting (a stalled source, or processes with huge command lines).
  size_t max_pending = 1 << 18;
  size_t max_pending_bytes = 32 << 20;
  // Fold a PATH search (execvp trying one directory after another) into one record: the tries
  // that a later exec of the process satisfied are dropped, and a search that failed in the
  // end is one failed-exec record listing what it tried. Off: every try as it came.
  bool fold_path_searches = true;
  // How long after a failed try the process's next event may come and still end the search
  // (the next try, or the exec that found the program). Longer than the exec guard: loading
  // a program can take tens of milliseconds (30 ms under qemu; a cold disk). A try waits for
  // it only while its process has done nothing since; once it has, the try is decided.
  uint64_t path_search_window_ns = 250'000'000;
};

class EventOrderer {
 public:
  explicit EventOrderer(OrdererOptions options = {})
      : options_(options), verifier_(options.exec_guard_ns) {}

  void push(Event e);
  // Appends to out, in timestamp order, every event the watermark lets go.
  void advance(uint64_t watermark_ns, std::vector<Event>& out);
  // End of stream: releases everything, judging held execs by what has been seen.
  void finish(std::vector<Event>& out);

  [[nodiscard]] size_t pending() const { return events_.size(); }
  // Exec reads withdrawn as unverified so far.
  [[nodiscard]] uint64_t superseded() const { return verifier_.withdrawn(); }
  // Failed execs folded into a PATH search's record, or dropped as tries it satisfied.
  [[nodiscard]] uint64_t folded() const { return folded_; }

 private:
  using Key = verify::ExecReadVerifier::Key;
  using Held = std::pair<Key, Event>;
  using Iter = std::deque<Held>::iterator;

  void release(Iter it, std::vector<Event>& out);
  // A failed exec that may be a try of a PATH search: false while later events within the
  // guard may still tell. Once they can, drops it (satisfied, or folded into the next try).
  enum class Fold { Wait, Keep, Drop };
  Fold fold_path_search(Iter it, bool force);

  OrdererOptions options_;
  verify::ExecReadVerifier verifier_;
  std::deque<Held> events_;  // in key order; taken from the front
  size_t bytes_ = 0;         // approx_bytes of events_
  uint64_t arrivals_ = 0;
  uint64_t folded_ = 0;
  uint64_t watermark_ = 0;
};

}  // namespace proctrail
