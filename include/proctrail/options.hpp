// MonitorOptions and the types it is made of: what a monitor is asked to do. A header of its
// own, low in the include order, so that the stages below the monitor (sources, filter,
// pipeline) can take options without including the monitor itself.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "proctrail/filter.hpp"
#include "proctrail/version.hpp"

namespace proctrail {

enum class Backend { Auto, Bpf, Netlink };
// Scheduling of the threads that race new processes to /proc.
enum class Priority { Realtime, Nice, Normal };

// What is read from /proc at each exec besides argv, comm, ppid and start time. The eBPF
// backend reads argv, exe, cwd and credentials in the kernel: with it, /proc is read only for
// fields asked for explicitly (explicit_fields) or env.
struct ProcFields {
  bool exe = true;
  bool cwd = true;
  bool creds = true;   // /proc/PID/status
  bool cgroup = true;  // and the container the cgroup names
  bool env = false;
  bool explicit_fields = false;
};

struct MonitorOptions {
  Backend backend = Backend::Auto;
  EventFilter filter;

  // Enrichment. Off: the kernel's events as they come (no process table, no /proc reads, no
  // exit details), as the seed format prints them.
  bool enrich = true;
  ProcFields proc_fields;
  bool ancestry = false;  // each exec's chain of parents, from the process table
  size_t max_argv_bytes = 128 * 1024;
  // Leave out the events of the process the monitor runs in (its own threads' births and
  // ends); processes it starts are reported.
  bool exclude_self = true;
  // A first "start" record naming the backend and why; a "resync" record after losses.
  bool start_record = true;

  // What one monitor may cost the whole machine. The tool turns these off for a caller who is
  // not root (proctrail(8), PRIVILEGES).
  // Watching failed execs puts a detour on the return of every system call, of every process.
  // Off: exec-failed is left out, and the start record names it among the missing events.
  bool allow_exec_failed = true;
  // A PATH search (execvp's tries, one directory after another) as one record, and none when a
  // later exec satisfied it. Off: every failed try as it came.
  bool fold_path_searches = true;
  // Receive buffers past net.core.rmem_max (SO_RCVBUFFORCE, with CAP_NET_ADMIN). Off: the
  // kernel caps them at that limit, as for any process.
  bool force_buffers = true;

  // Tuning.
  Priority priority = Priority::Realtime;
  size_t exec_readers = 64;  // netlink: at most one per CPU; 0 reads on the receive thread
  int receive_buffer_bytes = 32 << 20;  // netlink, per socket
  size_t ring_buffer_bytes = 2 << 20;   // eBPF, a power of two (mapped twice)
  std::chrono::milliseconds poll_interval{50};
  std::chrono::milliseconds output_interval{50};
  // How long stop() waits for the sinks to take what is left before it tells them to give up
  // a write that makes no progress (a reader that stopped reading; one that is only slow gets
  // everything); what they could not write is their error.
  std::chrono::milliseconds stop_timeout{5000};

  // Events for poll() / fd() as well as the sinks, up to this many waiting (beyond that they
  // are dropped and a lost record says how many). 0: no pull queue.
  size_t pull_capacity = 0;
  // Also drop the capabilities of the thread that calls start() once set-up is done (the
  // monitor's own threads always keep only what they use). For tools, not embedders.
  bool drop_caller_privileges = false;
  // Lines for a -v: what was set up, fallbacks taken. Called on the calling thread.
  std::function<void(std::string_view)> verbose;
  std::string version = kVersion;  // for the start record
};

}  // namespace proctrail
