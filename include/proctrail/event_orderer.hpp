// EventOrderer: puts events in timestamp order and proves that each exec's /proc read saw the
// program of that exec, not of a later one.
//
// Ordering: events from different CPUs reach user space slightly out of order. A source's
// watermark says every event up to that time has been delivered; events are released in
// timestamp order once the watermark has passed them.
//
// Exec verification. An exec event carries only a pid; /proc is read a moment later. If the
// process execs again in between, the read sees the second program: the classic wrong argv.
// If it exits and its pid goes to a new process, the read sees that one. Each read records
// its time window and, from /proc/PID/stat read last, the identity of the image it saw
// (argument area addresses, randomised per exec).
//
// Pid reuse first. The process of exec k lives until its exit event x (the one that ends
// it); a fork f that creates a process with the same pid comes after that. If the read
// ended before x, the process was alive all along: the read is its own. If it ended after x
// and a fork f came no later than `exec_guard_ns` after the read ended (a new process is
// visible in /proc a little before its fork event), the read may have seen the new process:
// everything read from /proc is withdrawn, and the note says the pid was reused.
//
// Then later execs. Let j be the next exec of k's process (before x and f) whose event came
// no later than `exec_guard_ns` after k's read ended. k's read is trusted when
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
  // Whether exec k's read may have seen another process that took the pid.
  bool read_after_reuse(Iter it) const;
  // Settles the exec at it, if it is one: false when it must wait. With force it settles
  // anyway, withdrawing what cannot be vouched for.
  bool judge(Iter it, bool force, std::string_view uncovered_why);
  void release(Iter it, std::vector<Event>& out);
  void withdraw(ExecDetails& d, Withdraw what, std::string_view why);
  // The first key in by_pid[pid] after `after`, if any.
  static const Key* first_after(const std::unordered_map<int32_t, std::set<Key>>& by_pid,
                                int32_t pid, const Key& after);
  void index(const Key& key, const Event& e);
  void unindex(const Key& key, const Event& e);

  OrdererOptions options_;
  std::map<Key, Event> events_;
  std::unordered_map<int32_t, std::set<Key>> execs_by_pid_;
  // Events that bound a process's life on its pid: forks that create a process with that pid,
  // and exits that end one.
  std::unordered_map<int32_t, std::set<Key>> births_by_pid_;
  std::unordered_map<int32_t, std::set<Key>> ends_by_pid_;
  uint64_t arrivals_ = 0;
  uint64_t watermark_ = 0;
  uint64_t superseded_ = 0;
};

}  // namespace proctrail
