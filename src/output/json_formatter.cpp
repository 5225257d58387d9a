// JSON lines. Every string the kernel or a process controls goes through append_json_string;
// when it is not valid UTF-8, a sibling "<name>_b64" field carries the exact bytes.
#include <fmt/format.h>

#include <iterator>

#include "output/escape.hpp"
#include "proctrail/format.hpp"

namespace proctrail {

namespace {

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  void begin() { out_ += '{'; }
  void end() { out_ += "}\n"; }

  void key(std::string_view k) {
    if (!first_) out_ += ',';
    first_ = false;
    out_ += '"';
    out_ += k;  // keys are ours: plain ASCII
    out_ += "\":";
  }
  template <class T>
  void num(std::string_view k, T v) {
    key(k);
    fmt::format_to(std::back_inserter(out_), "{}", v);
  }
  void boolean(std::string_view k, bool v) {
    key(k);
    out_ += v ? "true" : "false";
  }
  void null(std::string_view k) {
    key(k);
    out_ += "null";
  }
  void word(std::string_view k, std::string_view ascii) {  // our own vocabulary, no escaping
    key(k);
    out_ += '"';
    out_ += ascii;
    out_ += '"';
  }
  // An untrusted string, with its exact bytes in k_b64 when it is not valid UTF-8.
  void str(std::string_view k, std::string_view v) {
    key(k);
    if (!append_json_string(out_, v)) {
      key(std::string(k) + "_b64");
      out_ += '"';
      append_base64(out_, v);
      out_ += '"';
    }
  }
  // A list of untrusted strings (argv, env) in one form: an array of strings when every one
  // is valid UTF-8; else k_b64 alone, the exact bytes of the whole list as the kernel keeps it
  // (each string followed by a NUL), base64. Never both: a list of invalid bytes would
  // otherwise be written twice, and its size multiplied (U+FFFD text plus base64).
  void strings(std::string_view k, const Strings& v) {
    bool valid = true;
    for (std::string_view a : v) {
      if (!is_valid_utf8(a)) {
        valid = false;
        break;
      }
    }
    if (!valid) {
      key(std::string(k) + "_b64");
      out_ += '"';
      append_base64(out_, v.bytes());
      out_ += '"';
      return;
    }
    key(k);
    out_ += '[';
    bool first = true;
    for (std::string_view a : v) {
      if (!first) out_ += ',';
      first = false;
      append_json_string(out_, a);
    }
    out_ += ']';
  }
  // An array of our own words (event and field names).
  void words(std::string_view k, const std::vector<std::string>& v) {
    key(k);
    out_ += '[';
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) out_ += ',';
      append_json_string(out_, v[i]);
    }
    out_ += ']';
  }
  void time(std::string_view k, int64_t wall_ns) {
    key(k);
    out_ += '"';
    append_rfc3339(out_, wall_ns);
    out_ += '"';
  }
  std::string& raw() { return out_; }
  void open_object(std::string_view k) {
    key(k);
    out_ += '{';
    first_ = true;
  }
  void close_object() {
    out_ += '}';
    first_ = false;
  }
  // An array of objects under k, one per item: fill(writer, item) writes each one's fields.
  template <class List, class Fill>
  void objects(std::string_view k, const List& items, Fill fill) {
    key(k);
    out_ += '[';
    bool first = true;
    for (const auto& item : items) {
      if (!first) out_ += ',';
      first = false;
      JsonWriter o(out_);
      o.begin();
      fill(o, item);
      out_ += '}';
    }
    out_ += ']';
  }

 private:
  std::string& out_;
  bool first_ = true;
};

void write_creds(JsonWriter& w, const Credentials& c) {
  w.num("uid", c.uid);
  w.num("euid", c.euid);
  w.num("gid", c.gid);
  w.num("egid", c.egid);
}

