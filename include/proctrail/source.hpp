// EventSource: the contract every source of events implements: the live capture mechanisms
// (netlink, eBPF), a recording read back (JSON Lines), and a fake one built in a test.
#pragma once

#include <chrono>
#include <functional>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proctrail/event.hpp"
#include "proctrail/result.hpp"

namespace proctrail {

struct SourceStats {
  uint64_t received = 0;       // events delivered to the caller
  uint64_t lost = 0;           // events known to be lost, counted
  uint64_t loss_reports = 0;   // losses the kernel reported without a count (ENOBUFS)
  uint64_t decode_errors = 0;  // malformed or truncated messages dropped
  uint64_t rejected = 0;       // messages not sent by the kernel, dropped
  uint64_t filter_leaks = 0;   // events outside a kernel-side filter that still arrived

  SourceStats& operator+=(const SourceStats& o) {
    received += o.received;
    lost += o.lost;
    loss_reports += o.loss_reports;
    decode_errors += o.decode_errors;
    rejected += o.rejected;
    filter_leaks += o.filter_leaks;
    return *this;
  }
};

// Work to do on an exec event the moment it is received, on the thread that received it:
// reading /proc before the process can exit or exec again. Sources may receive on several
// threads at once; each calls the factory once to get a handler of its own.
using ExecHandler = std::function<void(Event&)>;
using ExecHandlerFactory = std::function<ExecHandler()>;

class EventSource {
 public:
  virtual ~EventSource() = default;

  // Installs the exec handler. Call before start().
  virtual void set_exec_handler(ExecHandlerFactory factory) = 0;

  // Opens and subscribes. Fails with one clear line when the mechanism cannot work here.
  virtual Status start() = 0;

  // Waits up to `timeout` for events and appends them to `out`, in any order: the pipeline
  // orders by timestamp. A timeout is not an error. Losses arrive as LostData events.
  virtual Status poll(std::chrono::milliseconds timeout, std::vector<Event>& out) = 0;

  // Every event with a timestamp up to this CLOCK_MONOTONIC instant has been returned by
  // poll() already; later polls return only newer ones. Drives ordering downstream.
  [[nodiscard]] virtual uint64_t watermark_ns() const = 0;

  // How far a source's watermark stays behind the moment it last drained the kernel: an
  // event is stamped in the kernel a little before it can be read.
  static constexpr uint64_t kDeliverySlackNs = 5'000'000;

  // Readable when poll() has something to do, for embedders with their own event loop.
  [[nodiscard]] virtual int fd() const = 0;

  [[nodiscard]] virtual SourceStats stats() const = 0;
  [[nodiscard]] virtual std::string_view name() const = 0;

  // Facts worth showing under -v: buffer sizes, kernel features in use, fallbacks taken.
  [[nodiscard]] virtual std::vector<std::string> notes() const = 0;

  // Whether the events come from this machine as it runs. A live source's events are
  // enriched from /proc, checked against running processes and resynchronised after a loss;
  // a source that is not live (a recording, a test's fake) delivers events complete, with
  // their exec_id keys when it has them, and nothing downstream touches /proc for them.
  [[nodiscard]] virtual bool live() const { return true; }
  // Whether everything has been delivered (a recording read to its end): the monitor then
  // writes what it holds and finishes by itself. A live source never is.
  [[nodiscard]] virtual bool exhausted() const { return false; }
};

// Reads JSON Lines that proctrail wrote (-f json) back as events, in file order: a recording
// replayed through the same filters, views and formatters as live capture. `path` "-" reads
// standard input (which may be a pipe from a running proctrail). A malformed line ends the
// replay with an error naming the line.
Result<std::unique_ptr<EventSource>> open_json_lines_source(const std::string& path);

}  // namespace proctrail
