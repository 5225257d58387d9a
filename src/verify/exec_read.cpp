#include "verify/exec_read.hpp"

namespace proctrail::verify {

namespace {

ExecDetails* verifiable(const Event& e) {
  const auto* x = std::get_if<ExecData>(&e.data);
  if (!x || !x->details || !x->details->procfs_read) return nullptr;
  return x->details.get();
}

}  // namespace

ExpectedProcess ExpectedProcess::for_exec(uint64_t event_boottime_ns, const ExecDetails& d) {
  ExpectedProcess e;
  e.event_boottime_ns = event_boottime_ns;
  if (d.start_boottime_ns && d.source(Field::StartTime) == FieldSource::Kernel) {
    e.known_start_boottime_ns = d.start_boottime_ns;
  }
  return e;
}

std::optional<std::string_view> identity_problem(uint64_t start_ticks,
                                                 const ExpectedProcess& expected,
                                                 uint64_t tick_ns) {
  // A process starts before its exec: a start after the event means the pid now belongs to
  // someone else. A start known from elsewhere pins it down to the tick.
  bool reused = start_ticks > expected.event_boottime_ns / tick_ns;
  if (!reused && expected.known_start_boottime_ns) {
    reused = !same_start_tick(start_ticks, *expected.known_start_boottime_ns / tick_ns);
  }
  if (reused) return kReusedBeforeRead;
  return std::nullopt;
}

void check_against_table(ExecDetails& d, std::optional<uint64_t> table_start_boottime_ns,
                         uint64_t tick_ns) {
  if (d.source(Field::StartTime) != FieldSource::Procfs || !d.start_boottime_ns) return;
  if (!table_start_boottime_ns) return;
  if (!same_start_tick(*d.start_boottime_ns / tick_ns, *table_start_boottime_ns / tick_ns)) {
    withdraw(d, Withdraw::kAll, kReusedBeforeRead);
  }
}

bool withdraw(ExecDetails& d, Withdraw what, std::string_view why) {
  bool changed = false;
  if (d.argv_source == ArgvSource::Procfs) {
    d.argv_source = ArgvSource::Unavailable;
    d.argv.clear();
    d.argv_truncated = false;
    d.argv_bytes.reset();
    changed = true;
  }
  auto drop = [&](Field f, auto& value) {
    if (d.source(f) != FieldSource::Procfs) return;
    value.reset();
    d.set_source(f, FieldSource::None);
    changed = true;
  };
  drop(Field::Exe, d.exe);
  drop(Field::Creds, d.creds);
  drop(Field::Comm, d.comm);
  drop(Field::Env, d.env);
  if (!d.env) d.env_truncated = false;
  if (what == Withdraw::kAll) {
    drop(Field::Cwd, d.cwd);
    drop(Field::Ppid, d.ppid);
    drop(Field::StartTime, d.start_boottime_ns);
    if (d.source(Field::Cgroup) == FieldSource::Procfs) d.container.reset();
    drop(Field::Cgroup, d.cgroup);
  }
  if (changed) d.note = why;
  return changed;
}

void ExecReadVerifier::add(const Key& key, const Event& e) {
  if (ExecDetails* d = verifiable(e)) {
    reads_.emplace(key, d);
    execs_by_pid_[e.pid].insert(key);
  }
  if (const auto* f = std::get_if<ForkData>(&e.data); f && !f->is_thread()) {
    births_by_pid_[f->child_pid].insert(key);
  }
  if (const auto* x = std::get_if<ExitData>(&e.data); x && x->ends_process(e)) {
    ends_by_pid_[e.pid].insert(key);
  }
}

void ExecReadVerifier::remove(const Key& key, const Event& e) {
  auto drop = [&key](ByPid& by_pid, int32_t pid) {
    auto it = by_pid.find(pid);
    if (it == by_pid.end()) return;
    it->second.erase(key);
    if (it->second.empty()) by_pid.erase(it);
  };
  if (reads_.erase(key)) drop(execs_by_pid_, e.pid);
  if (const auto* f = std::get_if<ForkData>(&e.data); f && !f->is_thread()) {
    drop(births_by_pid_, f->child_pid);
  }
  if (std::holds_alternative<ExitData>(e.data)) drop(ends_by_pid_, e.pid);
}

void ExecReadVerifier::on_loss(uint64_t ts) {
  for (auto& [key, d] : reads_) {
    if (key.first > ts) break;
    take_back(*d, Withdraw::kImage, kLostAround);
  }
}

const ExecReadVerifier::Key* ExecReadVerifier::first_after(const ByPid& by_pid, int32_t pid,
                                                           const Key& after) {
  auto it = by_pid.find(pid);
  if (it == by_pid.end()) return nullptr;
  auto next = it->second.upper_bound(after);
  return next == it->second.end() ? nullptr : &*next;
}

bool ExecReadVerifier::read_after_reuse(const Key& key, int32_t pid, const ProcfsRead& read) const {
  const Key* end = first_after(ends_by_pid_, pid, key);
  if (end && end->first > read.end_ns) return false;  // alive until the read was done
  const Key* birth = first_after(births_by_pid_, pid, key);
  // Without an exit, a new process on the pid still means the old one ended (its exit was
  // lost): judged the same way.
  return birth && birth->first <= read.end_ns + guard_ns_;
}

std::optional<bool> ExecReadVerifier::later_exec_verdict(const Key& key, int32_t pid,
                                                         uint64_t watermark, bool force,
                                                         int depth) {
  auto self = reads_.find(key);
  if (self == reads_.end()) return true;
  const ProcfsRead& read = *self->second->procfs_read;
  const uint64_t horizon = read.end_ns + guard_ns_;
  if (watermark < horizon && !force) return std::nullopt;
  // The next exec of this process on this pid, if it came within the guard of this read's end.
  const Key* next = first_after(execs_by_pid_, pid, key);
  if (!next || next->first > horizon) return true;
  for (const Key* bound :
       {first_after(ends_by_pid_, pid, key), first_after(births_by_pid_, pid, key)}) {
    if (bound && *bound < *next) return true;  // another process's exec
  }
  if (depth > 64) return false;
  auto vj = later_exec_verdict(*next, pid, watermark, force, depth + 1);
  if (!vj) return std::nullopt;
  const ExecDetails* dj = reads_.at(*next);
  return *vj && read.image && dj->procfs_read->image && *read.image != *dj->procfs_read->image;
}

void ExecReadVerifier::take_back(ExecDetails& d, Withdraw what, std::string_view why) {
  if (withdraw(d, what, why)) ++withdrawn_;
}

bool ExecReadVerifier::settle(const Key& key, const Event& e, uint64_t watermark, bool force,
                              std::string_view forced_why) {
  auto self = reads_.find(key);
  if (self == reads_.end()) return true;
  ExecDetails& d = *self->second;
  // A read whose guard window the source never covered cannot be vouched for.
  const bool covered = watermark >= d.procfs_read->end_ns + guard_ns_;
  auto v = later_exec_verdict(key, e.pid, watermark, force, 0);
  if (!v && !force) return false;  // wait for later events to decide
  if (read_after_reuse(key, e.pid, *d.procfs_read)) {
    take_back(d, Withdraw::kAll, kReusedAround);
  } else if (!covered) {
    take_back(d, Withdraw::kImage, forced_why);
  } else if (!v || !*v) {
    take_back(d, Withdraw::kImage, kExecdAgain);
  }
  return true;
}

}  // namespace proctrail::verify
