#include "state/process_table.hpp"

#include <algorithm>
#include <unordered_set>

namespace proctrail {

namespace {

bool remove_thread(std::vector<int32_t>& threads, int32_t tid) {
  auto it = std::find(threads.begin(), threads.end(), tid);
  if (it == threads.end()) return false;
  *it = threads.back();
  threads.pop_back();
  return true;
}

}  // namespace

void ProcessTable::on_fork(const Event& e, const ForkData& fork, uint64_t child_start_ticks) {
  if (fork.is_thread()) {
    auto it = entries_.find(fork.child_pid);
    if (it == entries_.end() || it->second.exited || !it->second.threads_known) return;
    auto& threads = it->second.threads;
    if (std::find(threads.begin(), threads.end(), fork.child_tid) == threads.end()) {
      threads.push_back(fork.child_tid);
    }
    return;
  }
  ProcessEntry child;
  child.pid = fork.child_pid;
  child.ppid = fork.parent_pid;
  child.start_ns = e.ts_ns;
  child.start_precise = true;
  child.threads = {fork.child_tid};
  child.threads_known = true;
  child.start_ticks = child_start_ticks;
  child.parent_key = ProcessKey{fork.parent_pid, 0, 0};
  if (auto it = entries_.find(fork.parent_pid); it != entries_.end()) {
    child.comm = it->second.comm;
    child.image = it->second.image;
    child.creds = it->second.creds;
    child.parent_key = it->second.key();
  }
  auto [it, inserted] = entries_.try_emplace(child.pid);
  if (!inserted && it->second.exited) --tombstone_count_;  // a reused pid replaces a tombstone
  it->second = std::move(child);
}

std::optional<int32_t> ProcessTable::on_exec(const Event& e,
                                             std::shared_ptr<const ExecDetails> details,
                                             std::optional<uint64_t> start_ns,
                                             std::optional<uint64_t> start_ticks,
                                             std::optional<uint32_t> ordinal) {
  auto [it, inserted] = entries_.try_emplace(e.pid);
  ProcessEntry& p = it->second;
  if (inserted) {
    // The fork happened before we listened, or was lost.
    p.pid = e.pid;
    p.start_ns = start_ns.value_or(0);
    p.start_precise =
        start_ns && details && details->source(Field::StartTime) == FieldSource::Kernel;
    if (details && details->ppid) {
      const ProcessEntry* parent = find(*details->ppid);
      p.parent_key = parent ? parent->key() : ProcessKey{*details->ppid, 0, 0};
    }
  } else if (p.exited) {
    return std::nullopt;  // a late exec of a process that has already exited changes nothing
  }
  // The exec's own read of the start is exact; the fork's may be an estimate, a tick or two
  // late on a slow machine. A key, once given, is kept for the life of the process: the
  // fork's record, the filter's trees and the tree view hold it already. A start further off
  // is another process (its fork was not seen), which gets a key of its own.
  if (start_ticks) {
    const uint64_t was = p.start_ticks, now = *start_ticks;
    const uint64_t apart = was > now ? was - now : now - was;
    if (was == 0 || apart > kEstimateDoubtTicks) p.start_ticks = now;
  }
  // The kernel's start, to the nanosecond, also makes a start known only from /proc's ticks
  // precise.
  if (start_ns && !p.start_precise && details &&
      details->source(Field::StartTime) == FieldSource::Kernel) {
    p.start_ns = *start_ns;
    p.start_precise = true;
  }
  p.exec_ordinal = ordinal.value_or(p.exec_ordinal + 1);
  // execve ends every other thread and gives the caller the process's pid. When the table
  // knows the threads and one other than the main thread is left, that one called it.
  std::optional<int32_t> caller;
  if (p.threads_known && p.threads.size() == 1 && p.threads[0] != e.pid) caller = p.threads[0];
  p.threads = {e.pid};
  p.threads_known = true;
  if (details) {
    if (details->ppid && inserted) p.ppid = *details->ppid;
    if (details->comm) p.comm = *details->comm;
    if (details->creds && details->source(Field::Creds) != FieldSource::Table) {
      p.creds = details->creds;
    }
  }
  // The old image's command is no longer this process's, even when the new one is unknown.
  p.image = std::move(details);
  return caller;
}

void ProcessTable::on_comm(const Event& e, const CommData& comm) {
  if (e.pid != e.tid) return;  // thread names are not the process's
  if (auto it = entries_.find(e.pid); it != entries_.end() && !it->second.exited) {
    it->second.comm = comm.comm;
  }
}

void ProcessTable::on_uid(const Event& e, const UidData& uid) {
  // A thread's setuid is the process's (glibc applies it to every thread).
  auto it = entries_.find(e.pid);
  if (it == entries_.end() || it->second.exited || !it->second.creds) return;
  it->second.creds->uid = uid.ruid;
  it->second.creds->euid = uid.euid;
}

void ProcessTable::on_gid(const Event& e, const GidData& gid) {
  auto it = entries_.find(e.pid);
  if (it == entries_.end() || it->second.exited || !it->second.creds) return;
  it->second.creds->gid = gid.rgid;
  it->second.creds->egid = gid.egid;
}

std::optional<Credentials> ProcessTable::live_creds(int32_t pid) const {
  const ProcessEntry* p = find(pid);
  if (!p || p->exited) return std::nullopt;
  return p->creds;
}

void ProcessTable::bury(ProcessEntry& entry, uint64_t ts) {
  entry.exited = true;
  entry.exit_ns = ts;
  entry.threads.clear();
  // The exit event holds the image now; a tombstone keeps only what late events need (comm,
  // parent, start), so its memory is small whatever command line the process had.
  entry.image.reset();
  buried_.emplace_back(ts, entry.pid);
  ++tombstone_count_;
}

void ProcessTable::on_exit(const Event& e, ExitData& x) {
  auto it = entries_.find(e.pid);
  ProcessEntry* p = it == entries_.end() || it->second.exited ? nullptr : &it->second;
  // exec from a non-main thread ends the old main thread; the kernel makes it a thread first
  // (exit signal -1) and its exit may be reported after the exec. A main thread that ends a
  // process keeps the exit signal its parent asked for.
  const bool demoted_leader = e.pid == e.tid && x.exit_signal == -1;
  bool ended;
  if (x.process_ended) {
    ended = *x.process_ended;  // the source knows
    if (p && p->threads_known && !demoted_leader) remove_thread(p->threads, e.tid);
  } else if (it != entries_.end() && it->second.exited) {
    ended = false;  // the process has ended already: a late thread's exit
  } else if (!p || !p->threads_known) {
    ended = e.pid == e.tid && !demoted_leader;
  } else if (demoted_leader) {
    ended = false;
  } else {
    // A thread the table does not know as alive has been accounted for already (an exec
    // took its place): it cannot end the process.
    ended = remove_thread(p->threads, e.tid) && p->threads.empty();
  }
  x.process_ended = ended;
  if (!ended) return;
  if (!x.process_status) x.process_status = x.raw_status;
  if (!p) return;
  auto details = std::make_shared<ExitDetails>();
  if (!p->comm.empty()) details->comm = p->comm;
  details->image = p->image;
  if (e.ts_ns >= p->start_ns && p->start_ns != 0) {
    details->duration_ns = e.ts_ns - p->start_ns;
    details->duration_approximate = !p->start_precise;
  }
  bury(*p, e.ts_ns);
  x.details = std::move(details);
}

void ProcessTable::stamp(Event& e) const {
  int32_t pid = e.pid;
  if (const auto* f = std::get_if<ForkData>(&e.data)) pid = f->child_pid;
  const ProcessEntry* p = find(pid);
  if (!p) return;
  e.key = p->key();
  e.parent_key = p->parent_key;
  if (p->creds) e.uid = p->creds->uid;
}

void ProcessTable::link_parents() {
  for (auto& [pid, entry] : entries_) {
    if (entry.parent_key.known() || entry.ppid <= 0) continue;
    if (auto it = entries_.find(entry.ppid); it != entries_.end()) {
      entry.parent_key = it->second.key();
    } else {
      entry.parent_key = ProcessKey{entry.ppid, 0, 0};
    }
  }
}

void ProcessTable::add_scanned(ProcessEntry entry) {
  auto [it, inserted] = entries_.try_emplace(entry.pid);
  if (!inserted) {
    ProcessEntry& old = it->second;
    if (!old.exited) {
      // Same process if the start times agree to within /proc's tick; keep what we know.
      uint64_t diff = old.start_ns > entry.start_ns ? old.start_ns - entry.start_ns
                                                    : entry.start_ns - old.start_ns;
      if (diff <= 20'000'000) return;
    } else {
      --tombstone_count_;
    }
  }
  it->second = std::move(entry);
}

ResyncData ProcessTable::resync(std::vector<ProcessEntry> scanned) {
  ResyncData r;
  std::unordered_set<int32_t> seen;
  seen.reserve(scanned.size());
  for (auto& s : scanned) {
    seen.insert(s.pid);
    auto it = entries_.find(s.pid);
    if (it == entries_.end() || it->second.exited) ++r.added;
    add_scanned(std::move(s));
  }
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (!it->second.exited && !seen.count(it->first)) {
      it = entries_.erase(it);
      ++r.removed;
    } else {
      ++it;
    }
  }
  link_parents();
  r.table_size = entries_.size();
  return r;
}

