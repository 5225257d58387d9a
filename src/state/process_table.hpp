// ProcessTable: what proctrail knows of each process, from the kernel's events first and from
// /proc only for processes that were running before it started.
//
// Promises:
//  - a process is identified by pid and start time: a fork that reuses a pid replaces the old
//    entry, and nothing of the old process is attributed to the new one;
//  - an exited process stays as a tombstone for a while (late or reordered events still find
//    its name and parent; its command line goes with its exit event), then leaves; the table's
//    size is bounded by the live processes plus the tombstones of the last `tombstone_ttl_ns`,
//    capped at `max_tombstones`;
//  - threads are not entries, but each entry knows its live threads, so that a process ends
//    with its last thread: not when its main thread calls pthread_exit first, nor when
//    another thread's execve takes the main thread's place.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "proctrail/event.hpp"

namespace proctrail {

struct ProcessEntry {
  int32_t pid = 0;
  int32_t ppid = 0;
  uint64_t start_ns = 0;       // CLOCK_MONOTONIC
  bool start_precise = false;  // from a kernel timestamp, not /proc's clock ticks
  // Its identity (ProcessKey): the start in clock ticks, as /proc/PID/stat gives it, and how
  // many execs it did since proctrail saw it first.
  uint64_t start_ticks = 0;
  uint32_t exec_ordinal = 0;
  ProcessKey parent_key;  // the image that forked it
  [[nodiscard]] ProcessKey key() const { return {pid, exec_ordinal, start_ticks}; }
  std::string comm;
  // Real and effective ids, kept current by uid and gid events (and exec's), inherited at fork:
  // the kernel's own account, so an exec need not read /proc/PID/status for them.
  std::optional<Credentials> creds;
  // The latest exec, shared with the entry of any child forked before the next exec. Only
  // the output stage reads it after the exec is queued (its verdict may withdraw the argv).
  std::shared_ptr<const ExecDetails> image;
  // Thread ids known to be alive, main thread included, when threads_known (else the main
  // thread's exit ends the process, as the kernel's fields suggest).
  std::vector<int32_t> threads;
  bool threads_known = false;
  bool exited = false;
  uint64_t exit_ns = 0;
  // The /proc scan found it ended already (a zombie, or in do_exit): kept for its exit event,
  // but not one of the processes running when capture began.
  bool ended_at_scan = false;
};

struct ProcessTableOptions {
  uint64_t tombstone_ttl_ns = 5'000'000'000;
  size_t max_tombstones = 65536;
};

class ProcessTable {
 public:
  explicit ProcessTable(ProcessTableOptions options = {}) : options_(options) {}

  // Records a new process, or a new thread of a known one. A child process inherits the
  // parent's command until it execs. `child_start_ticks`: the child's start (ProcessKey).
  // How far the exec's start (exact, from /proc or the kernel) may be from the fork's estimate
  // and still be the same process, in clock ticks.
  static constexpr uint64_t kEstimateDoubtTicks = 2;
  void on_fork(const Event& e, const ForkData& fork, uint64_t child_start_ticks = 0);
  // Records an exec's command. Creates the entry if the fork was missed, with start_ns (on
  // CLOCK_MONOTONIC) as its start time when the caller knows it, else none: the exec's own
  // time is not the process's start, and would make a later exec look like a reused pid.
  // Returns the thread that called execve when the table can tell it was not the main
  // thread (execve leaves the process with that one thread, under the process's pid).
  // `start_ticks`: the process's start as the exec's own read gave it (exact: it corrects one
  // the fork left). `ordinal`: the kernel's count of the process's execs, when it keeps one.
  std::optional<int32_t> on_exec(const Event& e, std::shared_ptr<const ExecDetails> details,
                                 std::optional<uint64_t> start_ns = std::nullopt,
                                 std::optional<uint64_t> start_ticks = std::nullopt,
                                 std::optional<uint32_t> ordinal = std::nullopt);
  void on_comm(const Event& e, const CommData& comm);
  void on_uid(const Event& e, const UidData& uid);
  void on_gid(const Event& e, const GidData& gid);
  // A thread's exit. Decides whether it ended the process (unless the source already said),
  // and if so sets the process's status and its command and lifetime, and the entry becomes
  // a tombstone.
  void on_exit(const Event& e, ExitData& exit);

  // Sets e.key and e.parent_key from the table, after e was applied: for a fork the new
  // process's, for a thread's birth its process's, for anything else its process's current
  // image. Leaves them as they are for a process the table does not know.
  void stamp(Event& e) const;

  // Adds a process seen in /proc (table seeding and resync). Entries already known keep their
  // precise data when the start time matches. Call link_parents() after a scan.
  void add_scanned(ProcessEntry entry);
  // Gives scanned processes their parent's key, once the whole scan is in.
  void link_parents();

  // Replaces the table's live entries with a /proc scan, keeping tombstones. Returns how many
  // entries were added and removed.
  ResyncData resync(std::vector<ProcessEntry> scanned);

  [[nodiscard]] const ProcessEntry* find(int32_t pid) const;
  // The entries of processes alive now, in pid order.
  [[nodiscard]] std::vector<const ProcessEntry*> live() const;
  // The credentials of the live process with this pid, when the table knows them.
  [[nodiscard]] std::optional<Credentials> live_creds(int32_t pid) const;
  // Start time of the live process with this pid, for checking a /proc read's identity.
  [[nodiscard]] std::optional<uint64_t> live_start_ns(int32_t pid) const;
  // Parent chain from the table: the parent first, up to pid 1 or the first unknown pid.
  [[nodiscard]] std::vector<Ancestor> ancestry(int32_t pid, size_t max_depth = 64) const;

  // Drops tombstones older than the TTL (and the oldest beyond the cap).
  void expire(uint64_t now_ns);

  [[nodiscard]] size_t size() const { return entries_.size(); }
  [[nodiscard]] size_t tombstones() const { return tombstone_count_; }

 private:
  void bury(ProcessEntry& entry, uint64_t ts);

  ProcessTableOptions options_;
  std::unordered_map<int32_t, ProcessEntry> entries_;
  // Exit order of tombstones: (exit time, pid). An item is stale when its pid has been reused
  // since; expire() checks before removing.
  std::deque<std::pair<uint64_t, int32_t>> buried_;
  size_t tombstone_count_ = 0;
};

}  // namespace proctrail
