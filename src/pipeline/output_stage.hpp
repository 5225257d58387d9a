// OutputStage: the output thread's work. It orders events by kernel timestamp and has each
// exec's /proc read verified (EventOrderer), leaves out the monitor's own threads, resolves
// user names (NSS may block: never on the receive path) and hands the events to the sinks,
// each of which filters them its own way (SinkRoutes).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

#include "enrich/enricher.hpp"
#include "enrich/enricher.hpp"
#include "pipeline/batch_queue.hpp"
#include "pipeline/event_orderer.hpp"
#include "sink/routes.hpp"

namespace proctrail {

class OutputStage {
 public:
  struct Options {
    OrdererOptions ordering;
    int32_t exclude_pid = 0;  // events of this process (its threads) are left out; 0: none
    std::optional<Event> start_record;  // ordered with the rest: it precedes the ack in time
    std::chrono::milliseconds interval{50};
  };

  OutputStage(BatchQueue& queue, SinkRoutes& sink, Options options)
      : queue_(queue), sink_(sink), options_(std::move(options)), orderer_(options_.ordering) {}

  // Runs until the queue is closed and drained, or the sink fails or closes. Sets `closed`
  // when the sink closed by itself (its reader went away). Returns the sink's first error.
  Status run(std::atomic<bool>& closed, const std::atomic<uint32_t>& reopen_requests);

  // The process table has read /proc: the start record says when. Before run().
  void table_ready(uint64_t ts) {
    if (options_.start_record) std::get<StartData>(options_.start_record->data).table_ready_ns = ts;
  }

  [[nodiscard]] uint64_t execs() const { return execs_; }
  [[nodiscard]] uint64_t argv_kernel() const { return argv_kernel_; }
  [[nodiscard]] uint64_t argv_procfs() const { return argv_procfs_; }
  [[nodiscard]] uint64_t argv_unavailable() const { return argv_unavailable_; }
  [[nodiscard]] uint64_t superseded() const { return superseded_; }
  [[nodiscard]] uint64_t written() const { return written_; }
  [[nodiscard]] size_t followed() const { return sink_.followed(); }

 private:
  [[nodiscard]] bool wanted(const Event& e);
  Status emit(std::vector<Event>& ready);

  BatchQueue& queue_;
  SinkRoutes& sink_;
  Options options_;
  EventOrderer orderer_;
  UserNames users_;
  std::atomic<uint64_t> execs_{0}, argv_kernel_{0}, argv_procfs_{0}, argv_unavailable_{0};
  std::atomic<uint64_t> superseded_{0}, written_{0};
};

}  // namespace proctrail