std::vector<const ProcessEntry*> ProcessTable::live() const {
  std::vector<const ProcessEntry*> out;
  for (const auto& [pid, entry] : entries_) {
    if (!entry.exited) out.push_back(&entry);
  }
  std::sort(out.begin(), out.end(),
            [](const ProcessEntry* a, const ProcessEntry* b) { return a->pid < b->pid; });
  return out;
}

const ProcessEntry* ProcessTable::find(int32_t pid) const {
  auto it = entries_.find(pid);
  return it == entries_.end() ? nullptr : &it->second;
}

std::optional<uint64_t> ProcessTable::live_start_ns(int32_t pid) const {
  const ProcessEntry* p = find(pid);
  if (!p || p->exited || p->start_ns == 0) return std::nullopt;
  return p->start_ns;
}

std::vector<Ancestor> ProcessTable::ancestry(int32_t pid, size_t max_depth) const {
  std::vector<Ancestor> chain;
  const ProcessEntry* p = find(pid);
  while (p && p->pid != 1 && p->ppid > 0 && chain.size() < max_depth) {
    const ProcessEntry* parent = find(p->ppid);
    if (!parent) {
      chain.push_back(Ancestor{p->ppid, ""});
      break;
    }
    chain.push_back(Ancestor{parent->pid, parent->comm});
    if (parent->pid == pid) break;  // a cycle can only come from stale data: stop
    p = parent;
  }
  return chain;
}

void ProcessTable::expire(uint64_t now_ns) {
  while (!buried_.empty()) {
    auto [ts, pid] = buried_.front();
    bool old = now_ns > ts && now_ns - ts > options_.tombstone_ttl_ns;
    if (!old && tombstone_count_ <= options_.max_tombstones) break;
    buried_.pop_front();
    auto it = entries_.find(pid);
    // Only remove the tombstone this item was made for, not a newer process with the pid.
    if (it != entries_.end() && it->second.exited && it->second.exit_ns == ts) {
      entries_.erase(it);
      --tombstone_count_;
    }
  }
}

}  // namespace proctrail
