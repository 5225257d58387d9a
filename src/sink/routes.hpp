// SinkRoutes: the monitor's sinks, each behind a filter of its own and with its own failure
// policy. A recorder can keep everything while the terminal shows a filter; an exporter whose
// endpoint is down does not stop capture.
//
// Every filter sees every event (they learn the process tree from all of them) and passes its
// sink what it accepts. A fatal sink's error ends the monitor, as a closed standard output
// does. A degrading sink's error is counted instead: the events it could not take are dropped,
// capture and the other sinks go on, and when it takes events again, a lost record in its own
// stream says how many it missed and why.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "filter/filter_stage.hpp"
#include "proctrail/sink.hpp"

namespace proctrail {

class SinkRoutes final : public Sink {
 public:
  struct Route {
    std::string name;
    std::unique_ptr<FilterStage> filter;
    std::unique_ptr<Sink> sink;
    FailurePolicy policy = FailurePolicy::Fatal;
    // Degrading: what it could not take since it last took events, and why.
    uint64_t missed = 0;
    std::string why;
    SinkStats stats;
  };

  explicit SinkRoutes(std::vector<Route> routes) : routes_(std::move(routes)) {}

  Status write(std::span<const Event> events) override;
  Status flush() override;
  Status close() override;
  Status reopen() override;
  // Each sink gets the running processes its scope allows (not its other filters: a history
  // needs every parent).
  Status running(std::span<const Event> processes) override;
  [[nodiscard]] bool keeps_history() const override;
  Status tick() override;
  void cancel() override;
  // Closed when every fatal sink is (its reader went away); without fatal sinks, when all are.
  [[nodiscard]] bool closed() const override;

  // Processes of the --pid trees still alive, as the first route that follows trees sees them.
  [[nodiscard]] size_t followed() const;
  // Per sink: written, dropped, errors. From any thread.
  [[nodiscard]] std::vector<SinkStats> stats() const;

 private:
  // A fatal route's error is returned; a degrading one's is counted.
  Status deliver(Route& r, std::span<const Event> events);
  void count_missed(Route& r, uint64_t events, const std::string& why);
  template <class F>
  Status each(F&& f);

  std::vector<Route> routes_;
  mutable std::mutex mu_;  // stats
};

}  // namespace proctrail
