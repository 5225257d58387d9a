#include "pipeline/output_stage.hpp"

#include <algorithm>

namespace proctrail {

bool OutputStage::wanted(const Event& e) {
  if (options_.exclude_pid != 0 && e.pid == options_.exclude_pid) {
    // The monitor's own threads come and go; a process it starts is news.
    const auto* f = std::get_if<ForkData>(&e.data);
    if (!f || f->is_thread()) return false;
  }
  return true;
}

Status OutputStage::emit(std::vector<Event>& ready) {
  auto kept =
      std::remove_if(ready.begin(), ready.end(), [this](const Event& e) { return !wanted(e); });
  ready.erase(kept, ready.end());
  for (Event& e : ready) {
    if (auto* f = std::get_if<ExecFailedData>(&e.data); f && f->creds && !f->user) {
      if (const std::string* name = users_.lookup(f->creds->uid)) f->user = *name;
    }
    auto* x = std::get_if<ExecData>(&e.data);
    if (!x || !x->details) continue;
    ExecDetails& d = *x->details;
    ++execs_;
    if (d.argv_source == ArgvSource::Kernel) ++argv_kernel_;
    if (d.argv_source == ArgvSource::Procfs) ++argv_procfs_;
    if (d.argv_source == ArgvSource::Unavailable) ++argv_unavailable_;
    if (d.creds && !d.user) {
      if (const std::string* name = users_.lookup(d.creds->uid)) d.user = *name;
    }
  }
  Status s;
  if (!ready.empty()) {
    s = sink_.write(ready);
    if (s) written_ += ready.size();
  }
  ready.clear();
  superseded_ = orderer_.superseded();
  return s;
}

Status OutputStage::run(std::atomic<bool>& closed, const std::atomic<uint32_t>& reopen_requests) {
  uint32_t reopens_seen = reopen_requests.load();
  std::vector<Event> ready;
  Status status;
  if (options_.start_record) orderer_.push(std::move(*options_.start_record));
  std::deque<Batch> batches;
  while (queue_.take_all(batches, options_.interval)) {
    if (const uint32_t r = reopen_requests.load(); r != reopens_seen) {
      reopens_seen = r;
      if (auto s = sink_.reopen(); !s) {
        status = s;
        break;
      }
    }
    uint64_t watermark = 0;
    for (Batch& b : batches) {
      for (Event& e : b.events) orderer_.push(std::move(e));
      watermark = std::max(watermark, b.watermark_ns);
    }
    orderer_.advance(watermark, ready);
    if (auto s = emit(ready); !s) {
      status = s;
      break;
    }
    if (sink_.closed()) {
      closed = true;
      // The view's reader went away: the monitor ends quietly, but the other sinks still close
      // as at any stop (the record commits what it holds, Kafka spools what waits).
      (void)sink_.close();
      return {};
    }
    if (auto s = sink_.tick(); !s) {
      status = s;
      break;
    }
  }
  if (status) {
    orderer_.finish(ready);
    status = emit(ready);
  }
  if (auto s = sink_.close(); status) status = s;
  if (sink_.closed()) closed = true;
  return status;
}

}  // namespace proctrail
