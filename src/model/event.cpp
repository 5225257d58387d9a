#include "proctrail/event.hpp"

#include <string.h>

#include <csignal>

namespace proctrail {

namespace {

constexpr std::array<std::string_view, kEventTypeCount> kTypeNames = {
    "ack",      "fork", "exec",    "uid",  "gid",    "sid",   "ptrace",      "comm",
    "coredump", "exit", "unknown", "lost", "resync", "start", "exec_failed", "summary",
};

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

std::string errno_name(int error) {
  if (const char* name = strerrorname_np(error)) return name;
  return "E" + std::to_string(error);
}

}  // namespace proctrail
