// JSON lines back into events: the inverse of the field walk (fields.cpp), field by field.
// Encoding a decoded line gives the same bytes again (tests/unit/json_decoder_test.cpp, over
// every event type and optional field), so a recording can go through the same filters, views
// and formatters as live capture.
#include <cstdint>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <utility>

#include "output/escape.hpp"
#include "output/fields.hpp"
#include "proctrail/format.hpp"

namespace proctrail {

namespace {

using nlohmann::json;

// A decoding error: thrown inside, returned as an Error with the line number outside.
struct Bad {
  std::string why;
};

[[noreturn]] void bad(std::string why) {
  throw Bad{std::move(why)};
}

const json* field(const json& o, std::string_view k) {
  auto it = o.find(k);
  return it == o.end() ? nullptr : &*it;
}

template <class T>
T integer(const json& o, std::string_view k) {
  const json* v = field(o, k);
  if (!v) bad("'" + std::string(k) + "' is missing");
  if (!v->is_number_integer()) bad("'" + std::string(k) + "' is not an integer");
  if constexpr (std::is_unsigned_v<T>) {
    if (v->is_number_unsigned()) return static_cast<T>(v->get<uint64_t>());
    if (v->get<int64_t>() < 0) bad("'" + std::string(k) + "' is negative");
  }
  return static_cast<T>(v->get<int64_t>());
}

template <class T>
std::optional<T> maybe_integer(const json& o, std::string_view k) {
  const json* v = field(o, k);
  if (!v || v->is_null()) return std::nullopt;
  return integer<T>(o, k);
}

bool flag(const json& o, std::string_view k, bool otherwise = false) {
  const json* v = field(o, k);
  if (!v) return otherwise;
  if (!v->is_boolean()) bad("'" + std::string(k) + "' is not true or false");
  return v->get<bool>();
}

std::string base64_field(std::string_view b64, std::string_view k) {
  auto raw = decode_base64(b64);
  if (!raw) bad("'" + std::string(k) + "' is not base64");
  return std::move(*raw);
}

std::string plain(const json& o, std::string_view k) {
  const json* v = field(o, k);
  if (!v) bad("'" + std::string(k) + "' is missing");
  if (!v->is_string()) bad("'" + std::string(k) + "' is not a string");
  return v->get<std::string>();
}

// A machine or boot id: hex digits, as /etc/machine-id and the kernel's boot_id hold them.
// They are written unescaped (in every exec_id too), so nothing else may pass.
std::string hex_id(const std::string& id, const std::string& what) {
  if (id.size() > 64) bad(what + " is longer than an id");
  for (char c : id) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) bad(what + " '" + id + "' is not hex");
  }
  return id;
}

// A process-controlled string: its exact bytes from k_b64 when the text could not hold them.
std::optional<std::string> text(const json& o, std::string_view k) {
  if (const json* b = field(o, std::string(k) + "_b64")) {
    if (!b->is_string()) bad("'" + std::string(k) + "_b64' is not a string");
    return base64_field(b->get<std::string>(), k);
  }
  if (!field(o, k)) return std::nullopt;
  return plain(o, k);
}

std::string required_text(const json& o, std::string_view k) {
  auto t = text(o, k);
  if (!t) bad("'" + std::string(k) + "' is missing");
  return *t;
}

// A list: the array, or k_b64 (the NUL-separated area) when not all of it was UTF-8.
std::optional<Strings> texts(const json& o, std::string_view k) {
  if (const json* b = field(o, std::string(k) + "_b64")) {
    if (!b->is_string()) bad("'" + std::string(k) + "_b64' is not a string");
    return Strings::from_nul_separated(base64_field(b->get<std::string>(), k));
  }
  const json* a = field(o, k);
  if (!a) return std::nullopt;
  if (!a->is_array()) bad("'" + std::string(k) + "' is not an array");
  Strings s;
  for (const auto& x : *a) {
    if (!x.is_string()) bad("an item of '" + std::string(k) + "' is not a string");
    s.push_back(x.get<std::string>());
  }
  return s;
}

std::vector<std::string> words(const json& o, std::string_view k) {
  std::vector<std::string> out;
  if (const json* a = field(o, k)) {
    if (!a->is_array()) bad("'" + std::string(k) + "' is not an array");
    for (const auto& x : *a) {
      if (!x.is_string()) bad("an item of '" + std::string(k) + "' is not a string");
      out.push_back(x.get<std::string>());
    }
  }
  return out;
}

