// Pipeline: source -> enrich (receive thread) -> bounded queue -> order, filter, format, write
// (output thread).
//
// The receive thread takes events from the source and keeps the process table current (the
// urgent /proc reads happen earlier, in the source's exec handlers). Formatting and writing
// happen on the output thread. The queue between them is bounded: when the writer falls
// behind, whole batches are dropped, counted, and reported in the stream as a lost record.
// Nothing is dropped silently.
#pragma once

#include <atomic>
#include <cstdint>
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "proctrail/enricher.hpp"
#include "proctrail/event_orderer.hpp"
#include "proctrail/format.hpp"
#include "proctrail/sched.hpp"
#include "proctrail/source.hpp"

namespace proctrail {

struct PipelineOptions {
  EventMask events = EventMask::all();  // what the output shows
  OrdererOptions ordering;
  size_t queue_capacity = 1 << 16;  // events
  // Scheduling of the receive thread: raised when it runs the exec handlers itself.
  Priority priority = Priority::Normal;
  std::chrono::milliseconds poll_interval{50};
  // How often the output thread wakes to order, format and write (sooner when the queue
  // fills). Output lags the kernel by about this plus the exec guard.
  std::chrono::milliseconds output_interval{50};
  std::optional<StartData> start;  // a first record saying which backend runs and why
  bool text_header = false;
  std::function<void(std::string_view)> verbose;  // -v lines, to stderr in the CLI
  // Hang-ups (SIGHUP) counted by the caller. When the count changes, the output thread
  // flushes what it holds and calls reopen_output, if set, to get the fd to write to from
  // then on (log rotation: the file was renamed away); it closes the old one itself.
  const std::atomic<uint32_t>* hangups = nullptr;
  std::function<Result<int>()> reopen_output;
};

struct PipelineStats {
  SourceStats source;
  uint64_t queue_drops = 0;  // events dropped because the output fell behind
  uint64_t execs = 0;
  uint64_t argv_kernel = 0, argv_procfs = 0, argv_unavailable = 0;
  uint64_t superseded = 0;  // exec reads withdrawn by the verifier
  uint64_t resyncs = 0;
  uint64_t written = 0;  // records written
  size_t table_size = 0;
  std::string priority;
};

class Pipeline {
 public:
  // enricher may be null (no process table, no /proc reads: the seed format).
  Pipeline(EventSource& source, Enricher* enricher, Formatter& formatter, int out_fd,
           PipelineOptions options);

  // Runs until `stop` becomes true, the output is closed (EPIPE: a quiet end) or an error.
  // The source must be started. Before returning it drains what the source has delivered.
  Status run(const std::atomic<bool>& stop);

  [[nodiscard]] const PipelineStats& stats() const { return stats_; }
  [[nodiscard]] bool output_closed() const { return output_closed_; }
  // The fd written to last: the one given, or the one reopen_output gave.
  [[nodiscard]] int out_fd() const { return out_fd_; }

 private:
  EventSource& source_;
  Enricher* enricher_;
  Formatter& formatter_;
  int out_fd_;
  PipelineOptions options_;
  PipelineStats stats_;
  bool output_closed_ = false;
};

}  // namespace proctrail
