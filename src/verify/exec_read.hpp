// Whether a /proc read belongs to the exec it was made for. Every such decision is made here,
// with its reason (the note users see); readers, the enricher and the orderer only ask.
//
// A netlink exec event carries a pid and nothing more; /proc is read a moment later, and by
// then the pid may belong to another process, or the process may run another program. Three
// questions, at three moments:
//
//  1. At the read (exec handler): is /proc/PID still the process that exec'd? A start time
//     after the event, or one that disagrees with what the caller knows, means the pid was
//     reused: nothing read is kept (identity_problem).
//  2. On the receive thread: does the read agree with the process table's start time for the
//     pid, known to the nanosecond from the fork event? (check_against_table)
//  3. On the output thread, once later events are known (ExecReadVerifier):
//     - Pid reuse. The process lives until its exit event x; a fork f that gives the pid to a
//       new process comes after. A read that ended before x was of the live process. A read
//       that ended later, with an f no later than the guard after the read ended (a new process
//       is visible in /proc a little before its fork event), may have seen the new process:
//       everything read is withdrawn.
//     - A later exec. Let j be the next exec of the same process (before x and f) whose event
//       came no later than the guard after k's read ended. k's read is trusted when there is no
//       such j (the kernel sends an exec event within the guard of replacing the image, so the
//       replacement came after the read), or when j's read is itself trusted and saw a
//       different image (stat fields 48-51, randomised per exec). Else the program-dependent
//       fields are withdrawn.
//     - A loss withdraws the reads it may hide; a read whose guard the source never covered
//       (shutdown, too many events held) is withdrawn too.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "proctrail/event.hpp"

namespace proctrail::verify {

// The reasons, as `note` gives them.
inline constexpr std::string_view kReusedBeforeRead =
    "pid was reused by another process before /proc could be read";
inline constexpr std::string_view kReusedAround =
    "the process exited and its pid was reused before /proc could be read for this exec";
inline constexpr std::string_view kExecdAgain =
    "the process exec'd again before /proc could be read for this exec";
inline constexpr std::string_view kLostAround =
    "events were lost around this exec, so its /proc read cannot be verified";
inline constexpr std::string_view kTooManyHeld =
    "too many events were waiting to verify this exec's /proc read";
inline constexpr std::string_view kStopped =
    "monitoring stopped before this exec's /proc read could be verified";

// What the process an exec event is about should look like in /proc.
struct ExpectedProcess {
  uint64_t event_boottime_ns = 0;  // the exec event's time on CLOCK_BOOTTIME
  // Start time of the process with this pid as the caller knows it, on CLOCK_BOOTTIME: precise
  // from the kernel (eBPF), or ticks-exact from an earlier /proc read.
  std::optional<uint64_t> known_start_boottime_ns;

  // For an exec event: its time, and the start time the kernel gave with it (eBPF), if any.
  static ExpectedProcess for_exec(uint64_t event_boottime_ns, const ExecDetails& d);
};

// Whether two start times in clock ticks are the same process's: /proc rounds to the tick, so
// one tick either way still agrees.
inline bool same_start_tick(uint64_t a, uint64_t b) {
  return a <= b + 1 && b <= a + 1;
}

// 1. The reason the process at /proc/PID, started at start_ticks, is not the one expected.
std::optional<std::string_view> identity_problem(uint64_t start_ticks,
                                                 const ExpectedProcess& expected, uint64_t tick_ns);

// 2. Withdraws everything read from /proc when the read's start time disagrees with the table's
// record of this pid's start (CLOCK_BOOTTIME, exact).
void check_against_table(ExecDetails& d, std::optional<uint64_t> table_start_boottime_ns,
                         uint64_t tick_ns);

// Takes back what was read from /proc for an exec, with the reason in note. kImage: only what
// a later exec would have changed (argv, exe, creds, comm, environment); kAll: everything read
// from /proc (the process read was not the one that exec'd). Returns whether anything changed.
enum class Withdraw { kImage, kAll };
bool withdraw(ExecDetails& d, Withdraw what, std::string_view why);

// 3. The judgments that need later events. The orderer shows it every event it holds, in any
// order, and asks for a verdict on each exec before releasing it, in timestamp order.
class ExecReadVerifier {
 public:
  using Key = std::pair<uint64_t, uint64_t>;  // (timestamp, arrival number)

  explicit ExecReadVerifier(uint64_t guard_ns) : guard_ns_(guard_ns) {}

  void add(const Key& key, const Event& e);
  void remove(const Key& key, const Event& e);
  // A loss at ts: every held read up to it may have been proved wrong by what was lost.
  void on_loss(uint64_t ts);
  // Settles the exec at key, if it carries a /proc read, at this watermark: withdraws what
  // cannot be vouched for. False when the verdict needs later events; with force it settles
  // anyway (forced_why says why the read is then not vouched for).
  bool settle(const Key& key, const Event& e, uint64_t watermark, bool force,
              std::string_view forced_why);

  [[nodiscard]] uint64_t withdrawn() const { return withdrawn_; }

 private:
  using ByPid = std::unordered_map<int32_t, std::set<Key>>;
  static const Key* first_after(const ByPid& by_pid, int32_t pid, const Key& after);
  // true: trusted; false: withdraw; nullopt: not decidable yet.
  std::optional<bool> later_exec_verdict(const Key& key, int32_t pid, uint64_t watermark,
                                         bool force, int depth);
  bool read_after_reuse(const Key& key, int32_t pid, const ProcfsRead& read) const;
  void take_back(ExecDetails& d, Withdraw what, std::string_view why);

  uint64_t guard_ns_;
  std::map<Key, ExecDetails*> reads_;  // held execs with a /proc read
  ByPid execs_by_pid_;
  // What bounds a process's life on its pid: forks that create a process with that pid, and
  // exits that end one.
  ByPid births_by_pid_;
  ByPid ends_by_pid_;
  uint64_t withdrawn_ = 0;
};

}  // namespace proctrail::verify
