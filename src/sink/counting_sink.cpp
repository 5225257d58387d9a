// CountingSink: counts what passes into another sink, by type.
#include "proctrail/sink.hpp"

namespace proctrail {

namespace {

class CountingSink final : public Sink {
 public:
  CountingSink(std::unique_ptr<Sink> inner, SinkCounts* counts)
      : inner_(std::move(inner)), counts_(counts) {}
  Status write(std::span<const Event> events) override {
    for (const Event& e : events) {
      ++counts_->events;
      ++counts_->by_type[static_cast<size_t>(e.type())];
    }
    return inner_->write(events);
  }
  Status flush() override { return inner_->flush(); }
  Status close() override { return inner_->close(); }
  Status reopen() override { return inner_->reopen(); }
  Status tick() override { return inner_->tick(); }
  [[nodiscard]] bool closed() const override { return inner_->closed(); }
  void cancel() override { inner_->cancel(); }
  Status running(std::span<const Event> processes) override { return inner_->running(processes); }
  [[nodiscard]] bool keeps_history() const override { return inner_->keeps_history(); }
  uint64_t take_lost_earlier() override { return inner_->take_lost_earlier(); }

 private:
  std::unique_ptr<Sink> inner_;
  SinkCounts* counts_;
};

}  // namespace

std::unique_ptr<Sink> make_counting_sink(std::unique_ptr<Sink> inner, SinkCounts* counts) {
  return std::make_unique<CountingSink>(std::move(inner), counts);
}

}  // namespace proctrail
