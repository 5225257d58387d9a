// CombinedSource: two sources as one. Events from both, in one stream; the watermark is the
// lower of the two (nothing is released until both have delivered up to it); stats add up;
// notes say which part each came from. The eBPF backend uses it for the event types it has no
// tracepoint for (uid, gid, sid, ptrace, comm, coredump), which a proc connector source gives.
#pragma once

#include <memory>
#include <string>

#include "proctrail/source.hpp"
#include "util/unique_fd.hpp"

namespace proctrail {

class CombinedSource final : public EventSource {
 public:
  // Both already started. `secondary_label` prefixes the secondary's notes.
  CombinedSource(std::unique_ptr<EventSource> primary, std::unique_ptr<EventSource> secondary,
                 std::string secondary_label);

  void set_exec_handler(ExecHandlerFactory factory) override {
    primary_->set_exec_handler(std::move(factory));
  }
  Status start() override { return {}; }  // its parts are started when it is made
  Status poll(std::chrono::milliseconds timeout, std::vector<Event>& out) override;
  [[nodiscard]] uint64_t watermark_ns() const override;
  // An epoll fd readable when either part has something.
  [[nodiscard]] int fd() const override { return epoll_.get(); }
  [[nodiscard]] SourceStats stats() const override;
  [[nodiscard]] std::string_view name() const override { return primary_->name(); }
  [[nodiscard]] std::vector<std::string> notes() const override;

 private:
  std::unique_ptr<EventSource> primary_;
  std::unique_ptr<EventSource> secondary_;
  std::string label_;
  UniqueFd epoll_;
};

}  // namespace proctrail
