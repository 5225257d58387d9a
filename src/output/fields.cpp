#include "output/fields.hpp"

namespace proctrail {

namespace {

void creds(FieldVisitor& v, const Credentials& c) {
  v.count("uid", c.uid);
  v.count("euid", c.euid);
  v.count("gid", c.gid);
  v.count("egid", c.egid);
}

// A list of our own words, as an array; none when empty is the writer's choice (left out).
void status(FieldVisitor& v, uint32_t raw) {
  ExitStatus s = decode_exit_status(raw);
  if (s.exited) {
    v.number("exit_code", s.code);
  } else {
    v.word("signal", signal_name(s.signal));
  }
}

template <class T>
void count_or_none(FieldVisitor& v, std::string_view name, const std::optional<T>& x) {
  if (x) {
    v.count(name, *x);
  } else {
    v.none(name);
  }
}

void exec(FieldVisitor& v, const Event& e, const ExecDetails& d, const FieldContext& ctx) {
  v.word("argv_source", argv_source_name(d.argv_source));
  if (d.argv_source != ArgvSource::Unavailable) {
    v.texts("argv", d.argv);
    v.flag("argv_truncated", d.argv_truncated);
  }
  if (d.argv_bytes) v.count("argv_bytes", *d.argv_bytes);
  if (d.argc) v.count("argc", *d.argc);
  if (d.filename) v.text("filename", *d.filename);
  if (d.exe) v.text("exe", *d.exe);
  if (d.cwd) v.text("cwd", *d.cwd);
  if (d.ppid) v.number("parent_pid", *d.ppid);
  if (d.exec_tid) v.number("exec_tid", *d.exec_tid);
  if (d.creds) creds(v, *d.creds);
  if (d.user) v.text("user", *d.user);
  if (d.comm) v.text("comm", *d.comm);
  if (d.start_boottime_ns) {
    // The start as wall time: the event's own wall time, less how long before it the process
    // started (both boot-time clocks of this machine, so a suspend in between is counted).
    // In unsigned arithmetic: a recording's values are anyone's, and nonsense ones must wrap
    // to a nonsense time, never overflow.
    const uint64_t start_mono =
        *d.start_boottime_ns - static_cast<uint64_t>(ctx.boottime_offset_ns);
    const uint64_t before = e.ts_ns - start_mono;
    v.time("start_time", static_cast<int64_t>(static_cast<uint64_t>(e.wall_ns) - before));
    v.count("start_boottime_ns", *d.start_boottime_ns);
  }
  if (d.cgroup) v.text("cgroup", *d.cgroup);
  if (d.cgroup_id) v.count("cgroup_id", *d.cgroup_id);
  if (d.container) {
    v.open("container");
    v.text("runtime", d.container->runtime);
    v.text("id", d.container->id);
    v.close();
  }
  if (d.env) {
    v.texts("env", *d.env);
    v.flag("env_truncated", d.env_truncated);
  }
  if (d.source(Field::Ancestry) != FieldSource::None) {
    v.open_list("ancestry");
    for (const Ancestor& a : d.ancestry) {
      v.item();
      v.number("pid", a.pid);
      v.text("comm", a.comm);
    }
    v.close_list();
  }
  bool any = false;
  for (size_t i = 0; i < kFieldCount; ++i) {
    if (d.sources[i] == FieldSource::None) continue;
    if (!any) v.open("sources");
    any = true;
    v.word(field_name(static_cast<Field>(i)), field_source_name(d.sources[i]));
  }
  if (any) v.close();
  if (!d.note.empty()) v.text("note", d.note);
}

void exit(FieldVisitor& v, const Event& e, const ExitData& d) {
  const uint32_t raw = d.status(e);
  status(v, raw);
  v.flag("core_dumped", decode_exit_status(raw).core_dumped);
  v.count("raw_exit_code", raw);
  if (raw != d.raw_status) v.count("thread_raw_exit_code", d.raw_status);
  // The parent: known while the process is not reaped; a thread's exit has none of its own.
  if (d.parent_pid != 0) {
    v.number("parent_pid", d.parent_pid);
    v.number("parent_tid", d.parent_tid);
  }
  v.flag("thread", !d.ends_process(e));
  if (d.details) {
    // The command line is the exec's (exec_id joins them): an exit does not repeat it, unless
    // the process was found running and no exec of it is in the stream.
    const auto& image = d.details->image;
    if (image && image->found_running && image->argv_source != ArgvSource::Unavailable) {
      v.texts("argv", image->argv);
      v.flag("argv_truncated", image->argv_truncated);
    }
    if (d.details->comm) v.text("comm", *d.details->comm);
    if (d.details->duration_ns) {
      v.count("duration_ns", *d.details->duration_ns);
      v.flag("duration_approximate", d.details->duration_approximate);
    }
  }
}

void summary(FieldVisitor& v, const SummaryData& d) {
  v.flag("final", d.final);
  v.count("elapsed_ns", d.elapsed_ns);
  count_or_none(v, "processes", d.processes);
  count_or_none(v, "execs", d.execs);
  count_or_none(v, "exits", d.exits);
  count_or_none(v, "exits_started_before", d.exits_started_before);
  count_or_none(v, "failed", d.failed);
  count_or_none(v, "exec_failed", d.exec_failed);
  v.count("lost", d.lost);
  count_or_none(v, "max_depth", d.max_depth);
  v.flag("approximate", d.approximate);
  for (auto [name, list] : {std::pair{"top_by_count", &d.by_count}, {"top_by_time", &d.by_time}}) {
    v.open_list(name);
    for (const auto& c : *list) {
      v.item();
      v.text("command", c.name);
      v.count("count", c.count);
      v.count("ended", c.ended);
      v.count("total_ns", c.total_ns);
    }
    v.close_list();
  }
  v.open_list("slowest");
  for (const auto& p : d.slowest) {
    v.item();
    v.number("pid", p.pid);
    v.text("command", p.name);
    v.count("duration_ns", p.duration_ns);
  }
  v.close_list();
  v.open_list("failures");
  for (const auto& f : d.failures) {
    v.item();
    v.number("pid", f.pid);
    v.text("command", f.name);
    if (f.exec_error != 0) {
      v.word("error_name", errno_name(f.exec_error));
    } else {
      status(v, f.raw_status);
    }
  }
  v.close_list();
  v.count("more_failures", d.more_failures);
  if (d.exporters.empty()) return;  // no --kafka: the summary as it always was
  v.open_list("exporters");
  for (const auto& x : d.exporters) {
    v.item();
    v.word("name", x.name);
    v.count("produced", x.produced);
    v.count("delivered", x.delivered);
    v.count("sent_again", x.sent_again);
    v.count("failed", x.failed);
    v.count("dropped", x.dropped);
    v.count("waiting", x.waiting);
  }
  v.close_list();
}

void host(FieldVisitor& v, const HostIdentity& h) {
  v.open("host");
  v.text("hostname", h.hostname);
  v.word("machine_id", h.machine_id);
  v.word("boot_id", h.boot_id);
  v.close();
}

}  // namespace

void learn_from(const Event& e, FieldContext& ctx) {
  const auto* s = std::get_if<StartData>(&e.data);
  if (!s) return;
  if (!s->host.boot_id.empty()) ctx.host = s->host;
  ctx.boottime_offset_ns = static_cast<int64_t>(s->boottime_offset_ns);
}

void visit_fields(const Event& e, const FieldContext& ctx, FieldVisitor& v) {
  v.word("type", event_type_name(e.type()));
  v.time("time", e.wall_ns);
  v.count("ts_ns", e.ts_ns);
  if (e.cpu >= 0) {
    v.number("cpu", e.cpu);
  } else {
    v.none("cpu");
  }
  // The subject: for a fork, the new process (or thread), whose exec_id this is.
  int32_t pid = e.pid, tid = e.tid;
  if (const auto* f = std::get_if<ForkData>(&e.data)) {
    pid = f->child_pid;
    tid = f->child_tid;
  }
  v.number("pid", pid);
  v.number("tid", tid);
  if (e.key.known()) v.word("exec_id", format_exec_id(ctx.host, e.key));
  if (e.parent_key.known()) v.word("parent_exec_id", format_exec_id(ctx.host, e.parent_key));
  if (ctx.host_in_every_record && e.type() != EventType::Start) host(v, ctx.host);
  std::visit(
      [&](const auto& d) {
        using T = std::decay_t<decltype(d)>;
        if constexpr (std::is_same_v<T, AckData>) {
          v.count("error", d.error);
        } else if constexpr (std::is_same_v<T, ForkData>) {
          v.number("parent_pid", d.parent_pid);
          v.number("parent_tid", d.parent_tid);
          v.flag("thread", d.is_thread());
        } else if constexpr (std::is_same_v<T, ExecData>) {
          if (d.details) exec(v, e, *d.details, ctx);
        } else if constexpr (std::is_same_v<T, UidData>) {
          v.count("ruid", d.ruid);
          v.count("euid", d.euid);
        } else if constexpr (std::is_same_v<T, GidData>) {
          v.count("rgid", d.rgid);
          v.count("egid", d.egid);
        } else if constexpr (std::is_same_v<T, PtraceData>) {
          v.flag("attached", d.tracer_pid != 0);
          v.number("tracer_pid", d.tracer_pid);
          v.number("tracer_tid", d.tracer_tid);
        } else if constexpr (std::is_same_v<T, CommData>) {
          v.text("comm", d.comm);
        } else if constexpr (std::is_same_v<T, CoredumpData>) {
          v.number("parent_pid", d.parent_pid);
          v.number("parent_tid", d.parent_tid);
        } else if constexpr (std::is_same_v<T, ExitData>) {
          exit(v, e, d);
        } else if constexpr (std::is_same_v<T, UnknownData>) {
          v.count("what", d.what);
        } else if constexpr (std::is_same_v<T, LostData>) {
          count_or_none(v, "count", d.count);
          v.text("reason", d.reason);
        } else if constexpr (std::is_same_v<T, ResyncData>) {
          v.count("added", d.added);
          v.count("removed", d.removed);
          v.count("table_size", d.table_size);
        } else if constexpr (std::is_same_v<T, StartData>) {
          v.number("schema_version", kSchemaVersion);
          v.text("backend", d.backend);
          v.text("reason", d.reason);
          v.text("version", d.version);
          if (!d.missing_events.empty()) v.words("missing_events", d.missing_events);
          if (!d.missing_fields.empty()) v.words("missing_fields", d.missing_fields);
          if (d.table_ready_ns) v.count("table_ready_ts_ns", d.table_ready_ns);
          v.word("scope", d.scope);
          if (!d.host.boot_id.empty()) {
            host(v, d.host);
            v.count("boottime_offset_ns", d.boottime_offset_ns);
          }
        } else if constexpr (std::is_same_v<T, ExecFailedData>) {
          v.number("error", d.error);
          v.word("error_name", errno_name(d.error));
          v.text("filename", d.filename);
          v.texts("argv", d.argv);
          v.flag("argv_truncated", d.argv_truncated);
          v.number("parent_pid", d.ppid);
          if (d.creds) creds(v, *d.creds);
          if (d.user) v.text("user", *d.user);
          v.text("comm", d.comm);
          if (!d.tried.empty()) v.texts("tried", Strings(d.tried));
        } else if constexpr (std::is_same_v<T, SummaryData>) {
          summary(v, d);
        }
      },
      e.data);
}

int event_severity(const Event& e) {
  constexpr int kWarning = 4, kNotice = 5, kInfo = 6;
  switch (e.type()) {
    case EventType::Lost:
      return kWarning;
    case EventType::ExecFailed:
      return kNotice;
    case EventType::Exit: {
      const auto& x = std::get<ExitData>(e.data);
      if (!x.ends_process(e)) return kInfo;
      const ExitStatus s = decode_exit_status(x.status(e));
      return s.exited && s.code == 0 ? kInfo : kNotice;
    }
    default:
      return kInfo;
  }
}

}  // namespace proctrail
