// CountingSink: counts what passes into another sink, by type.
#include "proctrail/sink.hpp"
#include "sink/forwarding_sink.hpp"

namespace proctrail {

namespace {

class CountingSink final : public ForwardingSink {
 public:
  CountingSink(std::unique_ptr<Sink> inner, SinkCounts* counts)
      : ForwardingSink(std::move(inner)), counts_(counts) {}
  Status write(std::span<const Event> events) override {
    for (const Event& e : events) {
      ++counts_->events;
      ++counts_->by_type[static_cast<size_t>(e.type())];
    }
    return inner_->write(events);
  }

 private:
  SinkCounts* counts_;
};

}  // namespace

std::unique_ptr<Sink> make_counting_sink(std::unique_ptr<Sink> inner, SinkCounts* counts) {
  return std::make_unique<CountingSink>(std::move(inner), counts);
}

}  // namespace proctrail
