#include "filter/filter_stage.hpp"

#include <algorithm>

#include "enrich/proc_tree.hpp"

namespace proctrail {

namespace {

const ExecDetails* exec_details(const Event& e) {
  if (const auto* x = std::get_if<ExecData>(&e.data)) return x->details.get();
  return nullptr;
}

bool has_prefix(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

FilterStage::FilterStage(EventFilter filter, const std::string& proc_root)
    : filter_(std::move(filter)), proc_root_(proc_root) {
  // validate() has said so already; should a caller skip it, a pattern that does not compile
  // matches nothing rather than being left out (which would show everything).
  auto compile = [this](const char* option, const std::optional<std::string>& re) {
    std::unique_ptr<Pattern> p;
    if (re) {
      if (auto c = Pattern::compile(option, *re)) {
        p = std::move(*c);
      } else {
        broken_ = true;
      }
    }
    return p;
  };
  re_.comm = compile("filter.comm_regex", filter_.comm_regex);
  re_.argv = compile("filter.argv_regex", filter_.argv_regex);
  re_.exe = compile("filter.exe_regex", filter_.exe_regex);
  follow_trees_ = !filter_.pids.empty();
  if (follow_trees_) {
    if (proc_root.empty()) {
      // Not this machine now: a root is known by its pid until its first event says more.
      for (int32_t pid : filter_.pids) followed_.insert(ProcessKey{pid, 0, 0});
    } else {
      for (const ProcessKey& k : procfs::tree_keys_now(filter_.pids, proc_root)) {
        followed_.insert(k);
      }
    }
    followed_count_ = followed_.size();
  }
}

bool FilterStage::is_followed(const ProcessKey& k) const {
  if (followed_.count(k) > 0) return true;
  if (k.start_ticks != 0) return followed_.count(ProcessKey{k.pid, 0, 0}) > 0;
  // The table could not tell which process this is (events were lost): the pid is all there
  // is to go by, as it is for the table itself until its resync.
  return std::any_of(followed_.begin(), followed_.end(),
                     [&](const ProcessKey& f) { return f.pid == k.pid; });
}

bool FilterStage::in_trees(const Event& e) {
  if (!follow_trees_) return true;
  if (const auto* f = std::get_if<ForkData>(&e.data); f && !f->is_thread()) {
    // A new process joins when its parent is followed; a new thread belongs to its process.
    return is_followed(e.parent_process());
  }
  if (const auto* x = std::get_if<ExitData>(&e.data); x && !x->ends_process(e)) {
    if (ended_lately_set_.count(e.process()) > 0) return true;
  }
  return is_followed(e.process());
}

bool FilterStage::matches_process(const Event& e) {
  if (!filter_.matches_processes()) return true;
  // What is known of the process's program for this event.
  const ExecDetails* d = exec_details(e);
  const ExecFailedData* failed = std::get_if<ExecFailedData>(&e.data);
  const std::string* exit_comm = nullptr;
  if (const auto* x = std::get_if<ExitData>(&e.data); x && x->details) {
    if (!d) d = x->details->image.get();
    if (x->details->comm) exit_comm = &*x->details->comm;
  }
  // A fork is its parent's doing, judged by the parent's program (which the child inherits).
  const bool fork =
      std::holds_alternative<ForkData>(e.data) && !std::get<ForkData>(e.data).is_thread();
  auto it = images_.find(fork ? e.parent_process() : e.process());
  if (!d && it != images_.end()) d = it->second.image.get();
  if (!failed && d && it != images_.end() && it->second.image.get() == d && it->second.verdict) {
    return *it->second.verdict;
  }
  return evaluate(d, failed, exit_comm);
}

bool FilterStage::in_scope(const Event& e) const {
  if (!filter_.owner_uid) return true;
  const auto* x = std::get_if<ExecData>(&e.data);
  const ExecDetails* d = x ? x->details.get() : nullptr;
  // A process whose credentials are not known may be anyone's.
  return d && d->creds && d->creds->uid == *filter_.owner_uid &&
         d->creds->euid == *filter_.owner_uid;
}

bool FilterStage::evaluate(const ExecDetails* d, const ExecFailedData* failed,
                           const std::string* exit_comm) const {
  if (broken_) return false;
  if (filter_.owner_uid) {
    const Credentials* c =
        failed && failed->creds ? &*failed->creds : (d && d->creds ? &*d->creds : nullptr);
    // A process whose credentials are not known is not shown: it may be anyone's.
    if (!c || c->uid != *filter_.owner_uid || c->euid != *filter_.owner_uid) return false;
  }
  if (filter_.uid) {
    std::optional<uint32_t> uid;
    if (failed && failed->creds) {
      uid = failed->creds->uid;
    } else if (d && d->creds) {
      uid = d->creds->uid;
    }
    if (uid != filter_.uid) return false;
  }
  if (re_.comm) {
    const std::string* comm = failed ? &failed->comm : (d && d->comm ? &*d->comm : exit_comm);
    if (!comm || !re_.comm->search(*comm)) return false;
  }
  if (re_.argv) {
    const Argv* argv = failed ? &failed->argv : (d ? &d->argv : nullptr);
    if (!argv || argv->empty() || !re_.argv->search(argv->joined())) return false;
  }
  if (re_.exe) {
    const std::string* exe = failed ? &failed->filename : (d && d->exe ? &*d->exe : nullptr);
    if (!exe || !re_.exe->search(*exe)) return false;
  }
  if (filter_.cgroup_prefix) {
    if (!d || !d->cgroup || !has_prefix(*d->cgroup, *filter_.cgroup_prefix)) return false;
  }
  if (filter_.container_prefix) {
    if (!d || !d->container || !has_prefix(d->container->id, *filter_.container_prefix)) {
      return false;
    }
  }
  return true;
}

void FilterStage::learn_after(const Event& e, std::optional<bool> exec_verdict) {
  const bool track_images = filter_.matches_processes();
  if (const auto* f = std::get_if<ForkData>(&e.data)) {
    if (f->is_thread()) return;
    const ProcessKey child = e.process(), parent = e.parent_process();
    if (follow_trees_ && is_followed(parent) && followed_.insert(child).second) {
      followed_count_ = followed_.size();
    }
    if (track_images) {
      if (auto it = images_.find(parent); it != images_.end()) {
        images_[child] = it->second;
      } else {
        images_.erase(child);
      }
    }
  } else if (const auto* exec = std::get_if<ExecData>(&e.data)) {
    if (track_images && exec->details) images_[e.process()] = Known{exec->details, exec_verdict};
  } else if (const auto* x = std::get_if<ExitData>(&e.data)) {
    if (!x->ends_process(e)) return;
    const ProcessKey ended = e.process();
    if (follow_trees_) {
      size_t erased = followed_.erase(ended);
      if (ended.start_ticks != 0) {
        erased += followed_.erase(ProcessKey{ended.pid, 0, 0});
      } else {
        erased += std::erase_if(followed_, [&](const ProcessKey& k) { return k.pid == ended.pid; });
      }
      if (erased) {
        followed_count_ = followed_.size();
        if (ended_lately_set_.insert(ended).second) {
          ended_lately_.push_back(ended);
          if (ended_lately_.size() > kEndedLately) {
            ended_lately_set_.erase(ended_lately_.front());
            ended_lately_.pop_front();
          }
        }
      }
    }
    if (track_images) images_.erase(ended);
  }
}

void FilterStage::refresh_trees() {
  if (proc_root_.empty()) return;  // not a live stream: nothing to read again
  std::vector<int32_t> now;
  for (const ProcessKey& k : followed_) now.push_back(k.pid);
  now.insert(now.end(), filter_.pids.begin(), filter_.pids.end());
  followed_.clear();
  for (const ProcessKey& k : procfs::tree_keys_now(now, proc_root_)) followed_.insert(k);
  followed_count_ = followed_.size();
}

bool FilterStage::accept(const Event& e) {
  bool pass = true;
  switch (e.type()) {
    case EventType::Ack:
      pass = filter_.acks;
      break;
    case EventType::Lost:
    case EventType::Resync:
      if (follow_trees_) refresh_trees();
      return in_window(e);
    case EventType::Unknown:
    case EventType::Start:
      return true;
    case EventType::Summary:
      // A summary a recording holds covers its run up to its time: outside the window, it
      // would count what the window leaves out.
      return in_window(e);
    default:
      pass = filter_.types.accepts(e);
      break;
  }
  if (pass && !filter_.threads) {
    if (const auto* f = std::get_if<ForkData>(&e.data); f && f->is_thread()) pass = false;
    if (const auto* x = std::get_if<ExitData>(&e.data); x && !x->ends_process(e)) pass = false;
  }
  // A thread's end is shown with its birth: with forks. "-e exec,exit" asks for programs and
  // how processes end, not for threads.
  if (pass && !filter_.types.has(EventType::Fork)) {
    if (const auto* x = std::get_if<ExitData>(&e.data); x && !x->ends_process(e)) pass = false;
  }
  if (pass && filter_.failed) {
    if (const auto* x = std::get_if<ExitData>(&e.data)) {
      pass = x->ends_process(e) && x->status(e) != 0;
    } else {
      pass = e.type() == EventType::ExecFailed;
    }
  }
  // The trees and images learn from every event, shown or not; a process's end is checked
  // against the trees before it leaves them. An exec's verdict is kept with its image, also
  // when the exec itself is not shown (-e exit), so its exit is judged without matching again.
  std::optional<bool> exec_verdict;
  if (e.type() == EventType::Exec && filter_.matches_processes()) {
    exec_verdict = matches_process(e);
    if (pass) pass = in_trees(e) && *exec_verdict;
  } else if (pass) {
    pass = in_trees(e) && matches_process(e);
  }
  learn_after(e, exec_verdict);
  return pass && in_window(e);
}

bool FilterStage::in_window(const Event& e) const {
  if (filter_.since_wall_ns && e.wall_ns < *filter_.since_wall_ns) return false;
  if (filter_.until_wall_ns && e.wall_ns >= *filter_.until_wall_ns) return false;
  return true;
}

}  // namespace proctrail
