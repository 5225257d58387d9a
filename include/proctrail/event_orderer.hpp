// EventOrderer: puts events in timestamp order and proves that each exec's /proc read saw the
// program of that exec, not of a later one.
//
// Ordering: events from different CPUs reach user space slightly out of order. A source's
// watermark says every event up to that time has been delivered; events are released in
// timestamp order once the watermark has passed them.
//
// Exec verification. An exec event carries only a pid; /proc is read a moment later. If the
// process execs again in between, the read sees the second program: the classic wrong argv.
// Each read records its time window and, from /proc/PID/stat read last, the identity of the
// image it saw (argument area addresses, randomised per exec). For exec k of a pid, let j be
// the next exec of that pid whose event came no later than `exec_guard_ns` after k's read
// ended. Then k's read is trusted when
//   - there is no such j: j's image replaced k's after k's read finished (the kernel sends an
//     exec event within the guard time of replacing the image), or
//   - j's read is itself trusted and saw a different image than k's read.
// Otherwise the program-dependent fields read from /proc (argv, exe, credentials, comm,
// environment) are withdrawn and the event says why. So are held reads when a lost record
// arrives (the lost event may have been that later exec), and reads released before their
// guard passed (at shutdown, or when too many events are held). An exec is held until its verdict
// is known, i.e. until the watermark passes its read end plus the guard.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proctrail/event.hpp"

namespace proctrail {

struct OrdererOptions {
  uint64_t exec_guard_ns = 20'000'000;
  // Beyond this many held events the oldest are released without waiting (a stalled source).
  size_t max_pending = 1 << 18;
};

class EventOrderer {
 public:
  explicit EventOrderer(OrdererOptions options = {}) : options_(options) {}

  void push(Event e);
  // Appends to out, in timestamp order, every event the watermark lets go.
  void advance(uint64_t watermark_ns, std::vector<Event>& out);
  // End of stream: releases everything, judging held execs by what has been seen.
  void finish(std::vector<Event>& out);

  [[nodiscard]] size_t pending() const { return events_.size(); }
  [[nodiscard]] uint64_t superseded() const { return superseded_; }

 private:
  using Key = std::pair<uint64_t, uint64_t>;  // (timestamp, arrival number)
  using Iter = std::map<Key, Event>::iterator;

  // true: trusted; false: withdraw; nullopt: not decidable yet (force decides with what's known).
  std::optional<bool> verdict(Iter it, bool force, int depth);
  // Settles the exec at it, if it is one: false when it must wait. With force it settles
  // anyway, withdrawing what cannot be vouched for.
  bool judge(Iter it, bool force, std::string_view uncovered_why);
  void release(Iter it, std::vector<Event>& out);
  void withdraw(ExecDetails& d, std::string_view why);

  OrdererOptions options_;
  std::map<Key, Event> events_;
  std::unordered_map<int32_t, std::set<Key>> execs_by_pid_;
  uint64_t arrivals_ = 0;
  uint64_t watermark_ = 0;
  uint64_t superseded_ = 0;
};

}  // namespace proctrail
