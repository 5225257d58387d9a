#include "proctrail/event.hpp"

#include "model/event_size.hpp"

#include <string.h>
#include <unistd.h>

#include <fstream>

#include <algorithm>
#include <csignal>

namespace proctrail {

namespace {

constexpr std::array<EventTypeInfo, kEventTypeCount> kTypes = {{
    {EventType::Ack, "ack", "", "ack"},
    {EventType::Fork, "fork", "fork", "fork"},
    {EventType::Exec, "exec", "exec", "exec"},
    {EventType::Uid, "uid", "uid", "uid"},
    {EventType::Gid, "gid", "gid", "gid"},
    {EventType::Sid, "sid", "sid", "sid"},
    {EventType::Ptrace, "ptrace", "ptrace", "ptrace"},
    {EventType::Comm, "comm", "comm", "comm"},
    {EventType::Coredump, "coredump", "coredump", "coredump"},
    {EventType::Exit, "exit", "exit", "exit"},
    {EventType::Unknown, "unknown", "", "unknown"},
    {EventType::Lost, "lost", "", "lost"},
    {EventType::Resync, "resync", "", "resync"},
    {EventType::Start, "start", "", "start"},
    {EventType::ExecFailed, "exec_failed", "exec-failed", "execfail"},
    {EventType::Summary, "summary", "", "summary"},
}};

constexpr bool table_in_order() {
  for (size_t i = 0; i < kTypes.size(); ++i) {
    if (static_cast<size_t>(kTypes[i].type) != i) return false;
  }
  return true;
}
static_assert(table_in_order(), "kTypes is indexed by EventType");

}  // namespace

const EventTypeInfo& describe(EventType type) {
  auto i = static_cast<size_t>(type);
  return i < kTypes.size() ? kTypes[i] : kTypes[static_cast<size_t>(EventType::Unknown)];
}

std::span<const EventTypeInfo> event_types() {
  return kTypes;
}

std::string_view event_type_name(EventType type) {
  return describe(type).name;
}

std::optional<EventType> event_type_named(std::string_view name) {
  for (const auto& t : kTypes) {
    if (t.name == name) return t.type;
  }
  return std::nullopt;
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

std::string_view Strings::iterator::operator*() const {
  const size_t nul = bytes_->find('\0', pos_);
  return std::string_view(*bytes_).substr(pos_, nul - pos_);
}

Strings::iterator& Strings::iterator::operator++() {
  pos_ = bytes_->find('\0', pos_) + 1;
  return *this;
}

Strings::Strings(std::initializer_list<std::string_view> args) {
  for (std::string_view a : args) push_back(a);
}

Strings::Strings(const std::vector<std::string>& args) {
  for (const auto& a : args) push_back(a);
}

Strings Strings::from_nul_separated(std::string_view area) {
  Strings a;
  if (area.empty()) return a;
  a.bytes_.assign(area);
  if (a.bytes_.back() != '\0') a.bytes_ += '\0';
  a.count_ = static_cast<size_t>(std::count(a.bytes_.begin(), a.bytes_.end(), '\0'));
  return a;
}

void Strings::push_back(std::string_view arg) {
  // An argument cannot hold a NUL: the kernel ends it there. Keep what comes before it.
  bytes_.append(arg.substr(0, arg.find('\0')));
  bytes_ += '\0';
  ++count_;
}

std::string_view Strings::front() const {
  return empty() ? std::string_view() : *begin();
}

std::string Strings::joined() const {
  std::string s(bytes_);
  if (!s.empty()) s.pop_back();
  std::replace(s.begin(), s.end(), '\0', ' ');
  return s;
}

std::vector<std::string> Strings::to_vector() const {
  std::vector<std::string> v;
  v.reserve(count_);
  for (std::string_view a : *this) v.emplace_back(a);
  return v;
}

const Argv& ExitDetails::argv() const {
  static const Argv kNone;
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

int signal_number(std::string_view name) {
  for (int s = 1; s < 65; ++s) {
    if (signal_name(s) == name) return s;
  }
  return 0;
}

int errno_number(std::string_view name) {
  for (int e = 1; e < 4096; ++e) {
    if (errno_name(e) == name) return e;
  }
  return 0;
}

}  // namespace proctrail

namespace proctrail {

const HostIdentity& HostIdentity::local() {
  static const HostIdentity id = [] {
    auto first_line = [](const char* path) {
      std::ifstream in(path);
      std::string line;
      std::getline(in, line);
      line.erase(std::remove(line.begin(), line.end(), '-'), line.end());
      return line;
    };
    HostIdentity h;
    h.machine_id = first_line("/etc/machine-id");
    h.boot_id = first_line("/proc/sys/kernel/random/boot_id");
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) == 0) h.hostname = name;
    // A machine without /etc/machine-id (a bare container) still gets one part: the boot id
    // keeps exec_id unique on it.
    if (h.machine_id.empty()) h.machine_id = std::string(32, '0');
    return h;
  }();
  return id;
}

ProcessKey Event::process() const {
  if (key.known()) return key.process();
  if (const auto* f = std::get_if<ForkData>(&data)) return {f->child_pid, 0, 0};
  return {pid, 0, 0};
}

ProcessKey Event::parent_process() const {
  if (parent_key.known()) return parent_key.process();
  if (const auto* f = std::get_if<ForkData>(&data)) return {f->parent_pid, 0, 0};
  if (const auto* x = std::get_if<ExecData>(&data); x && x->details && x->details->ppid) {
    return {*x->details->ppid, 0, 0};
  }
  if (const auto* x = std::get_if<ExitData>(&data)) return {x->parent_pid, 0, 0};
  if (const auto* x = std::get_if<ExecFailedData>(&data); x && x->ppid > 0) return {x->ppid, 0, 0};
  return {};
}

std::string format_exec_id(const HostIdentity& host, const ProcessKey& key) {
  if (!key.known()) return {};
  std::string id;
  id.reserve(64);
  id.append(std::string_view(host.machine_id).substr(0, 16));
  id += '-';
  id.append(std::string_view(host.boot_id).substr(0, 16));
  id += '-';
  id += std::to_string(key.pid);
  id += '-';
  id += std::to_string(key.start_ticks);
  id += '-';
  id += std::to_string(key.exec_ordinal);
  return id;
}

size_t approx_bytes(const Event& e) {
  size_t n = sizeof(Event);
  if (const auto* x = std::get_if<ExecData>(&e.data); x && x->details) {
    const ExecDetails& d = *x->details;
    n += sizeof(ExecDetails) + d.argv.bytes().size() + d.note.size();
    if (d.env) n += d.env->bytes().size();
    for (const auto* s : {&d.filename, &d.exe, &d.cwd, &d.cgroup}) n += *s ? (*s)->size() : 0;
    n += d.ancestry.size() * sizeof(Ancestor);
  } else if (const auto* f = std::get_if<ExecFailedData>(&e.data)) {
    n += f->argv.bytes().size() + f->filename.size();
  }
  return n;
}

}  // namespace proctrail
