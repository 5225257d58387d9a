#include "source/bpf/bpf_record.hpp"

#include <cstring>
#include <string>

#include "enrich/procfs_parse.hpp"
#include "proctrail_events.h"

namespace proctrail::bpf {

// The layout is checked against the BTF of the built BPF object by a unit test
// (tests/unit/bpf_layout_test.cpp).

namespace {

std::shared_ptr<ExecDetails> exec_details(std::span<const std::byte> r, Error* error) {
  pt_exec x{};
  std::memcpy(&x, r.data(), sizeof x);
  size_t off = sizeof x;
  auto take = [&](size_t len, std::string_view* out) {
    if (len > r.size() - off) return false;
    *out = std::string_view(reinterpret_cast<const char*>(r.data() + off), len);
    off += len;
    return true;
  };
  std::string_view args, filename, exe, cwd;
  if (!take(x.args_len, &args) || !take(x.filename_len, &filename) || !take(x.exe_len, &exe) ||
      !take(x.cwd_len, &cwd)) {
    *error = make_error("exec record of " + std::to_string(r.size()) +
                        " bytes is shorter than the lengths it gives");
    return nullptr;
  }
  if (x.args_len > x.args_size) {
    *error = make_error("exec record holds more argument bytes than the argument area has");
    return nullptr;
  }
  auto d = std::make_shared<ExecDetails>();
  if (x.flags & PT_ARGS_FAULT) {
    d->argv_source = ArgvSource::Unavailable;
    d->note = "the kernel could not read the argument area";
  } else {
    d->argv_source = ArgvSource::Kernel;
    d->argv = procfs::split_nul(args);
    d->argv_truncated = x.args_size > x.args_len;
    d->argv_bytes = x.args_size;
    d->argc = x.argc;
  }
  // Strings end at their first NUL; /proc/PID/exe marks an unlinked file the same way.
  auto text = [](std::string_view s, bool deleted) {
    std::string t(s.substr(0, s.find('\0')));
    if (deleted) t += " (deleted)";
    return t;
  };
  if (!filename.empty()) d->filename = text(filename, false);
  if (!exe.empty()) {
    d->exe = text(exe, x.flags & PT_EXE_DELETED);
    d->set_source(Field::Exe, FieldSource::Kernel);
  }
  if (!cwd.empty()) {
    d->cwd = text(cwd, x.flags & PT_CWD_DELETED);
    d->set_source(Field::Cwd, FieldSource::Kernel);
  }
  if (x.flags & (PT_EXE_TRUNCATED | PT_CWD_TRUNCATED | PT_EXE_UNREACHABLE | PT_CWD_UNREACHABLE)) {
    if (!d->note.empty()) d->note += "; ";
    d->note += "a path was too deep or not reachable from the root and is left out";
  }
  d->ppid = x.ppid;
  d->set_source(Field::Ppid, FieldSource::Kernel);
  if (x.exec_tid != 0 && x.exec_tid != x.h.pid) d->exec_tid = x.exec_tid;
  d->creds = Credentials{x.uid, x.euid, x.gid, x.egid};
  d->set_source(Field::Creds, FieldSource::Kernel);
  d->comm = std::string(x.comm, strnlen(x.comm, sizeof x.comm));
  d->set_source(Field::Comm, FieldSource::Kernel);
  d->start_boottime_ns = x.start_boottime_ns;
  d->set_source(Field::StartTime, FieldSource::Kernel);
  d->cgroup_id = x.cgroup_id;
  if (x.exec_ordinal != 0) d->exec_ordinal = x.exec_ordinal;
  return d;
}

Result<ExecFailedData> exec_failed(std::span<const std::byte> r) {
  pt_exec_failed x{};
  std::memcpy(&x, r.data(), sizeof x);
  const size_t rest = r.size() - sizeof x;
  if (x.args_len > rest || x.filename_len > rest - x.args_len) {
    return make_error("failed-exec record of " + std::to_string(r.size()) +
                      " bytes is shorter than the lengths it gives");
  }
  const char* data = reinterpret_cast<const char*>(r.data() + sizeof x);
  ExecFailedData d;
  d.error = x.error;
  d.ppid = x.ppid;
  d.argv = procfs::split_nul(std::string_view(data, x.args_len));
  d.argv_truncated = (x.flags & (PT_FAILED_ARGS_TRUNCATED | PT_FAILED_ARGS_FAULT)) != 0;
  std::string_view fn(data + x.args_len, x.filename_len);
  d.filename = std::string(fn.substr(0, fn.find('\0')));
  d.creds = Credentials{x.uid, x.euid, x.gid, x.egid};
  d.comm = std::string(x.comm, strnlen(x.comm, sizeof x.comm));
  return d;
}

}  // namespace

Result<Event> decode_record(std::span<const std::byte> r) {
  pt_header h{};
  if (r.size() < sizeof h) {
    return make_error("record of " + std::to_string(r.size()) + " bytes has no header");
  }
  std::memcpy(&h, r.data(), sizeof h);
  Event e;
  e.ts_ns = h.ts_ns;
  e.cpu = static_cast<int32_t>(h.cpu);
  e.pid = h.pid;
  e.tid = h.tid;
  if (h.type == PT_FORK && r.size() >= sizeof(pt_fork)) {
    pt_fork f{};
    std::memcpy(&f, r.data(), sizeof f);
    ForkData d;
    d.parent_pid = f.parent_pid;
    d.parent_tid = f.parent_tid;
    d.child_pid = f.child_pid;
    d.child_tid = f.child_tid;
    d.child_start_boottime_ns = f.child_start_boottime_ns;
    e.data = d;
  } else if (h.type == PT_EXIT && r.size() >= sizeof(pt_exit)) {
    pt_exit x{};
    std::memcpy(&x, r.data(), sizeof x);
    ExitData d;
    d.raw_status = x.exit_code;
    d.exit_signal = x.exit_signal;
    d.parent_pid = x.parent_pid;
    d.parent_tid = x.parent_tid;
    d.start_boottime_ns = x.start_boottime_ns;
    // The kernel knows whether this was the process's last thread.
    d.process_ended = (x.flags & PT_EXIT_PROCESS_ENDED) != 0;
    if (*d.process_ended) d.process_status = x.process_status;
    e.data = std::move(d);
  } else if (h.type == PT_EXEC && r.size() >= sizeof(pt_exec)) {
    Error error;
    auto d = exec_details(r, &error);
    if (!d) return error;
    e.data = ExecData{std::move(d)};
  } else if (h.type == PT_EXEC_FAILED && r.size() >= sizeof(pt_exec_failed)) {
    auto d = exec_failed(r);
    if (!d) return d.error();
    e.data = std::move(*d);
  } else {
    return make_error("record of type " + std::to_string(h.type) + " and " +
                      std::to_string(r.size()) + " bytes is not one the programs write");
  }
  return e;
}

}  // namespace proctrail::bpf
