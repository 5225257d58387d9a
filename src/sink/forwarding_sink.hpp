// ForwardingSink: a sink around another that passes every call on. A wrapper (counting, rate
// limit, summary) overrides only what it changes, so a method the Sink interface gains is
// passed on here once, not forgotten in one wrapper.
#pragma once

#include <memory>
#include <utility>

#include "proctrail/sink.hpp"

namespace proctrail {

class ForwardingSink : public Sink {
 public:
  explicit ForwardingSink(std::unique_ptr<Sink> inner) : inner_(std::move(inner)) {}
  Status write(std::span<const Event> events) override { return inner_->write(events); }
  Status flush() override { return inner_->flush(); }
  Status close() override { return inner_->close(); }
  Status reopen() override { return inner_->reopen(); }
  Status running(std::span<const Event> processes) override { return inner_->running(processes); }
  [[nodiscard]] bool keeps_history() const override { return inner_->keeps_history(); }
  Status tick() override { return inner_->tick(); }
  uint64_t take_lost_earlier() override { return inner_->take_lost_earlier(); }
  [[nodiscard]] bool closed() const override { return inner_->closed(); }
  void cancel() override { inner_->cancel(); }

 protected:
  std::unique_ptr<Sink> inner_;
};

}  // namespace proctrail