// "2026-11-27T01:55:33.123456789Z": RFC 3339 UTC with nanoseconds, as append_rfc3339 writes.
int64_t wall_time(const json& o, std::string_view k) {
  const std::string s = plain(o, k);
  struct tm tm {};
  const char* rest = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest || *rest != '.' || s.size() != 30 || s.back() != 'Z') {
    bad("'" + std::string(k) + "' is not an RFC 3339 time with nanoseconds: " + s);
  }
  // Nine digits: from_chars alone would take a sign too.
  int64_t frac = 0;
  for (const char* c = rest + 1; c != rest + 10; ++c) {
    if (*c < '0' || *c > '9') bad("'" + std::string(k) + "': bad fraction");
    frac = frac * 10 + (*c - '0');
  }
  const int64_t seconds = static_cast<int64_t>(timegm(&tm));
  // Nanoseconds since 1970 in 64 bits reach the years 1677 to 2262.
  if (seconds > (INT64_MAX - frac) / 1'000'000'000 || seconds < INT64_MIN / 1'000'000'000) {
    bad("'" + std::string(k) + "' is out of range: " + s);
  }
  return seconds * 1'000'000'000 + frac;
}

// "<machine16>-<boot16>-<pid>-<ticks>-<ordinal>" (format_exec_id).
ProcessKey exec_key(const std::string& id, HostIdentity* host) {
  ProcessKey k;
  size_t end = id.size();
  uint64_t parts[3] = {};
  for (int i = 2; i >= 0; --i) {
    const size_t dash = id.rfind('-', end - 1);
    if (dash == std::string::npos || dash + 1 >= end) bad("exec_id '" + id + "' is malformed");
    auto r = std::from_chars(id.data() + dash + 1, id.data() + end, parts[i]);
    if (r.ec != std::errc() || r.ptr != id.data() + end) bad("exec_id '" + id + "' is malformed");
    end = dash;
  }
  const std::string prefix = id.substr(0, end);
  const size_t dash = prefix.find('-');
  if (dash == std::string::npos) bad("exec_id '" + id + "' has no machine and boot ids");
  // Without a start record, the first exec_id says whose stream this is.
  if (host->boot_id.empty()) {
    host->machine_id = hex_id(prefix.substr(0, dash), "exec_id '" + id + "'");
    host->boot_id = hex_id(prefix.substr(dash + 1), "exec_id '" + id + "'");
  }
  k.pid = static_cast<int32_t>(parts[0]);
  k.start_ticks = parts[1];
  k.exec_ordinal = static_cast<uint32_t>(parts[2]);
  return k;
}

std::optional<Credentials> creds(const json& o) {
  if (!field(o, "uid")) return std::nullopt;
  return Credentials{integer<uint32_t>(o, "uid"), integer<uint32_t>(o, "euid"),
                     integer<uint32_t>(o, "gid"), integer<uint32_t>(o, "egid")};
}

uint32_t raw_from_status(const json& o) {
  return integer<uint32_t>(o, "raw_exit_code");
}

