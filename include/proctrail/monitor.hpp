// The library's entry point: one options struct, one call, a running monitor.
//
//   proctrail::MonitorOptions o;
//   o.filter.types = *proctrail::EventMask::parse("exec,exit", nullptr);
//   std::vector<proctrail::SinkSpec> sinks;
//   sinks.push_back(proctrail::make_callback_sink([](const proctrail::Event& e) { ... }));
//   auto m = proctrail::Monitor::start(o, std::move(sinks));
//   if (!m) { fail with m.error().message }
//   ... (*m)->stop();
//
// Threads and ownership. start() returns with capture running on threads the monitor owns: a
// receive thread (source, process table), an output thread (ordering, verification, the
// filter, sinks) and, on the netlink backend, an exec reader per CPU. Sinks are called on the
// output thread only. The Monitor object may be used from one thread at a time; stop() (or
// the destructor) ends capture, verifies what is held, flushes the sinks and joins every
// thread. See docs/library.md.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proctrail/event.hpp"
#include "proctrail/filter.hpp"
#include "proctrail/result.hpp"
#include "proctrail/sink.hpp"
#include "proctrail/source.hpp"
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

// What start() set up and what is missing, for the start record and the user.
struct MonitorInfo {
  std::string backend;  // "bpf" or "netlink"
  std::string reason;   // why this backend
  std::vector<std::string> notes;
  // Event types asked for that this setup cannot deliver, and fields it cannot read, each with
  // the reason in `missing_why`.
  std::vector<std::string> missing_events;
  std::vector<std::string> missing_fields;
  std::vector<std::string> missing_why;
};

struct MonitorStats {
  SourceStats source;
  uint64_t queue_drops = 0;  // events dropped because the output fell behind
  uint64_t pull_drops = 0;   // events dropped because poll() was not called often enough
  uint64_t execs = 0;
  uint64_t argv_kernel = 0, argv_procfs = 0, argv_unavailable = 0;
  uint64_t superseded = 0;  // exec reads withdrawn as unverified
  uint64_t resyncs = 0;
  uint64_t written = 0;  // events handed to the sinks
  size_t table_size = 0;
  std::vector<SinkStats> sinks;  // each sink's own account
};

class Monitor {
 public:
  // Chooses the backend (auto: eBPF when its programs load here, else netlink, with the
  // reason), subscribes, reads the process table from /proc, and starts the threads. Fails
  // with one line that names the cause.
  // Each sink has its own filter (unset: options.filter) and failure policy (SinkSpec); a
  // unique_ptr<Sink> makes a SinkSpec with both defaults. At least one sink, or a pull queue.
  static Result<std::unique_ptr<Monitor>> start(MonitorOptions options,
                                                std::vector<SinkSpec> sinks);
  // The same, with events from `source` instead of a backend of this machine: a recording
  // (open_json_lines_source), or one of the caller's. A source that is not live
  // (EventSource::live) goes through the same process table, filters and sinks without
  // anything touching /proc; the monitor finishes by itself when it is exhausted.
  static Result<std::unique_ptr<Monitor>> start(MonitorOptions options,
                                                std::vector<SinkSpec> sinks,
                                                std::unique_ptr<EventSource> source);
  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  [[nodiscard]] const MonitorInfo& info() const;

  // The pull API (MonitorOptions::pull_capacity > 0): waits up to `timeout` for events and
  // appends them, in order. fd() is readable while events wait (for poll(2)/epoll loops).
  Status poll(std::chrono::milliseconds timeout, std::vector<Event>& out);
  [[nodiscard]] int fd() const;

  // Whether the monitor ended by itself: an error, or every sink closed (the reader of the
  // output went away). error() says which.
  [[nodiscard]] bool finished() const;
  // Blocks until `stop` is set or the monitor finishes; calls on_tick about every 50 ms on
  // this thread (for signal flags). Then stops.
  Status run_until(const std::atomic<bool>& stop, const std::function<void()>& on_tick = {});
  // Asks the sinks to reopen their files (SIGHUP, log rotation), on the output thread.
  void reopen_outputs();
  // Ends capture: what the kernel delivered is read, held execs verified, sinks flushed and
  // closed. Returns the first error (the source's or a sink's). Idempotent.
  Status stop();

  // Totals so far (exact once stopped).
  [[nodiscard]] MonitorStats stats() const;
  // With EventFilter::pids: how many processes of those trees are alive as far as the output
  // has seen (a tree is done when this is 0). 0 without pids.
  [[nodiscard]] size_t followed_processes() const;

  struct Impl;

 private:
  explicit Monitor(std::unique_ptr<Impl> impl);
  static Result<std::unique_ptr<Monitor>> start_with(MonitorOptions options,
                                                     std::vector<SinkSpec> sinks,
                                                     std::unique_ptr<EventSource> given);
  std::unique_ptr<Impl> impl_;
};

// Whether this build has the eBPF backend.
bool bpf_backend_built();

}  // namespace proctrail