void write_exec(JsonWriter& w, const ExecDetails& d) {
  w.word("argv_source", argv_source_name(d.argv_source));
  if (d.argv_source != ArgvSource::Unavailable) {
    w.strings("argv", d.argv);
    w.boolean("argv_truncated", d.argv_truncated);
  }
  if (d.argv_bytes) w.num("argv_bytes", *d.argv_bytes);
  if (d.argc) w.num("argc", *d.argc);
  if (d.filename) w.str("filename", *d.filename);
  if (d.exe) w.str("exe", *d.exe);
  if (d.cwd) w.str("cwd", *d.cwd);
  if (d.ppid) w.num("ppid", *d.ppid);
  if (d.exec_tid) w.num("exec_tid", *d.exec_tid);
  if (d.creds) write_creds(w, *d.creds);
  if (d.user) w.str("user", *d.user);
  if (d.comm) w.str("comm", *d.comm);
  if (d.start_boottime_ns) w.num("start_boottime_ns", *d.start_boottime_ns);
  if (d.cgroup) w.str("cgroup", *d.cgroup);
  if (d.cgroup_id) w.num("cgroup_id", *d.cgroup_id);
  if (d.container) {
    w.open_object("container");
    w.str("runtime", d.container->runtime);
    w.str("id", d.container->id);
    w.close_object();
  }
  if (d.env) {
    w.strings("env", *d.env);
    w.boolean("env_truncated", d.env_truncated);
  }
  if (d.source(Field::Ancestry) != FieldSource::None) {
    w.objects("ancestry", d.ancestry, [](JsonWriter& a, const Ancestor& x) {
      a.num("pid", x.pid);
      a.str("comm", x.comm);
    });
  }
  bool any = false;
  for (size_t i = 0; i < kFieldCount; ++i) {
    if (d.sources[i] == FieldSource::None) continue;
    if (!any) w.open_object("sources");
    any = true;
    w.word(field_name(static_cast<Field>(i)), field_source_name(d.sources[i]));
  }
  if (any) w.close_object();
  if (!d.note.empty()) w.str("note", d.note);
}

// A figure the summary could not see is null ("not watched"), never 0.
template <class T>
void num_or_null(JsonWriter& w, std::string_view k, const std::optional<T>& v) {
  if (v) {
    w.num(k, *v);
  } else {
    w.null(k);
  }
}

void write_status(JsonWriter& w, uint32_t raw) {
  ExitStatus s = decode_exit_status(raw);
  if (s.exited) {
    w.num("exit_code", s.code);
  } else {
    w.word("signal", signal_name(s.signal));
  }
}

void write_summary(JsonWriter& w, const SummaryData& d) {
  w.boolean("final", d.final);
  w.num("elapsed_ns", d.elapsed_ns);
  num_or_null(w, "processes", d.processes);
  num_or_null(w, "execs", d.execs);
  num_or_null(w, "exits", d.exits);
  num_or_null(w, "exits_started_before", d.exits_started_before);
  num_or_null(w, "failed", d.failed);
  num_or_null(w, "exec_failed", d.exec_failed);
  w.num("lost", d.lost);
  num_or_null(w, "max_depth", d.max_depth);
  w.boolean("approximate", d.approximate);
  auto command = [](JsonWriter& c, const SummaryData::Command& x) {
    c.str("command", x.name);
    c.num("count", x.count);
    c.num("ended", x.ended);
    c.num("total_ns", x.total_ns);
  };
  w.objects("top_by_count", d.by_count, command);
  w.objects("top_by_time", d.by_time, command);
  w.objects("slowest", d.slowest, [](JsonWriter& c, const SummaryData::Process& x) {
    c.num("pid", x.pid);
    c.str("command", x.name);
    c.num("duration_ns", x.duration_ns);
  });
  w.objects("failures", d.failures, [](JsonWriter& c, const SummaryData::Failure& x) {
    c.num("pid", x.pid);
    c.str("command", x.name);
    if (x.exec_error != 0) {
      c.word("error_name", errno_name(x.exec_error));
    } else {
      write_status(c, x.raw_status);
    }
  });
  w.num("more_failures", d.more_failures);
}