std::shared_ptr<ExecDetails> exec_details(const json& o) {
  auto d = std::make_shared<ExecDetails>();
  const std::string source = plain(o, "argv_source");
  if (source == "kernel") {
    d->argv_source = ArgvSource::Kernel;
  } else if (source == "procfs") {
    d->argv_source = ArgvSource::Procfs;
  } else if (source == "unavailable") {
    d->argv_source = ArgvSource::Unavailable;
  } else {
    bad("argv_source '" + source + "' is not kernel, procfs or unavailable");
  }
  if (d->argv_source != ArgvSource::Unavailable) {
    auto argv = texts(o, "argv");
    if (!argv) bad("'argv' is missing");
    d->argv = std::move(*argv);
    d->argv_truncated = flag(o, "argv_truncated");
  }
  d->argv_bytes = maybe_integer<uint64_t>(o, "argv_bytes");
  d->argc = maybe_integer<uint32_t>(o, "argc");
  d->filename = text(o, "filename");
  d->exe = text(o, "exe");
  d->cwd = text(o, "cwd");
  d->ppid = maybe_integer<int32_t>(o, "parent_pid");
  d->exec_tid = maybe_integer<int32_t>(o, "exec_tid");
  d->creds = creds(o);
  d->user = text(o, "user");
  d->comm = text(o, "comm");
  d->start_boottime_ns = maybe_integer<uint64_t>(o, "start_boottime_ns");
  d->cgroup = text(o, "cgroup");
  d->cgroup_id = maybe_integer<uint64_t>(o, "cgroup_id");
  if (const json* c = field(o, "container")) {
    if (!c->is_object()) bad("'container' is not an object");
    d->container = Container{required_text(*c, "runtime"), required_text(*c, "id")};
  }
  if (auto env = texts(o, "env")) {
    d->env = std::move(*env);
    d->env_truncated = flag(o, "env_truncated");
  }
  if (const json* a = field(o, "ancestry")) {
    if (!a->is_array()) bad("'ancestry' is not an array");
    for (const auto& x : *a)
      d->ancestry.push_back({integer<int32_t>(x, "pid"), required_text(x, "comm")});
  }
  if (const json* s = field(o, "sources")) {
    if (!s->is_object()) bad("'sources' is not an object");
    for (size_t i = 0; i < kFieldCount; ++i) {
      const auto f = static_cast<Field>(i);
      const json* v = field(*s, field_name(f));
      if (!v) continue;
      const std::string name = v->is_string() ? v->get<std::string>() : "";
      FieldSource src = FieldSource::None;
      if (name == "kernel") src = FieldSource::Kernel;
      if (name == "procfs") src = FieldSource::Procfs;
      if (name == "table") src = FieldSource::Table;
      if (src == FieldSource::None)
        bad("source of " + std::string(field_name(f)) + " is '" + name + "'");
      d->set_source(f, src);
    }
  }
  if (auto note = text(o, "note")) d->note = std::move(*note);
  return d;
}

ExitData exit_data(const json& o) {
  ExitData x;
  const bool thread = flag(o, "thread");
  const uint32_t raw = raw_from_status(o);
  x.process_ended = !thread;
  if (!thread) x.process_status = raw;
  x.raw_status = maybe_integer<uint32_t>(o, "thread_raw_exit_code").value_or(raw);
  x.parent_pid = maybe_integer<int32_t>(o, "parent_pid").value_or(0);
  x.parent_tid = maybe_integer<int32_t>(o, "parent_tid").value_or(0);
  auto comm = text(o, "comm");
  auto duration = maybe_integer<uint64_t>(o, "duration_ns");
  auto argv = texts(o, "argv");  // a process found running: its command line as /proc had it
  if (comm || duration || argv) {
    auto d = std::make_shared<ExitDetails>();
    d->comm = std::move(comm);
    d->duration_ns = duration;
    d->duration_approximate = flag(o, "duration_approximate");
    if (argv) {
      auto image = std::make_shared<ExecDetails>();
      image->argv_source = ArgvSource::Procfs;
      image->argv = std::move(*argv);
      image->argv_truncated = flag(o, "argv_truncated");
      image->found_running = true;
      d->image = std::move(image);
    }
    x.details = std::move(d);
  }
  return x;
}

