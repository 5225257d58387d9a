// TeeSink: the same events to several sinks.
#include <algorithm>

#include "proctrail/sink.hpp"

namespace proctrail {

namespace {

class TeeSink final : public Sink {
 public:
  explicit TeeSink(std::vector<std::unique_ptr<Sink>> sinks) : sinks_(std::move(sinks)) {}
  Status write(std::span<const Event> events) override {
    return each([&](Sink& s) { return s.closed() ? Status{} : s.write(events); });
  }
  Status flush() override {
    return each([](Sink& s) { return s.flush(); });
  }
  Status close() override {
    return each([](Sink& s) { return s.close(); });
  }
  Status reopen() override {
    return each([](Sink& s) { return s.reopen(); });
  }
  Status tick() override {
    return each([](Sink& s) { return s.closed() ? Status{} : s.tick(); });
  }
  void cancel() override {
    for (auto& s : sinks_) s->cancel();
  }
  // The snapshot goes to the parts that keep a history; a stream is not given it.
  Status running(std::span<const Event> processes) override {
    return each([&](Sink& s) { return s.keeps_history() ? s.running(processes) : Status{}; });
  }
  [[nodiscard]] bool keeps_history() const override {
    for (const auto& s : sinks_) {
      if (s->keeps_history()) return true;
    }
    return false;
  }
  // Every part is asked (each one's count is taken once). The parts took the same writes, so
  // what each lost is a tail of the same events: the tee lost the longest of those tails.
  uint64_t take_lost_earlier() override {
    uint64_t n = 0;
    for (auto& s : sinks_) n = std::max(n, s->take_lost_earlier());
    return n;
  }
  // Closed once every part is: one reader going away does not end the others' output.
  [[nodiscard]] bool closed() const override {
    for (const auto& s : sinks_) {
      if (!s->closed()) return false;
    }
    return !sinks_.empty();
  }

 private:
  // Every sink gets the call; the first error is returned.
  template <class F>
  Status each(F&& f) {
    Status first;
    for (auto& s : sinks_) {
      if (auto r = f(*s); !r && first) first = r;
    }
    return first;
  }
  std::vector<std::unique_ptr<Sink>> sinks_;
};

}  // namespace

std::unique_ptr<Sink> make_tee_sink(std::vector<std::unique_ptr<Sink>> sinks) {
  return std::make_unique<TeeSink>(std::move(sinks));
}

}  // namespace proctrail
