// What a user wants to see, and the filter stage that applies it.
//
// A filter is applied on the output side, to events that are already in order, verified and
// enriched, so it can look at anything an event carries. The monitor also derives from it
// what the backend must deliver (more than the filter passes: the process table needs forks
// and exits to know each process), and pushes into the kernel what the kernel can check.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proctrail/event.hpp"
#include "proctrail/result.hpp"

namespace proctrail {

// A set of event types, as selected with --events.
class EventMask {
 public:
  EventMask() = default;
  // Every kernel event type but exec-failed, which costs each system call on the machine a
  // detour (the eBPF backend watches every syscall's return for it) and is asked for by name.
  static EventMask all();
  // "fork,exec,exit,uid,gid,sid,ptrace,comm,coredump,exec-failed,all" plus "nonzero-exit"
  // (exits with a non-zero status only). Unknown names are an error naming the bad word.
  static Result<EventMask> parse(std::string_view list);

  void add(EventType t) { bits_ |= bit(t); }
  void remove(EventType t) { bits_ &= ~bit(t); }
  [[nodiscard]] bool has(EventType t) const { return (bits_ & bit(t)) != 0; }
  [[nodiscard]] bool nonzero_exit_only() const { return nonzero_exit_only_; }
  void set_nonzero_exit_only(bool v) { nonzero_exit_only_ = v; }
  [[nodiscard]] bool covers_all_kernel_events() const;
  [[nodiscard]] bool empty() const { return bits_ == 0; }
  EventMask operator|(const EventMask& o) const;
  bool operator==(const EventMask&) const = default;

  // Whether an event of a kernel type passes this selection (exits with nonzero_exit_only:
  // only those with a non-zero status). Records about the stream itself (ack, lost, resync,
  // start, unknown) always pass.
  [[nodiscard]] bool accepts(const Event& e) const;

 private:
  static constexpr uint32_t bit(EventType t) { return 1u << static_cast<unsigned>(t); }
  uint32_t bits_ = 0;
  bool nonzero_exit_only_ = false;
};

// The user's selection, applied as its own stage (src/filter/filter_stage.hpp). Every
// condition set must hold (AND). Records about the stream itself (lost, resync, start,
// summary) always pass; acks only when asked for (the seed format prints them).
//
// What a condition on the process (user, comm, argv, exe, cgroup, container) looks at: an
// exec's own details; for an exit, the image its process last ran; for any other event, the
// last exec of its process seen since the start (inherited over fork). A process that ran
// before the start and has not exec'd since is known only by what /proc said of it then (its
// name, and for its exit its command line): conditions on other fields do not match it.
struct EventFilter {
  EventMask types = EventMask::all();
  bool acks = false;

  // These processes and all their descendants, including those born after the start
  // (followed through fork events). Empty: every process.
  std::vector<int32_t> pids;
  std::optional<uint32_t> uid;  // real uid
  // Only processes whose real and effective uid are both this: what a user who is not root may
  // see of the machine (its own processes). Unset: every user's.
  std::optional<uint32_t> owner_uid;
  std::optional<std::string> comm_regex;        // POSIX extended (grep -E), searched
  std::optional<std::string> argv_regex;        // on argv joined by single spaces
  std::optional<std::string> exe_regex;         // on the resolved executable path
  std::optional<std::string> cgroup_prefix;     // of the cgroup path
  std::optional<std::string> container_prefix;  // of the container id
  // Only failures: exits of processes with a non-zero status or a signal, and failed execs.
  bool failed = false;
  // Thread births and ends shown (false: only processes).
  bool threads = true;
  // Only events whose wall-clock time (CLOCK_REALTIME ns) is at or after `since` and before
  // `until` (replay's --since and --until). The process table and the trees still learn from
  // every event, so an exit in the window knows a command that began before it. A start
  // record passes whatever its time: it says what the stream is; lost, resync and summary
  // records are shown only inside the window.
  std::optional<int64_t> since_wall_ns;
  std::optional<int64_t> until_wall_ns;

  // Whether any condition needs to know the process an event is about.
  [[nodiscard]] bool matches_processes() const;
  // Checks the regular expressions; the error names the option's value.
  [[nodiscard]] Status validate() const;
};

}  // namespace proctrail
