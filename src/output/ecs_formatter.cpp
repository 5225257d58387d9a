// ECS documents (--schema ecs): each event under the Elastic Common Schema's names, one JSON
// object per line, so that Elasticsearch, Logstash or Filebeat index it without a rename
// pipeline (docs/output.md, "ECS"); and the same document walked, for the journal's and
// syslog's fields (output/ecs.hpp). The record is written by the one field walk first (the
// JSON formatter), read back, and its fields moved to their ECS names; what ECS has no name
// for stays under "proctrail.", so nothing the JSON record says is lost. Strings are written
// with the same escaping as the JSON records: no control or bidi character reaches a terminal.
#include "output/ecs.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>
#include <string_view>

#include "output/escape.hpp"
#include "proctrail/format.hpp"

namespace proctrail {

namespace {

using json = nlohmann::ordered_json;

// The ECS release whose names and types these are (tests/data/ecs_fields.txt).
constexpr char kEcsVersion[] = "8.11.0";

// v as JSON: strings through append_json_string, so escapes are the JSON records' own.
void write(std::string& out, const json& v) {
  switch (v.type()) {
    case json::value_t::object: {
      out += '{';
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += ',';
        first = false;
        append_json_string(out, it.key());
        out += ':';
        write(out, it.value());
      }
      out += '}';
      return;
    }
    case json::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& x : v) {
        if (!first) out += ',';
        first = false;
        write(out, x);
      }
      out += ']';
      return;
    }
    case json::value_t::string:
      append_json_string(out, v.get_ref<const std::string&>());
      return;
    default:
      out += v.dump();  // numbers, booleans, null
  }
}

// Puts v at a dotted path ("process.parent.pid") as nested objects.
void put(json& doc, std::string_view path, json v) {
  json* at = &doc;
  for (;;) {
    const size_t dot = path.find('.');
    if (dot == std::string_view::npos) {
      (*at)[std::string(path)] = std::move(v);
      return;
    }
    at = &(*at)[std::string(path.substr(0, dot))];
    path.remove_prefix(dot + 1);
  }
}

// ECS keeps ids as keywords (strings); proctrail's are numbers.
json id_text(const json& v) {
  return v.is_number() ? json(v.dump()) : v;
}

// event.kind, event.type and event.outcome for a proctrail event type.
void categorize(json& doc, const std::string& type, const json& r) {
  std::string kind = "event";
  const char* ecs_type = nullptr;
  // A thread's start and end are not a process's: info.
  const bool thread = r.value("thread", false);
  if (type == "fork") {
    ecs_type = thread ? "info" : "start";
  } else if (type == "exec" || type == "exec_failed") {
    ecs_type = "start";
  } else if (type == "exit") {
    ecs_type = thread ? "info" : "end";
  } else if (type == "uid" || type == "gid" || type == "sid" || type == "comm" ||
             type == "ptrace") {
    ecs_type = "change";
  } else if (type == "coredump") {
    ecs_type = "info";
  } else if (type == "lost" || type == "resync") {
    kind = "pipeline_error";  // proctrail's own stream lost or rebuilt something
  } else if (type == "summary") {
    kind = "metric";
  }
  put(doc, "event.kind", kind);
  if (ecs_type) {
    put(doc, "event.category", json::array({"process"}));
    put(doc, "event.type", json::array({ecs_type}));
  }
  if (type == "exec") put(doc, "event.outcome", "success");
  if (type == "exec_failed") put(doc, "event.outcome", "failure");
}

// Fields whose ECS name is a rename (one or two names; ids become keywords), by their path
// in the JSON record.
struct Rename {
  std::string_view from, to, also;  // also: empty, or a second name
  bool id;
};
constexpr Rename kRenames[] = {
    {"pid", "process.pid", {}, false},
    {"tid", "process.thread.id", {}, false},
    {"exec_id", "process.entity_id", {}, false},
    {"parent_exec_id", "process.parent.entity_id", {}, false},
    {"parent_pid", "process.parent.pid", {}, false},
    {"exe", "process.executable", {}, false},
    {"cwd", "process.working_directory", {}, false},
    {"comm", "process.name", {}, false},
    {"uid", "user.id", "process.real_user.id", true},
    {"ruid", "user.id", "process.real_user.id", true},
    {"euid", "process.user.id", {}, true},
    {"gid", "process.real_group.id", {}, true},
    {"rgid", "process.real_group.id", {}, true},
    {"egid", "process.group.id", {}, true},
    {"user", "user.name", "process.real_user.name", false},
    {"start_time", "process.start", {}, false},
    {"duration_ns", "event.duration", {}, false},
    {"env", "process.env_vars", {}, false},
    {"error_name", "error.code", {}, false},
    {"container.id", "container.id", {}, false},
    {"container.runtime", "container.runtime", {}, false},
    {"host.hostname", "host.hostname", "host.name", false},
    {"host.machine_id", "host.id", {}, false},
    {"host.boot_id", "host.boot.id", {}, false},
};

