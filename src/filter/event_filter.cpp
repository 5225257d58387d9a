#include "proctrail/filter.hpp"

#include <array>

#include "filter/filter_stage.hpp"

namespace proctrail {

namespace {

}  // namespace

EventMask EventMask::all() {
  EventMask m;
  for (const auto& t : event_types()) {
    if (!t.option.empty() && t.type != EventType::ExecFailed) m.add(t.type);
  }
  return m;
}

bool EventMask::covers_all_kernel_events() const {
  // The proc connector's types: exec-failed is not one of them.
  return !nonzero_exit_only_ && (*this | all()) == *this;
}

EventMask EventMask::operator|(const EventMask& o) const {
  EventMask m;
  m.bits_ = bits_ | o.bits_;
  // nonzero-exit only narrows exits when nothing else asks for all of them.
  bool self_all_exits = has(EventType::Exit) && !nonzero_exit_only_;
  bool other_all_exits = o.has(EventType::Exit) && !o.nonzero_exit_only_;
  m.nonzero_exit_only_ = m.has(EventType::Exit) && !self_all_exits && !other_all_exits;
  return m;
}

Result<EventMask> EventMask::parse(std::string_view list) {
  EventMask m;
  bool any_exit = false, nonzero = false;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) comma = list.size();
    std::string_view word = list.substr(pos, comma - pos);
    pos = comma + 1;
    if (word.empty()) return make_error("empty event name in '" + std::string(list) + "'");
    if (word == "all") {
      m = m | all();
      any_exit = true;
      continue;
    }
    if (word == "nonzero-exit") {
      m.add(EventType::Exit);
      nonzero = true;
      continue;
    }
    bool found = false;
    for (const auto& t : event_types()) {
      if (!t.option.empty() && t.option == word) {
        m.add(t.type);
        if (t.type == EventType::Exit) any_exit = true;
        found = true;
      }
    }
    if (!found) {
      return make_error("unknown event '" + std::string(word) +
                        "' (choose from fork, exec, exit, nonzero-exit, uid, gid, sid, ptrace, "
                        "comm, coredump, exec-failed, all)");
    }
  }
  m.nonzero_exit_only_ = nonzero && !any_exit;
  return m;
}

bool EventMask::accepts(const Event& e) const {
  switch (e.type()) {
    case EventType::Ack:
    case EventType::Unknown:
    case EventType::Lost:
    case EventType::Resync:
    case EventType::Start:
    case EventType::Summary:
      return true;
    case EventType::Exit:
      if (!has(EventType::Exit)) return false;
      return !nonzero_exit_only_ || std::get<ExitData>(e.data).raw_status != 0;
    default:
      return has(e.type());
  }
}

bool EventFilter::matches_processes() const {
  return uid || owner_uid || comm_regex || argv_regex || exe_regex || cgroup_prefix ||
         container_prefix;
}

Status EventFilter::validate() const {
  for (auto [option, re] : {std::pair{"filter.comm_regex", &comm_regex},
                            std::pair{"filter.argv_regex", &argv_regex},
                            std::pair{"filter.exe_regex", &exe_regex}}) {
    if (!*re) continue;
    if (auto p = Pattern::compile(option, **re); !p) return p.error();
  }
  for (int32_t pid : pids) {
    if (pid <= 0) return make_error("filter.pids wants positive process ids, not " + std::to_string(pid));
  }
  return {};
}

}  // namespace proctrail