SummaryData summary(const json& o) {
  SummaryData s;
  s.final = flag(o, "final");
  s.elapsed_ns = integer<uint64_t>(o, "elapsed_ns");
  s.processes = maybe_integer<uint64_t>(o, "processes");
  s.execs = maybe_integer<uint64_t>(o, "execs");
  s.exits = maybe_integer<uint64_t>(o, "exits");
  s.exits_started_before = maybe_integer<uint64_t>(o, "exits_started_before");
  s.failed = maybe_integer<uint64_t>(o, "failed");
  s.exec_failed = maybe_integer<uint64_t>(o, "exec_failed");
  s.lost = integer<uint64_t>(o, "lost");
  s.max_depth = maybe_integer<uint32_t>(o, "max_depth");
  s.approximate = flag(o, "approximate");
  for (auto [k, list] : {std::pair{"top_by_count", &s.by_count}, {"top_by_time", &s.by_time}}) {
    if (const json* a = field(o, k)) {
      for (const auto& c : *a) {
        list->push_back({required_text(c, "command"), integer<uint64_t>(c, "count"),
                         integer<uint64_t>(c, "ended"), integer<uint64_t>(c, "total_ns")});
      }
    }
  }
  if (const json* a = field(o, "slowest")) {
    for (const auto& p : *a) {
      s.slowest.push_back({integer<int32_t>(p, "pid"), required_text(p, "command"),
                           integer<uint64_t>(p, "duration_ns")});
    }
  }
  if (const json* a = field(o, "failures")) {
    for (const auto& f : *a) {
      SummaryData::Failure x;
      x.pid = integer<int32_t>(f, "pid");
      x.name = required_text(f, "command");
      if (const json* e = field(f, "error_name")) {
        x.exec_error = errno_number(e->is_string() ? e->get<std::string>() : "");
        if (x.exec_error == 0) bad("unknown errno name in a failure");
      } else if (const json* c = field(f, "exit_code")) {
        x.raw_status = static_cast<uint32_t>(integer<int32_t>(f, "exit_code") & 0xff) << 8;
        (void)c;
      } else {
        const int sig = signal_number(plain(f, "signal"));
        if (sig <= 0) bad("unknown signal name in a failure");
        x.raw_status = static_cast<uint32_t>(sig);
      }
      s.failures.push_back(std::move(x));
    }
  }
  s.more_failures = maybe_integer<uint64_t>(o, "more_failures").value_or(0);
  if (const json* a = field(o, "exporters")) {
    if (!a->is_array()) bad("'exporters' is not an array");
    for (const auto& x : *a) {
      // Written as it is (our own vocabulary): so only such a word passes.
      const std::string name = plain(x, "name");
      if (name.empty() || name.size() > 32 ||
          !std::all_of(name.begin(), name.end(), [](char c) { return c >= 'a' && c <= 'z'; })) {
        bad("'exporters': '" + name.substr(0, 32) + "' is not an exporter's name");
      }
      s.exporters.push_back({name, integer<uint64_t>(x, "produced"),
                             integer<uint64_t>(x, "delivered"), integer<uint64_t>(x, "sent_again"),
                             integer<uint64_t>(x, "failed"), integer<uint64_t>(x, "dropped"),
                             integer<uint64_t>(x, "waiting")});
    }
  }
  return s;
}

StartData start(const json& o) {
  const int version = integer<int>(o, "schema_version");
  if (version != kSchemaVersion) {
    bad("schema version " + std::to_string(version) + " is not the " +
        std::to_string(kSchemaVersion) + " this build reads");
  }
  StartData s;
  s.backend = required_text(o, "backend");
  s.reason = required_text(o, "reason");
  s.version = required_text(o, "version");
  s.missing_events = words(o, "missing_events");
  s.missing_fields = words(o, "missing_fields");
  s.table_ready_ns = maybe_integer<uint64_t>(o, "table_ready_ts_ns").value_or(0);
  s.scope = plain(o, "scope");
  if (s.scope != "own" && s.scope != "all") bad("'scope' is neither own nor all");
  if (const json* h = field(o, "host")) {
    s.host.hostname = required_text(*h, "hostname");
    s.host.machine_id = hex_id(plain(*h, "machine_id"), "'machine_id'");
    s.host.boot_id = hex_id(plain(*h, "boot_id"), "'boot_id'");
    s.boottime_offset_ns = integer<uint64_t>(o, "boottime_offset_ns");
  }
  return s;
}

ExecFailedData exec_failed(const json& o) {
  ExecFailedData f;
  f.error = integer<int32_t>(o, "error");
  f.filename = required_text(o, "filename");
  auto argv = texts(o, "argv");
  if (!argv) bad("'argv' is missing");
  f.argv = std::move(*argv);
  f.argv_truncated = flag(o, "argv_truncated");
  f.ppid = integer<int32_t>(o, "parent_pid");
  f.creds = creds(o);
  f.user = text(o, "user");
  f.comm = required_text(o, "comm");
  if (auto tried = texts(o, "tried")) f.tried = tried->to_vector();
  return f;
}

}  // namespace

struct JsonDecoder::Impl {
  FieldContext ctx;
  size_t line = 0;

