// CallbackSink: each event to a function, for embedders.
#include "proctrail/sink.hpp"

namespace proctrail {

namespace {

class CallbackSink final : public Sink {
 public:
  explicit CallbackSink(std::function<void(const Event&)> f) : f_(std::move(f)) {}
  Status write(std::span<const Event> events) override {
    for (const Event& e : events) f_(e);
    return {};
  }

 private:
  std::function<void(const Event&)> f_;
};

}  // namespace

std::unique_ptr<Sink> make_callback_sink(std::function<void(const Event&)> callback) {
  return std::make_unique<CallbackSink>(std::move(callback));
}

}  // namespace proctrail
