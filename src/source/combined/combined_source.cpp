#include "source/combined/combined_source.hpp"

#include <sys/epoll.h>

#include <algorithm>

namespace proctrail {

CombinedSource::CombinedSource(std::unique_ptr<EventSource> primary,
                               std::unique_ptr<EventSource> secondary, std::string secondary_label)
    : primary_(std::move(primary)),
      secondary_(std::move(secondary)),
      label_(std::move(secondary_label)) {
  epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  for (EventSource* s : {primary_.get(), secondary_.get()}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    if (epoll_.valid() && s->fd() >= 0) (void)epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, s->fd(), &ev);
  }
}

Status CombinedSource::poll(std::chrono::milliseconds timeout, std::vector<Event>& out) {
  // The primary carries the urgent work (exec handlers): it is the one waited on.
  if (auto s = primary_->poll(timeout, out); !s) return s;
  return secondary_->poll(std::chrono::milliseconds(0), out);
}

uint64_t CombinedSource::watermark_ns() const {
  return std::min(primary_->watermark_ns(), secondary_->watermark_ns());
}

SourceStats CombinedSource::stats() const {
  SourceStats s = primary_->stats();
  s += secondary_->stats();
  return s;
}

std::vector<std::string> CombinedSource::notes() const {
  std::vector<std::string> n = primary_->notes();
  for (auto& c : secondary_->notes()) n.push_back(label_ + c);
  return n;
}

}  // namespace proctrail
