// Sinks: where the monitor's events go. A sink takes batches of events that are in timestamp
// order, verified and enriched, and already filtered by its own filter (SinkSpec). The output
// thread calls every sink, one batch at a time, so a sink needs no locking of its own; a sink
// that blocks holds the whole output back (the monitor then reports what it had to drop as a
// lost record, never silently).
//
// Errors are values. What a sink's error does is its SinkSpec's failure policy: a fatal sink's
// error ends the monitor; a degrading sink's is counted and reported, and capture goes on.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proctrail/event.hpp"
#include "proctrail/filter.hpp"
#include "proctrail/format.hpp"
#include "proctrail/result.hpp"

namespace proctrail {

class Sink {
 public:
  virtual ~Sink() = default;
  // Events valid for the call only: copy what must outlive it.
  virtual Status write(std::span<const Event> events) = 0;
  virtual Status flush() { return {}; }
  // No more events: flush and let go of what the sink holds.
  virtual Status close() { return flush(); }
  // A hang-up (SIGHUP): reopen what can be reopened, such as a rotated log file.
  virtual Status reopen() { return {}; }
  // The processes already running when live capture began, each as an exec of its current
  // image (argv and credentials as /proc showed them, the process's start as its time), for a
  // sink that keeps a history: every later event's process and parent then have a row. Called
  // once, before the first write(). They are not events that happened: a stream ignores them.
  virtual Status running(std::span<const Event> processes) {
    (void)processes;
    return {};
  }
  // Whether running() is wanted: the snapshot is built only for a sink that keeps a history.
  [[nodiscard]] virtual bool keeps_history() const { return false; }
  // Called about every output interval, with or without events, for sinks that act on time
  // or on a request from another thread (a summary asked for with SIGUSR1).
  virtual Status tick() { return {}; }
  // Asked once after each failed write(), tick(), flush() or close(): how many events that
  // earlier write() calls took (and were counted written) the failure lost with it, for a
  // sink that commits several writes at once (the record, every 250 ms). They are counted
  // missed with the failed call's own. Such a sink must commit a write that holds a lost
  // record before it returns: the write's success is taken to mean that the count was said.
  virtual uint64_t take_lost_earlier() { return 0; }
  // The reader went away (a closed pipe): the monitor ends quietly.
  [[nodiscard]] virtual bool closed() const { return false; }
  // Called from another thread when the monitor is stopping: a write that makes no progress
  // for a while (its reader stopped reading; 5 s for the stream sinks) must give up, and the
  // sink's next error says what it could not write. A reader that is only slow gets it all.
  // Must be safe to call at any time.
  virtual void cancel() {}
};

// What a sink's error does to the monitor.
enum class FailurePolicy {
  // Stop: the error ends the monitor (standard output, the file the user asked for).
  Fatal,
  // Carry on: the events the sink could not take are dropped and counted, capture and the
  // other sinks go on, and when the sink takes events again a lost record in its own stream
  // says how many it missed and why (an exporter whose endpoint is down, a full disk).
  Degrade,
};

// A sink as the monitor is given it: with its own filter (unset: MonitorOptions::filter) and
// its failure policy. The scope of MonitorOptions::filter (owner_uid) holds for every sink.
struct SinkSpec {
  SinkSpec() = default;
  SinkSpec(std::unique_ptr<Sink> s) : sink(std::move(s)) {}  // NOLINT: the defaults
  SinkSpec(std::unique_ptr<Sink> s, std::optional<EventFilter> f, FailurePolicy p, std::string n)
      : sink(std::move(s)), filter(std::move(f)), on_failure(p), name(std::move(n)) {}
  std::unique_ptr<Sink> sink;
  std::optional<EventFilter> filter;
  FailurePolicy on_failure = FailurePolicy::Fatal;
  std::string name = "output";  // in messages and stats
};

// What one sink took, and what it could not.
struct SinkStats {
  std::string name;
  uint64_t written = 0;   // events it took
  uint64_t failed = 0;    // events it could not take (degrading)
  uint64_t failures = 0;  // times it went from working to failing
  std::string last_error;
};

// A formatter's text written to an fd: standard output, a pipe, a file. A closed pipe (EPIPE)
// makes the sink closed() rather than failed. `owns_fd`: closed with the sink.
std::unique_ptr<Sink> make_stream_sink(std::unique_ptr<Formatter> formatter, int fd,
                                       bool owns_fd = false, bool header = false);
// Size-based rotation of a file sink: before a record would take the file past max_bytes, the
// file becomes path.1 (path.1 becomes path.2 ... up to path.<keep>, the oldest is dropped)
// and a new one is started. max_bytes 0: no rotation.
struct FileRotation {
  size_t max_bytes = 0;
  unsigned keep = 5;
};
// The same into a file, created or truncated (appended to, when it rotates); reopen() opens the
// path again, appending, so an outside log rotation (rename, then SIGHUP) starts a new file and
// a hang-up alone loses nothing.
Result<std::unique_ptr<Sink>> open_file_sink(std::unique_ptr<Formatter> formatter,
                                             const std::string& path, bool header = false,
                                             FileRotation rotation = {});
// Each event as an entry of the systemd journal (docs/output.md, "journald"): its fields as
// PROCTRAIL_* (the JSON record's, exact bytes), or under Schema::Ecs the ECS document's
// (PROCESS_EXECUTABLE ...), a readable MESSAGE, a MESSAGE_ID per event type.
// Fails when no journald listens at socket_path. A journald that stops taking entries for 5 s
// makes writes fail (the failure policy counts them) until it takes them again.
inline constexpr char kJournalSocket[] = "/run/systemd/journal/socket";
Result<std::unique_ptr<Sink>> open_journal_sink(const std::string& socket_path = kJournalSocket,
                                                Schema schema = Schema::Proctrail);
// Each event as an RFC 5424 message to a syslog daemon (docs/output.md, "syslog"): over a unix
// datagram socket, UDP, or TCP with octet counting. A TCP connection that breaks is made again
// (at most once a second); what could not be sent meanwhile is the failure policy's to count.
struct SyslogAddress {
  enum Transport { Unix, Udp, Tcp } transport = Unix;
  std::string path;        // Unix
  std::string host, port;  // Udp, Tcp
  std::string text;        // as the user gave it
};
// "tcp:HOST[:PORT]", "udp:HOST[:PORT]", "unix:PATH" (or a path) ("[ADDR]" for IPv6; port
// 514 when left out).
Result<SyslogAddress> parse_syslog_address(std::string_view text);
// Fails when the daemon cannot be reached (UDP: only when the address does not resolve). Under
// Schema::Ecs the structured data holds the ECS document's fields.
Result<std::unique_ptr<Sink>> open_syslog_sink(const SyslogAddress& address, int facility,
                                               Schema schema = Schema::Proctrail);
// Each event to a function, on the output thread.
std::unique_ptr<Sink> make_callback_sink(std::function<void(const Event&)> callback);
// The same events to several sinks: the first error ends the write (the others still get
// the batch).
std::unique_ptr<Sink> make_tee_sink(std::vector<std::unique_ptr<Sink>> sinks);
// Counts what passes into another sink, by type.
struct SinkCounts {
  uint64_t events = 0;
  uint64_t by_type[kEventTypeCount] = {};
};
std::unique_ptr<Sink> make_counting_sink(std::unique_ptr<Sink> inner, SinkCounts* counts);

// A limit on each user's share of a record: the events of processes of a user other than root
// (the process's real uid) may take `bytes_per_second` on average (their size in memory, close
// to their size as JSON), in bursts up to `burst_bytes`. Beyond it they are suppressed and
// counted, and a lost record names the user and the count once that user's events pass again
// (or at the end). Root's events and records about the stream always pass. So no user can push
// other users' events out of a rotated record by flooding it, and the flood is on record.
struct UserRateLimit {
  size_t bytes_per_second = 0;
  size_t burst_bytes = 0;
};
std::unique_ptr<Sink> make_user_rate_limit_sink(std::unique_ptr<Sink> inner, UserRateLimit limit);

// Passes every event to `inner` and keeps totals (processes, failures, the most frequent and
// the longest-running commands, the deepest chain of processes). Writes one summary record
// to `inner` when it closes, and when `*requested` is set (it clears it; from any thread).
// `watched`: the event types the stream carries, so that a figure it cannot know is said to be
// unwatched rather than 0. Memory is bounded whatever the stream holds: a fixed number of
// commands (and names of bounded length), `top` of each list.
// `stream_time`: the span summed up is the events' own, first to last (a recording replayed:
// this machine's clock says nothing about it); otherwise from this call to the summary.
// `exporters`, when given, is asked for the exporters' counts each time a summary is made.
std::unique_ptr<Sink> make_summary_sink(
    std::unique_ptr<Sink> inner, std::atomic<bool>* requested = nullptr, size_t top = 5,
    EventMask watched = EventMask::all(), bool stream_time = false,
    std::function<std::vector<SummaryData::Exporter>()> exporters = {});

}  // namespace proctrail
