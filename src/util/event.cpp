#include "proctrail/event.hpp"

#include <string.h>

#include <csignal>

namespace proctrail {

namespace {

constexpr std::array<std::string_view, kEventTypeCount> kTypeNames = {
    "ack",  "fork",     "exec", "uid",     "gid",  "sid",    "ptrace",
    "comm", "coredump", "exit", "unknown", "lost", "resync", "start",
};

// Names a user can give to --events, with the type each selects.
struct SelectableEvent {
  std::string_view name;
  EventType type;
};
constexpr std::array<SelectableEvent, 9> kSelectable = {{
    {"fork", EventType::Fork},
    {"exec", EventType::Exec},
    {"exit", EventType::Exit},
    {"uid", EventType::Uid},
    {"gid", EventType::Gid},
    {"sid", EventType::Sid},
    {"ptrace", EventType::Ptrace},
    {"comm", EventType::Comm},
    {"coredump", EventType::Coredump},
}};

}  // namespace

std::string_view event_type_name(EventType type) {
  auto i = static_cast<size_t>(type);
  return i < kTypeNames.size() ? kTypeNames[i] : "unknown";
}

std::string_view argv_source_name(ArgvSource source) {
  switch (source) {
    case ArgvSource::Kernel:
      return "kernel";
    case ArgvSource::Procfs:
      return "procfs";
    case ArgvSource::Unavailable:
      break;
  }
  return "unavailable";
}

std::string_view field_source_name(FieldSource source) {
  switch (source) {
    case FieldSource::Kernel:
      return "kernel";
    case FieldSource::Procfs:
      return "procfs";
    case FieldSource::Table:
      return "table";
    case FieldSource::None:
      break;
  }
  return "none";
}

std::string_view field_name(Field field) {
  static constexpr std::array<std::string_view, kFieldCount> kNames = {
      "exe", "cwd", "creds", "comm", "ppid", "start_time", "cgroup", "env", "ancestry"};
  return kNames[static_cast<size_t>(field)];
}

bool withdraw_procfs(ExecDetails& d, Withdraw what, std::string_view why) {
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

const std::vector<std::string>& ExitDetails::argv() const {
  static const std::vector<std::string> kNone;
  if (!image || image->argv_source == ArgvSource::Unavailable) return kNone;
  return image->argv;
}

bool ExitDetails::argv_truncated() const {
  return image && image->argv_source != ArgvSource::Unavailable && image->argv_truncated;
}

bool ExitData::ends_process(const Event& e) const {
  return process_ended.value_or(e.pid == e.tid);
}

uint32_t ExitData::status(const Event& e) const {
  return ends_process(e) && process_status ? *process_status : raw_status;
}

ExitStatus decode_exit_status(uint32_t raw) {
  ExitStatus s;
  int sig = static_cast<int>(raw & 0x7f);
  if (sig == 0) {
    s.exited = true;
    s.code = static_cast<int>((raw >> 8) & 0xff);
  } else {
    s.signal = sig;
    s.core_dumped = (raw & 0x80) != 0;
  }
  return s;
}

std::string signal_name(int signal) {
  // sigabbrev_np() is glibc 2.32+; Debian 12 has 2.36.
  if (const char* abbrev = sigabbrev_np(signal)) return std::string("SIG") + abbrev;
  if (signal >= SIGRTMIN && signal <= SIGRTMAX) {
    return signal == SIGRTMIN ? "SIGRTMIN" : "SIGRTMIN+" + std::to_string(signal - SIGRTMIN);
  }
  return "SIG" + std::to_string(signal);
}

EventMask EventMask::all() {
  EventMask m;
  for (const auto& s : kSelectable) m.add(s.type);
  return m;
}

bool EventMask::covers_all_kernel_events() const {
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

std::optional<EventMask> EventMask::parse(std::string_view list, std::string* error) {
  EventMask m;
  bool any_exit = false, nonzero = false;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) comma = list.size();
    std::string_view word = list.substr(pos, comma - pos);
    pos = comma + 1;
    if (word.empty()) {
      if (error) *error = "empty event name in '" + std::string(list) + "'";
      return std::nullopt;
    }
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
    for (const auto& s : kSelectable) {
      if (s.name == word) {
        m.add(s.type);
        if (s.type == EventType::Exit) any_exit = true;
        found = true;
      }
    }
    if (!found) {
      if (error) {
        *error = "unknown event '" + std::string(word) +
                 "' (choose from fork, exec, exit, nonzero-exit, uid, gid, sid, ptrace, comm, "
                 "coredump, all)";
      }
      return std::nullopt;
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
      return true;
    case EventType::Exit:
      if (!has(EventType::Exit)) return false;
      return !nonzero_exit_only_ || std::get<ExitData>(e.data).raw_status != 0;
    default:
      return has(e.type());
  }
}

}  // namespace proctrail