  Event decode(const json& o) {
    if (!o.is_object()) bad("not a JSON object");
    const std::string type_name = plain(o, "type");
    const auto type = event_type_named(type_name);
    if (!type) bad("unknown event type '" + type_name + "'");
    Event e;
    e.wall_ns = wall_time(o, "time");
    e.ts_ns = integer<uint64_t>(o, "ts_ns");
    e.cpu = maybe_integer<int32_t>(o, "cpu").value_or(-1);
    e.pid = integer<int32_t>(o, "pid");
    e.tid = integer<int32_t>(o, "tid");
    if (field(o, "exec_id")) e.key = exec_key(plain(o, "exec_id"), &ctx.host);
    if (field(o, "parent_exec_id")) e.parent_key = exec_key(plain(o, "parent_exec_id"), &ctx.host);
    switch (*type) {
      case EventType::Ack:
        e.data = AckData{integer<uint32_t>(o, "error"), 0};
        break;
      case EventType::Fork: {
        // In JSON the subject of a fork is the new process; in the model, the process that
        // made it (a new thread: the process that gained it).
        ForkData f;
        f.child_pid = e.pid;
        f.child_tid = e.tid;
        f.parent_pid = integer<int32_t>(o, "parent_pid");
        f.parent_tid = integer<int32_t>(o, "parent_tid");
        if (flag(o, "thread") != f.is_thread())
          bad("fork's 'thread' disagrees with its pid and tid");
        if (!f.is_thread()) {
          e.pid = f.parent_pid;
          e.tid = f.parent_tid;
        }
        e.data = f;
        break;
      }
      case EventType::Exec:
        e.data = ExecData{exec_details(o)};
        break;
      case EventType::Uid:
        e.data = UidData{integer<uint32_t>(o, "ruid"), integer<uint32_t>(o, "euid")};
        break;
      case EventType::Gid:
        e.data = GidData{integer<uint32_t>(o, "rgid"), integer<uint32_t>(o, "egid")};
        break;
      case EventType::Sid:
        e.data = SidData{};
        break;
      case EventType::Ptrace:
        e.data = PtraceData{integer<int32_t>(o, "tracer_pid"), integer<int32_t>(o, "tracer_tid")};
        break;
      case EventType::Comm:
        e.data = CommData{required_text(o, "comm")};
        break;
      case EventType::Coredump:
        e.data = CoredumpData{integer<int32_t>(o, "parent_pid"), integer<int32_t>(o, "parent_tid")};
        break;
      case EventType::Exit:
        e.data = exit_data(o);
        break;
      case EventType::Unknown:
        e.data = UnknownData{integer<uint32_t>(o, "what")};
        break;
      case EventType::Lost:
        e.data = LostData{maybe_integer<uint64_t>(o, "count"), required_text(o, "reason")};
        break;
      case EventType::Resync:
        e.data = ResyncData{integer<uint64_t>(o, "added"), integer<uint64_t>(o, "removed"),
                            integer<uint64_t>(o, "table_size")};
        break;
      case EventType::Start:
        e.data = start(o);
        learn_from(e, ctx);
        break;
      case EventType::ExecFailed:
        e.data = exec_failed(o);
        break;
      case EventType::Summary:
        e.data = summary(o);
        break;
    }
    return e;
  }
};

JsonDecoder::JsonDecoder() : impl_(std::make_unique<Impl>()) {}
JsonDecoder::~JsonDecoder() = default;
JsonDecoder::JsonDecoder(JsonDecoder&&) noexcept = default;
JsonDecoder& JsonDecoder::operator=(JsonDecoder&&) noexcept = default;

Result<Event> JsonDecoder::decode(std::string_view line) {
  ++impl_->line;
  const std::string where = "line " + std::to_string(impl_->line) + ": ";
  json o = json::parse(line.begin(), line.end(), nullptr, false);
  if (o.is_discarded()) return make_error(where + "not JSON");
  try {
    return impl_->decode(o);
  } catch (const Bad& b) {
    // It may quote the file (a type, an id, a name): never raw to a terminal.
    return make_error(where + printable(b.why));
  } catch (const json::exception& x) {
    return make_error(where + x.what());
  }
}

size_t JsonDecoder::lines() const {
  return impl_->line;
}

void JsonDecoder::skip_line() {
  ++impl_->line;
}

const HostIdentity& JsonDecoder::host() const {
  return impl_->ctx.host;
}

}  // namespace proctrail
