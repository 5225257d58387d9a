// Enricher: the receive-side stage. It keeps the process table current and adds to each exec
// what /proc and the table know, and to each exit the command and lifetime.
//
// The /proc read races the process, so it is not done here but by exec handlers this class
// makes for the source: they run on the thread that received the exec, the moment it did.
// process() then checks the read against the table (a start time that disagrees with the
// fork the table saw is a reused pid) and reads only for events no handler saw.
#pragma once

#include <memory>
#include <string>

#include "util/clock.hpp"
#include "state/process_table.hpp"
#include "enrich/proc_reader.hpp"
#include "proctrail/source.hpp"

namespace proctrail {

struct EnricherOptions {
  // Events from this machine as it runs. Off (a recording, a test's fake source): nothing is
  // read from /proc, ever; the table is kept from the events alone, and the keys and details
  // the events carry are theirs.
  bool live = true;
  bool read_proc = true;  // read /proc at each exec
  bool ancestry = false;  // add the parent chain to each exec
  // Keep the process table. Without fork and exit events it could only grow, so a source
  // that does not deliver them (eBPF, exec only) turns it off.
  bool track_processes = true;
  procfs::ReadOptions read;
  std::string proc_root = "/proc";
  ProcessTableOptions table;
};

class Enricher {
 public:
  static Result<std::unique_ptr<Enricher>> create(EnricherOptions options);

  // Handlers for the source's receiving threads (EventSource::set_exec_handler): each reads
  // /proc for an exec with a reader of its own. They share nothing with this object.
  [[nodiscard]] ExecHandlerFactory exec_handler_factory() const;

  // Fills the table from /proc. Call once the source is subscribed, so that a process started
  // meanwhile is either in the scan or in the event stream.
  Status seed(const ClockSync& clock);
  // The processes the seed found still alive, each as an exec of its current image dated at
  // the process's start (Sink::running). Only after seed().
  [[nodiscard]] std::vector<Event> running(const ClockSync& clock) const;
  // Updates the table with e; fills ExecData / ExitData details.
  void process(Event& e, const ClockSync& clock);
  // Rebuilds the table from /proc (after a loss) and returns the record that says so.
  Event resync(const ClockSync& clock);
  void expire(uint64_t now_ns) { table_.expire(now_ns); }

  [[nodiscard]] const ProcessTable& table() const { return table_; }
  [[nodiscard]] bool tracks_processes() const { return options_.track_processes; }
  [[nodiscard]] bool live() const { return options_.live; }
  // Turns /proc reads at exec on or off (before exec_handler_factory() is called): off when
  // the source's kernel side already gives what they would.
  void set_read_proc(bool on) { options_.read_proc = on; }
  // Credentials from the process table (kept by uid and gid events) instead of a read of
  // /proc/PID/status at each exec. Before exec_handler_factory().
  void set_creds_from_table(bool on) {
    creds_from_table_ = on;
    if (on) options_.read.creds = false;
  }
  void set_track_processes(bool on) { options_.track_processes = on; }

 private:
  Enricher(EnricherOptions options, std::optional<procfs::ProcReader> reader);
  // Not live: what the table cannot know from a recording's events, it takes from them.
  void process_recorded(Event& e);
  void track(Event& e, const ClockSync& clock);
  std::vector<ProcessEntry> scan(const ClockSync& clock);
  // The child's start in clock ticks (its ProcessKey): the kernel's, or from the event's time.
  uint64_t fork_start_ticks(const Event& e, const ForkData& f, const ClockSync& clock);
  // Without a process table (eBPF, execs only): the key the kernel gave with the exec.
  void stamp_without_table(Event& e, const ExecDetails& d) const;
  // A fork event this close after the start of a clock tick may belong to the tick before.
  static constexpr uint64_t kTickDoubtNs = 2'000'000;
  void check_identity(const Event& e, ExecDetails& d, const ClockSync& clock);

  EnricherOptions options_;
  bool creds_from_table_ = false;
  std::optional<procfs::ProcReader> reader_;  // live only
  uint64_t tick_ns_;
  // Not live: the recording's clocks, as its start record gave them.
  ClockSync recorded_clock_;
  ProcessTable table_;
};

// uid -> user name, cached; lookups go through NSS (getpwuid_r), so this belongs on the
// output thread, never on the receive path.
class UserNames {
 public:
  const std::string* lookup(uint32_t uid);

 private:
  std::unordered_map<uint32_t, std::optional<std::string>> cache_;
};

}  // namespace proctrail