class JsonFormatter final : public Formatter {
 public:
  void format(const Event& e, std::string& out) override {
    JsonWriter w(out);
    w.begin();
    w.word("type", event_type_name(e.type()));
    w.time("time", e.wall_ns);
    w.num("ts_ns", e.ts_ns);
    if (e.cpu >= 0) {
      w.num("cpu", e.cpu);
    } else {
      w.null("cpu");
    }
    w.num("pid", e.pid);
    w.num("tid", e.tid);
    // The stream's host makes the first half of each exec_id: learnt from its start record.
    if (const auto* s = std::get_if<StartData>(&e.data); s && !s->host.boot_id.empty()) {
      host_ = s->host;
    }
    if (e.key.known()) w.word("exec_id", format_exec_id(host_, e.key));
    if (e.parent_key.known()) w.word("parent_exec_id", format_exec_id(host_, e.parent_key));
    std::visit(
        [&](const auto& d) {
          using T = std::decay_t<decltype(d)>;
          if constexpr (std::is_same_v<T, AckData>) {
            w.num("error", d.error);
          } else if constexpr (std::is_same_v<T, ForkData>) {
            w.num("parent_pid", d.parent_pid);
            w.num("parent_tid", d.parent_tid);
            w.num("child_pid", d.child_pid);
            w.num("child_tid", d.child_tid);
            w.boolean("thread", d.is_thread());
          } else if constexpr (std::is_same_v<T, ExecData>) {
            if (d.details) write_exec(w, *d.details);
          } else if constexpr (std::is_same_v<T, UidData>) {
            w.num("ruid", d.ruid);
            w.num("euid", d.euid);
          } else if constexpr (std::is_same_v<T, GidData>) {
            w.num("rgid", d.rgid);
            w.num("egid", d.egid);
          } else if constexpr (std::is_same_v<T, PtraceData>) {
            w.boolean("attached", d.tracer_pid != 0);
            w.num("tracer_pid", d.tracer_pid);
            w.num("tracer_tid", d.tracer_tid);
          } else if constexpr (std::is_same_v<T, CommData>) {
            w.str("comm", d.comm);
          } else if constexpr (std::is_same_v<T, CoredumpData>) {
            w.num("parent_pid", d.parent_pid);
            w.num("parent_tid", d.parent_tid);
          } else if constexpr (std::is_same_v<T, ExitData>) {
            const uint32_t status = d.status(e);
            ExitStatus s = decode_exit_status(status);
            if (s.exited) {
              w.num("exit_code", s.code);
            } else {
              w.word("signal", signal_name(s.signal));
            }
            w.boolean("core_dumped", s.core_dumped);
            w.num("raw_exit_code", status);
            if (status != d.raw_status) w.num("thread_raw_exit_code", d.raw_status);
            w.num("exit_signal", d.exit_signal);
            w.num("parent_pid", d.parent_pid);
            w.num("parent_tid", d.parent_tid);
            w.boolean("thread", !d.ends_process(e));
            // The command line is the exec's (its exec_id joins them): an exit does not repeat
            // it, so a process's command line costs the record once.
            if (d.details) {
              if (d.details->comm) w.str("comm", *d.details->comm);
              if (d.details->duration_ns) {
                w.num("duration_ns", *d.details->duration_ns);
                w.boolean("duration_approximate", d.details->duration_approximate);
              }
            }
          } else if constexpr (std::is_same_v<T, UnknownData>) {
            w.num("what", d.what);
          } else if constexpr (std::is_same_v<T, LostData>) {
            if (d.count) {
              w.num("count", *d.count);
            } else {
              w.null("count");
            }
            w.str("reason", d.reason);
          } else if constexpr (std::is_same_v<T, ResyncData>) {
            w.num("added", d.added);
            w.num("removed", d.removed);
            w.num("table_size", d.table_size);
          } else if constexpr (std::is_same_v<T, StartData>) {
            w.str("backend", d.backend);
            w.str("reason", d.reason);
            w.str("version", d.version);
            if (!d.missing_events.empty()) w.words("missing_events", d.missing_events);
            if (!d.missing_fields.empty()) w.words("missing_fields", d.missing_fields);
            if (d.table_ready_ns) w.num("table_ready_ts_ns", d.table_ready_ns);
            w.word("scope", d.scope);
            if (!d.host.boot_id.empty()) {
              w.open_object("host");
              w.str("hostname", d.host.hostname);
              w.str("machine_id", d.host.machine_id);
              w.str("boot_id", d.host.boot_id);
              w.close_object();
            }
          } else if constexpr (std::is_same_v<T, ExecFailedData>) {
            w.num("error", d.error);
            w.word("error_name", errno_name(d.error));
            w.str("filename", d.filename);
            w.strings("argv", d.argv);
            w.boolean("argv_truncated", d.argv_truncated);
            w.num("ppid", d.ppid);
            if (d.creds) write_creds(w, *d.creds);
            if (d.user) w.str("user", *d.user);
            w.str("comm", d.comm);
            if (!d.tried.empty()) w.strings("tried", Strings(d.tried));
          } else if constexpr (std::is_same_v<T, SummaryData>) {
            write_summary(w, d);
          }
        },
        e.data);
    w.end();
  }
 private:
  HostIdentity host_ = HostIdentity::local();
};

}  // namespace

std::unique_ptr<Formatter> make_json_formatter() {
  return std::make_unique<JsonFormatter>();
}

}  // namespace proctrail
