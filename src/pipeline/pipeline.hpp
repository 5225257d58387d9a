// Pipeline: source -> receive thread (process table, enrichment; receive_stage.hpp) ->
// bounded queue -> output thread (order, verify, filter, sinks; output_stage.hpp).
//
// Nothing is dropped silently: a full queue, like any loss, becomes a lost record.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "enrich/enricher.hpp"
#include "pipeline/output_stage.hpp"
#include "pipeline/receive_stage.hpp"
#include "proctrail/filter.hpp"
#include "proctrail/options.hpp"
#include "proctrail/sink.hpp"
#include "proctrail/source.hpp"

namespace proctrail {

struct PipelineOptions {
  int32_t exclude_pid = 0;
  OrdererOptions ordering;
  size_t queue_capacity = 1 << 16;       // events
  size_t queue_capacity_bytes = 32 << 20;  // their approx_bytes
  // Scheduling of the receive thread: raised when it runs the exec handlers itself.
  Priority priority = Priority::Normal;
  // What the receive thread keeps after set-up: what its exec handlers need to read /proc,
  // and CAP_BPF when its source reads eBPF maps.
  std::vector<int> receive_capabilities;
  std::chrono::milliseconds poll_interval{50};
  // How often the output thread wakes to order, filter and write (sooner when the queue
  // fills). Output lags the kernel by about this plus the exec guard.
  std::chrono::milliseconds output_interval{50};
  std::optional<Event> start_record;
};

struct PipelineStats {
  uint64_t queue_drops = 0;
  uint64_t execs = 0;
  uint64_t argv_kernel = 0, argv_procfs = 0, argv_unavailable = 0;
  uint64_t superseded = 0;
  uint64_t resyncs = 0;
  uint64_t written = 0;
  std::string priority;  // what the receive thread got
};

class Pipeline {
 public:
  // enricher may be null (no process table, no /proc reads: the seed format).
  Pipeline(EventSource& source, Enricher* enricher, SinkRoutes& sinks, PipelineOptions options);
  ~Pipeline();  // stops and joins
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Seeds the process table (on this thread) and starts both threads. The source must be
  // started.
  Status start();
  // Asks the receive thread to finish: it lingers for the exec guard, then everything held
  // goes out and the sink is closed.
  void request_stop() { stop_ = true; }
  // Waits for both threads; the first error (the source's, then the sink's). When the output
  // has not finished `timeout` after the receive side did (its reader stopped reading), the
  // sink is cancelled: what it could not write is its error.
  Status join(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
  // Stops by itself: the sink closed (its reader went away) or a thread failed.
  [[nodiscard]] bool finished() const { return done_receiving_ || output_closed_; }
  void reopen_outputs() {
    ++reopens_;
    queue_.poke();
  }
  // start(), then waits for `stop` or finished(), then join().
  Status run(const std::atomic<bool>& stop);

  [[nodiscard]] PipelineStats stats() const;
  // Live processes of the filter's --pid trees, as far as the output has seen.
  [[nodiscard]] size_t followed() const { return output_.followed(); }

 private:
  EventSource& source_;
  Enricher* enricher_;
  SinkRoutes& sink_;
  PipelineOptions options_;
  BatchQueue queue_;
  ReceiveStage receive_;
  OutputStage output_;
  std::thread receiver_, writer_;
  std::atomic<bool> stop_{false}, output_closed_{false}, give_up_{false};
  std::atomic<bool> done_receiving_{false}, receiver_ready_{false}, done_writing_{false};
  std::atomic<uint32_t> reopens_{0};
  Status receive_status_, output_status_;
  std::string priority_;
  bool joined_ = true;
};

}  // namespace proctrail