// One field of the record (at its dotted path) into the document.
void move_field(json& doc, const std::string& path, const json& v, bool process_ended) {
  if (path == "time") {
    if (process_ended) put(doc, "process.end", v);
    return;
  }
  if (path == "exit_code" && process_ended) {
    put(doc, "process.exit_code", v);  // a thread's own code stays proctrail.exit_code
    return;
  }
  if (path == "argv" && v.is_array()) {
    put(doc, "process.args", v);
    put(doc, "process.args_count", v.size());
    std::string line;
    for (const auto& a : v) {
      if (!line.empty()) line += ' ';
      line += a.get<std::string>();
    }
    put(doc, "process.command_line", line);
    return;
  }
  // A list with bytes that are not UTF-8 is only <name>_b64 in the record. Its ECS field holds
  // the text with U+FFFD all the same, as a string field's does: a rule on process.args must
  // not miss a command for one invalid byte. The exact bytes stay under proctrail.
  if ((path == "argv_b64" || path == "env_b64") && v.is_string()) {
    if (auto bytes = decode_base64(v.get_ref<const std::string&>())) {
      json list = json::array();
      for (std::string_view a : Strings::from_nul_separated(*bytes)) {
        list.push_back(with_replacement(a));
      }
      move_field(doc, path.substr(0, path.size() - 4), list, process_ended);
    }
    put(doc, "proctrail." + path, v);
    return;
  }
  if ((path == "container" || path == "host") && v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      move_field(doc, path + "." + it.key(), it.value(), process_ended);
    }
    return;
  }
  for (const Rename& r : kRenames) {
    if (r.from != path) continue;
    put(doc, r.to, r.id ? id_text(v) : v);
    if (!r.also.empty()) put(doc, r.also, r.id ? id_text(v) : v);
    return;
  }
  // ECS has no name for it (the field sources, argv_truncated, a _b64 sibling holding a
  // string's exact bytes, the summary's lists ...): kept as proctrail says it.
  put(doc, "proctrail." + path, v);
}

// One proctrail record (parsed) as an ECS document.
json to_ecs(const json& r) {
  json doc = json::object();
  const std::string type = r.value("type", "");
  put(doc, "@timestamp", r.value("time", json()));
  put(doc, "ecs.version", kEcsVersion);
  put(doc, "event.action", type);
  put(doc, "event.module", "proctrail");
  put(doc, "event.dataset", "proctrail.process");
  categorize(doc, type, r);
  const bool process_ended = type == "exit" && !r.value("thread", false);
  for (auto it = r.begin(); it != r.end(); ++it) {
    if (it.key() != "type") move_field(doc, it.key(), it.value(), process_ended);
  }
  return doc;
}

// The event's ECS document, from its JSON record as `json` (the formatter with the host in
// every record) writes it. That record is valid JSON and valid UTF-8 (invalid bytes are
// replaced and kept exactly in a _b64 sibling); were it ever not, the document says so rather
// than throw.
json ecs_document(Formatter& record, std::string& line, const Event& e) {
  line.clear();
  record.format(e, line);
  const json parsed = json::parse(line, nullptr, false);
  if (!parsed.is_discarded()) return to_ecs(parsed);
  json doc;
  put(doc, "ecs.version", kEcsVersion);
  put(doc, "event.kind", "pipeline_error");
  put(doc, "event.module", "proctrail");
  put(doc, "error.message", "proctrail could not read this event's JSON record back");
  return doc;
}

// An object's fields to a visitor: objects as open and close, a list of objects item by item,
// strings as text, any other list as texts (of its strings, or of each value's JSON). The
// field named skip, if any, is left out.
void walk(const json& object, FieldVisitor& v, std::string_view skip = {}) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    const std::string& k = it.key();
    if (!skip.empty() && k == skip) continue;
    const json& x = it.value();
    switch (x.type()) {
      case json::value_t::object:
        v.open(k);
        walk(x, v);
        v.close();
        break;
      case json::value_t::array:
        if (!x.empty() &&
            std::all_of(x.begin(), x.end(), [](const json& o) { return o.is_object(); })) {
          v.open_list(k);
          for (const auto& o : x) {
            v.item();
            walk(o, v);
          }
          v.close_list();
        } else {
          Strings all;
          for (const auto& a : x)
            all.push_back(a.is_string() ? a.get_ref<const std::string&>() : a.dump());
          v.texts(k, all);
        }
        break;
      case json::value_t::string:
        // A command line, or a list's exact bytes: as long as a list, held back as lists are.
        if (k == "command_line" || k == "argv_b64" || k == "env_b64") {
          v.joined_text(k, x.get_ref<const std::string&>());
        } else {
          v.text(k, x.get_ref<const std::string&>());
        }
        break;
      case json::value_t::number_integer:
        v.number(k, x.get<int64_t>());
        break;
      case json::value_t::number_unsigned:
        v.count(k, x.get<uint64_t>());
        break;
      case json::value_t::boolean:
        v.flag(k, x.get<bool>());
        break;
      case json::value_t::null:
        v.none(k);
        break;
      default:
        v.word(k, x.dump());
    }
  }
}

class EcsFormatter final : public Formatter {
 public:
  // The host in every document: a collector takes them one by one.
  EcsFormatter() : json_(make_json_formatter(true)) {}

  void format(const Event& e, std::string& out) override {
    write(out, ecs_document(*json_, line_, e));
    out += '\n';
  }

 private:
  std::unique_ptr<Formatter> json_;
  std::string line_;
};

}  // namespace

std::unique_ptr<Formatter> make_ecs_formatter() {
  return std::make_unique<EcsFormatter>();
}

EcsWalk::EcsWalk() : json_(make_json_formatter(true)) {}

void EcsWalk::load(const Event& e) {
  doc_ = ecs_document(*json_, line_, e);
}

void EcsWalk::visit(FieldVisitor& v, Part part) const {
  if (part == Part::Proctrail) {
    if (auto own = doc_.find("proctrail"); own != doc_.end() && own->is_object()) walk(*own, v);
    return;
  }
  walk(doc_, v, part == Part::Ecs ? "proctrail" : "");
}

}  // namespace proctrail
