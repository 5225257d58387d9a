#include "proctrail/event_orderer.hpp"

namespace proctrail {

namespace {

constexpr std::string_view kExecdAgain =
    "the process exec'd again before /proc could be read for this exec";

ExecDetails* verifiable_exec(Event& e) {
  auto* x = std::get_if<ExecData>(&e.data);
  if (!x || !x->details || !x->details->procfs_read) return nullptr;
  return x->details.get();
}

}  // namespace

void EventOrderer::push(Event e) {
  if (e.type() == EventType::Lost) {
    // A lost event may be the later exec that would have shown a held read to be wrong:
    // nothing held can be vouched for any more.
    for (auto& [pid, keys] : execs_by_pid_) {
      for (const Key& k : keys) {
        if (k.first > e.ts_ns) continue;
        if (ExecDetails* d = verifiable_exec(events_.at(k))) {
          withdraw(*d, "events were lost around this exec, so its /proc read cannot be verified");
        }
      }
    }
  }
  Key key{e.ts_ns, arrivals_++};
  if (verifiable_exec(e)) execs_by_pid_[e.pid].insert(key);
  events_.emplace(key, std::move(e));
}

std::optional<bool> EventOrderer::verdict(Iter it, bool force, int depth) {
  ExecDetails* d = verifiable_exec(it->second);
  if (!d) return true;
  const ProcfsRead& read = *d->procfs_read;
  const uint64_t horizon = read.end_ns + options_.exec_guard_ns;
  if (watermark_ < horizon && !force) return std::nullopt;

  // The next exec of this pid, if it came within the guard of this read's end.
  const auto& keys = execs_by_pid_[it->second.pid];
  auto next = keys.upper_bound(it->first);
  if (next == keys.end() || next->first > horizon) return true;
  if (depth > 64) return false;
  Iter j = events_.find(*next);
  ExecDetails* dj = verifiable_exec(j->second);
  auto vj = verdict(j, force, depth + 1);
  if (!vj) return std::nullopt;
  return *vj && dj && read.image && dj->procfs_read->image &&
         *read.image != *dj->procfs_read->image;
}

void EventOrderer::withdraw(ExecDetails& d, std::string_view why) {
  if (withdraw_procfs(d, Withdraw::kImage, why)) ++superseded_;
}

void EventOrderer::release(Iter it, std::vector<Event>& out) {
  Event& e = it->second;
  if (verifiable_exec(e)) {
    auto& keys = execs_by_pid_[e.pid];
    keys.erase(it->first);
    if (keys.empty()) execs_by_pid_.erase(e.pid);
  }
  out.push_back(std::move(e));
  events_.erase(it);
}

bool EventOrderer::judge(Iter it, bool force, std::string_view uncovered_why) {
  ExecDetails* d = verifiable_exec(it->second);
  if (!d) return true;
  // A read whose guard window the source never covered cannot be vouched for.
  const bool covered = watermark_ >= d->procfs_read->end_ns + options_.exec_guard_ns;
  auto v = verdict(it, force, 0);
  if (!v && !force) return false;  // wait for later events to decide
  if (!covered) {
    withdraw(*d, uncovered_why);
  } else if (!v || !*v) {
    withdraw(*d, kExecdAgain);
  }
  return true;
}

void EventOrderer::advance(uint64_t watermark_ns, std::vector<Event>& out) {
  if (watermark_ns > watermark_) watermark_ = watermark_ns;
  while (!events_.empty()) {
    Iter it = events_.begin();
    const bool overfull = events_.size() > options_.max_pending;
    if (it->first.first > watermark_ && !overfull) break;
    if (!judge(it, overfull, "too many events were waiting to verify this exec's /proc read")) {
      break;
    }
    release(it, out);
  }
}

void EventOrderer::finish(std::vector<Event>& out) {
  while (!events_.empty()) {
    Iter it = events_.begin();
    judge(it, true, "monitoring stopped before this exec's /proc read could be verified");
    release(it, out);
  }
}

}  // namespace proctrail
