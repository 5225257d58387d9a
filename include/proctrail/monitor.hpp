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
#include "proctrail/options.hpp"
#include "proctrail/result.hpp"
#include "proctrail/sink.hpp"
#include "proctrail/source.hpp"
#include "proctrail/version.hpp"

namespace proctrail {


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
