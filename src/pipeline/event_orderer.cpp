#include "proctrail/event_orderer.hpp"

namespace proctrail {

namespace {

constexpr std::string_view kExecdAgain =
    "the process exec'd again before /proc could be read for this exec";
constexpr std::string_view kReused =
    "the process exited and its pid was reused before /proc could be read for this exec";

ExecDetails* verifiable_exec(const Event& e) {
  const auto* x = std::get_if<ExecData>(&e.data);
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
          withdraw(*d, Withdraw::kImage,
                   "events were lost around this exec, so its /proc read cannot be verified");
        }
      }
    }
  }
  Key key{e.ts_ns, arrivals_++};
  index(key, e);
  events_.emplace(key, std::move(e));
}

void EventOrderer::index(const Key& key, const Event& e) {
  if (verifiable_exec(e)) execs_by_pid_[e.pid].insert(key);
  if (const auto* f = std::get_if<ForkData>(&e.data); f && !f->is_thread()) {
    births_by_pid_[f->child_pid].insert(key);
  }
  if (const auto* x = std::get_if<ExitData>(&e.data); x && x->ends_process(e)) {
    ends_by_pid_[e.pid].insert(key);
  }
}

void EventOrderer::unindex(const Key& key, const Event& e) {
  auto drop = [&key](std::unordered_map<int32_t, std::set<Key>>& by_pid, int32_t pid) {
    auto it = by_pid.find(pid);
    if (it == by_pid.end()) return;
    it->second.erase(key);
    if (it->second.empty()) by_pid.erase(it);
  };
  drop(execs_by_pid_, e.pid);
  if (const auto* f = std::get_if<ForkData>(&e.data); f && !f->is_thread()) {
    drop(births_by_pid_, f->child_pid);
  }
  if (std::holds_alternative<ExitData>(e.data)) drop(ends_by_pid_, e.pid);
}

const EventOrderer::Key* EventOrderer::first_after(
    const std::unordered_map<int32_t, std::set<Key>>& by_pid, int32_t pid, const Key& after) {
  auto it = by_pid.find(pid);
  if (it == by_pid.end()) return nullptr;
  auto next = it->second.upper_bound(after);
  return next == it->second.end() ? nullptr : &*next;
}

bool EventOrderer::read_after_reuse(Iter it) const {
  const ExecDetails* d = verifiable_exec(it->second);
  const ProcfsRead& read = *d->procfs_read;
  const int32_t pid = it->second.pid;
  const Key* end = first_after(ends_by_pid_, pid, it->first);
  if (end && end->first > read.end_ns) return false;  // alive until the read was done
  const Key* birth = first_after(births_by_pid_, pid, it->first);
  // Without an exit, a new process on the pid still means the old one ended (its exit was
  // lost): judged the same way.
  return birth && birth->first <= read.end_ns + options_.exec_guard_ns;
}

std::optional<bool> EventOrderer::verdict(Iter it, bool force, int depth) {
  ExecDetails* d = verifiable_exec(it->second);
  if (!d) return true;
  const ProcfsRead& read = *d->procfs_read;
  const uint64_t horizon = read.end_ns + options_.exec_guard_ns;
  if (watermark_ < horizon && !force) return std::nullopt;

  // The next exec of this process on this pid, if it came within the guard of this read's end.
  const int32_t pid = it->second.pid;
  const Key* next = first_after(execs_by_pid_, pid, it->first);
  if (!next || next->first > horizon) return true;
  for (const Key* bound :
       {first_after(ends_by_pid_, pid, it->first), first_after(births_by_pid_, pid, it->first)}) {
    if (bound && *bound < *next) return true;  // another process's exec
  }
  if (depth > 64) return false;
  Iter j = events_.find(*next);
  ExecDetails* dj = verifiable_exec(j->second);
  auto vj = verdict(j, force, depth + 1);
  if (!vj) return std::nullopt;
  return *vj && dj && read.image && dj->procfs_read->image &&
         *read.image != *dj->procfs_read->image;
}

void EventOrderer::withdraw(ExecDetails& d, Withdraw what, std::string_view why) {
  if (withdraw_procfs(d, what, why)) ++superseded_;
}

void EventOrderer::release(Iter it, std::vector<Event>& out) {
  Event& e = it->second;
  unindex(it->first, e);
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
  if (read_after_reuse(it)) {
    withdraw(*d, Withdraw::kAll, kReused);
  } else if (!covered) {
    withdraw(*d, Withdraw::kImage, uncovered_why);
  } else if (!v || !*v) {
    withdraw(*d, Withdraw::kImage, kExecdAgain);
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
