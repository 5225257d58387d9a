// proctrail report: the processes of a recording as a timeline. One bar per process (every
// image an exec_id names, grouped by the process part of the key), from its fork to its exit,
// under its parent. Two outputs: one HTML page with everything in it (report_page.hpp), and a
// Perfetto trace written as protobuf by hand (the few messages and field numbers of Perfetto's
// perfetto_trace.proto that it uses are named below).
#include "report.hpp"

#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "options.hpp"
#include "output/escape.hpp"
#include "record.hpp"
#include "report_page.hpp"
#include "sink/output_file.hpp"
#include "sqlite_db.hpp"

namespace proctrail::cli {

namespace {

enum class Outcome : uint8_t { Success, Failure, Killed, Running };

constexpr const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::Success:
      return "success";
    case Outcome::Failure:
      return "failure";
    case Outcome::Killed:
      return "killed";
    case Outcome::Running:
      return "running";
  }
  return "running";
}

// One row of the processes table: one program image.
struct Image {
  std::string exec_id, parent_exec_id;
  std::optional<std::string> argv;  // the JSON array as recorded
  std::string exe, cwd, user, container, ended_by, signal;
  int64_t pid = 0;
  std::optional<int64_t> uid, exit_code;
  std::optional<int64_t> started_ns, ended_ns;
  bool core_dumped = false;
};

// One process: its images in the order they ran.
struct Process {
  std::vector<size_t> images;
  long parent = -1;
  std::vector<size_t> children;
  // Drawn from start_ns: its start, or the recording's first event for a process that was
  // running before it (began_ns then says when it really began, when known).
  int64_t start_ns = 0, end_ns = 0, began_ns = 0;
  bool before = false;
  bool ended = false;
  Outcome outcome = Outcome::Running;
  int depth = 0;
};

struct Mark {
  int64_t ns = 0;
  std::string what;  // "lost 12 events: reason", "exec failed: ENOENT /usr/bin/x"
  std::string exec_id;
};

struct Recording {
  std::string path;
  int64_t first_ns = 0, last_ns = 0;
  std::vector<Image> images;
  std::vector<Process> procs;  // in tree order: a parent before its children, siblings by start
  std::vector<Mark> failed_execs, losses;
  std::string hostname, backend;
};

std::string text_column(sqlite3_stmt* s, int i) {
  const auto* t = sqlite3_column_text(s, i);
  return t ? std::string(reinterpret_cast<const char*>(t),
                         static_cast<size_t>(sqlite3_column_bytes(s, i)))
           : std::string();
}

std::optional<int64_t> int_column(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(s, i);
}

std::optional<int64_t> time_column(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
  return parse_time(text_column(s, i));
}

// What every image of one process shares: its exec_id up to and with the last dash.
std::string process_part(const std::string& exec_id) {
  const size_t dash = exec_id.rfind('-');
  return dash == std::string::npos ? exec_id : exec_id.substr(0, dash + 1);
}

Status load_images(sqlite3* db, Recording& r) {
  auto s = prepare(db, r.path,
                   "SELECT exec_id, parent_exec_id, pid, argv, exe, cwd, user, uid, container,"
                   " started, ended, ended_by, exit_code, signal, core_dumped FROM processes"
                   " ORDER BY started IS NULL, started, exec_id");
  if (!s) return s.error();
  int rc = 0;
  while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) {
    sqlite3_stmt* q = s->get();
    Image m;
    m.exec_id = text_column(q, 0);
    m.parent_exec_id = text_column(q, 1);
    m.pid = int_column(q, 2).value_or(0);
    if (sqlite3_column_type(q, 3) != SQLITE_NULL) m.argv = text_column(q, 3);
    m.exe = text_column(q, 4);
    m.cwd = text_column(q, 5);
    m.user = text_column(q, 6);
    m.uid = int_column(q, 7);
    m.container = text_column(q, 8);
    m.started_ns = time_column(q, 9);
    m.ended_ns = time_column(q, 10);
    m.ended_by = text_column(q, 11);
    m.exit_code = int_column(q, 12);
    m.signal = text_column(q, 13);
    m.core_dumped = int_column(q, 14).value_or(0) != 0;
    r.images.push_back(std::move(m));
  }
  if (rc != SQLITE_DONE) return db_error(db, r.path, "reading its processes");
  return {};
}

Status load_marks(sqlite3* db, Recording& r) {
  auto bounds = prepare(db, r.path, "SELECT min(time), max(time) FROM events");
  if (!bounds) return bounds.error();
  if (sqlite3_step(bounds->get()) == SQLITE_ROW) {
    r.first_ns = time_column(bounds->get(), 0).value_or(0);
    r.last_ns = time_column(bounds->get(), 1).value_or(0);
  }
  auto failed = prepare(db, r.path,
                        "SELECT time, exec_id, json_extract(json, '$.error_name'),"
                        " json_extract(json, '$.filename') FROM events"
                        " WHERE type = 'exec_failed' ORDER BY id");
  if (!failed) return failed.error();
  while (sqlite3_step(failed->get()) == SQLITE_ROW) {
    sqlite3_stmt* q = failed->get();
    r.failed_execs.push_back({time_column(q, 0).value_or(0),
                              "exec failed: " + text_column(q, 2) + " " + text_column(q, 3),
                              text_column(q, 1)});
  }
  auto lost = prepare(db, r.path, "SELECT time, type, count, reason FROM losses ORDER BY id");
  if (!lost) return lost.error();
  while (sqlite3_step(lost->get()) == SQLITE_ROW) {
    sqlite3_stmt* q = lost->get();
    std::string what = text_column(q, 1);
    if (auto n = int_column(q, 2)) what += " " + std::to_string(*n) + " events";
    if (auto why = text_column(q, 3); !why.empty()) what += ": " + why;
    r.losses.push_back({time_column(q, 0).value_or(0), what, {}});
  }
  auto run = prepare(db, r.path, "SELECT hostname, backend FROM runs ORDER BY run LIMIT 1");
  if (!run) return run.error();
  if (sqlite3_step(run->get()) == SQLITE_ROW) {
    r.hostname = text_column(run->get(), 0);
    r.backend = text_column(run->get(), 1);
  }
  return {};
}

// Groups the images into processes, finds each one's parent, and lays the processes out in
// tree order.
void build_tree(Recording& r) {
  std::unordered_map<std::string, size_t> proc_of_part;
  std::vector<Process> procs;
  for (size_t i = 0; i < r.images.size(); ++i) {
    auto [it, fresh] = proc_of_part.try_emplace(process_part(r.images[i].exec_id), procs.size());
    if (fresh) procs.emplace_back();
    procs[it->second].images.push_back(i);
  }
  std::unordered_map<std::string, size_t> proc_of_image;
  for (size_t p = 0; p < procs.size(); ++p) {
    for (size_t i : procs[p].images) proc_of_image[r.images[i].exec_id] = p;
  }
  for (size_t p = 0; p < procs.size(); ++p) {
    Process& proc = procs[p];
    const Image& first = r.images[proc.images.front()];
    const Image& last = r.images[proc.images.back()];
    if (auto it = proc_of_image.find(first.parent_exec_id);
        !first.parent_exec_id.empty() && it != proc_of_image.end() && it->second != p) {
      proc.parent = static_cast<long>(it->second);
    }
    proc.began_ns = first.started_ns.value_or(0);
    proc.before = !first.started_ns || *first.started_ns < r.first_ns;
    proc.start_ns = proc.before ? r.first_ns : *first.started_ns;
    proc.ended = last.ended_by == "exit" && last.ended_ns.has_value();
    proc.end_ns = proc.ended ? *last.ended_ns : r.last_ns;
    proc.end_ns = std::max(proc.end_ns, proc.start_ns);
    if (!proc.ended) {
      proc.outcome = Outcome::Running;
    } else if (!last.signal.empty()) {
      proc.outcome = Outcome::Killed;
    } else {
      proc.outcome = last.exit_code.value_or(0) == 0 ? Outcome::Success : Outcome::Failure;
    }
  }
  // A parent chain that loops (it cannot from proctrail, a key being unique) is cut.
  for (size_t p = 0; p < procs.size(); ++p) {
    long at = procs[p].parent;
    for (size_t steps = 0; at >= 0; ++steps, at = procs[static_cast<size_t>(at)].parent) {
      if (steps > procs.size() || static_cast<size_t>(at) == p) {
        procs[p].parent = -1;
        break;
      }
    }
  }
  std::vector<size_t> roots;
  for (size_t p = 0; p < procs.size(); ++p) {
    if (procs[p].parent < 0) {
      roots.push_back(p);
    } else {
      procs[static_cast<size_t>(procs[p].parent)].children.push_back(p);
    }
  }
  auto by_start = [&](size_t a, size_t b) {
    return procs[a].start_ns != procs[b].start_ns ? procs[a].start_ns < procs[b].start_ns : a < b;
  };
  std::sort(roots.begin(), roots.end(), by_start);
  for (Process& proc : procs) std::sort(proc.children.begin(), proc.children.end(), by_start);
  // Depth first, without recursion (a chain may be thousands deep).
  std::vector<size_t> order;
  order.reserve(procs.size());
  std::vector<std::pair<size_t, int>> stack;
  for (auto root = roots.rbegin(); root != roots.rend(); ++root) stack.emplace_back(*root, 0);
  while (!stack.empty()) {
    auto [p, depth] = stack.back();
    stack.pop_back();
    procs[p].depth = depth;
    order.push_back(p);
    for (auto c = procs[p].children.rbegin(); c != procs[p].children.rend(); ++c) {
      stack.emplace_back(*c, depth + 1);
    }
  }
  std::vector<size_t> position(procs.size());
  for (size_t i = 0; i < order.size(); ++i) position[order[i]] = i;
  r.procs.clear();
  r.procs.reserve(order.size());
  for (size_t p : order) {
    Process proc = std::move(procs[p]);
    if (proc.parent >= 0)
      proc.parent = static_cast<long>(position[static_cast<size_t>(proc.parent)]);
    for (size_t& c : proc.children) c = position[c];
    r.procs.push_back(std::move(proc));
  }
}

Result<Recording> load(const std::string& path) {
  auto db = open_recording_readonly(path);
  if (!db) return db.error();
  Recording r;
  r.path = path;
  if (auto s = load_marks(db->get(), r); !s) return s.error();
  if (auto s = load_images(db->get(), r); !s) return s.error();
  build_tree(r);
  return r;
}

// The command line of a process for a label: its last image's argv as words, or its exe.
std::string label_of(const Recording& r, const Process& p) {
  for (auto i = p.images.rbegin(); i != p.images.rend(); ++i) {
    const Image& m = r.images[*i];
    if (m.argv && *m.argv != "[]") return *m.argv;
    if (!m.exe.empty())
      return "[" + [&] {
        std::string s;
        append_json_string(s, m.exe);
        return s;
      }() + "]";
  }
  return "[]";
}

// The critical path: from the longest of the processes that began and ended within the
// recording with no such parent (make, for a recorded build; not init, running throughout),
// each step to the child that ended last (the one its parent waited for longest), down to a
// process with no children.
std::vector<size_t> critical_path(const Recording& r) {
  std::vector<size_t> path;
  auto within = [&](const Process& p) { return p.ended && !p.before; };
  auto length = [&](long p) {
    return r.procs[static_cast<size_t>(p)].end_ns - r.procs[static_cast<size_t>(p)].start_ns;
  };
  long best = -1;
  for (size_t p = 0; p < r.procs.size(); ++p) {
    const Process& proc = r.procs[p];
    if (!within(proc)) continue;
    if (proc.parent >= 0 && within(r.procs[static_cast<size_t>(proc.parent)])) continue;
    if (best < 0 || length(static_cast<long>(p)) > length(best)) best = static_cast<long>(p);
  }
  for (long at = best; at >= 0;) {
    path.push_back(static_cast<size_t>(at));
    const Process& proc = r.procs[static_cast<size_t>(at)];
    long next = -1;
    for (size_t c : proc.children) {
      if (next < 0 || r.procs[c].end_ns > r.procs[static_cast<size_t>(next)].end_ns) {
        next = static_cast<long>(c);
      }
    }
    at = next;
  }
  return path;
}

// ---- HTML --------------------------------------------------------------------------------

void put_string(std::string& out, std::string_view s) {
  append_json_string(out, s);
}

// The page's data, as JSON in a <script type="application/json"> element. Every '<' is written
// \u003c, so that nothing a process named can end the element.
std::string page_data(const Recording& r, const std::string& title) {
  std::string j = "{\"title\":";
  put_string(j, title);
  j += ",\"file\":";
  put_string(j, r.path);
  j += ",\"host\":";
  put_string(j, r.hostname);
  j += ",\"backend\":";
  put_string(j, r.backend);
  j += ",\"t0\":" + std::to_string(r.first_ns) + ",\"t1\":" + std::to_string(r.last_ns);
  // Each process: [parent, depth, start, end (ns after t0), outcome, argv, details].
  j += ",\"procs\":[";
  for (size_t p = 0; p < r.procs.size(); ++p) {
    const Process& proc = r.procs[p];
    const Image& last = r.images[proc.images.back()];
    if (p) j += ',';
    j += '[' + std::to_string(proc.parent) + ',' + std::to_string(proc.depth) + ',' +
         std::to_string(proc.start_ns - r.first_ns) + ',' +
         std::to_string(proc.end_ns - r.first_ns) + ",\"" + outcome_name(proc.outcome) + "\"," +
         label_of(r, proc) + ",{\"pid\":" + std::to_string(last.pid);
    for (const auto& [name, value] : {std::pair<const char*, const std::string*>{"exe", &last.exe},
                                      {"cwd", &last.cwd},
                                      {"user", &last.user},
                                      {"container", &last.container},
                                      {"signal", &last.signal},
                                      {"exec_id", &last.exec_id}}) {
      if (value->empty()) continue;
      j += ",\"";
      j += name;
      j += "\":";
      put_string(j, *value);
    }
    if (last.uid) j += ",\"uid\":" + std::to_string(*last.uid);
    if (last.exit_code) j += ",\"exit_code\":" + std::to_string(*last.exit_code);
    if (last.core_dumped) j += ",\"core_dumped\":true";
    if (proc.before) {
      j += ",\"before\":true";
      if (proc.began_ns) j += ",\"began\":" + std::to_string(proc.began_ns / 1'000'000);
    }
    j += ",\"images\":" + std::to_string(proc.images.size()) + "}]";
  }
  j += "],\"marks\":[";
  bool first = true;
  for (const auto* list : {&r.losses, &r.failed_execs}) {
    for (const Mark& m : *list) {
      if (!first) j += ',';
      first = false;
      j += '[' + std::to_string(m.ns - r.first_ns) + ',' +
           (list == &r.losses ? "\"loss\"," : "\"exec_failed\",");
      put_string(j, m.what);
      j += ']';
    }
  }
  j += "],\"critical\":[";
  const auto path = critical_path(r);
  for (size_t i = 0; i < path.size(); ++i) j += (i ? "," : "") + std::to_string(path[i]);
  j += "]}";
  std::string safe;
  safe.reserve(j.size());
  for (char c : j) {
    if (c == '<') {
      safe += "\\u003c";
    } else {
      safe += c;
    }
  }
  return safe;
}

std::string html_report(const Recording& r, const std::string& title) {
  std::string page(kReportPageHead);
  std::string escaped_title;
  for (char c : title) {
    switch (c) {
      case '<':
        escaped_title += "&lt;";
        break;
      case '>':
        escaped_title += "&gt;";
        break;
      case '&':
        escaped_title += "&amp;";
        break;
      case '"':
        escaped_title += "&quot;";
        break;
      default:
        escaped_title += c;
    }
  }
  const std::string marker = "@TITLE@";
  page.replace(page.find(marker), marker.size(), escaped_title);
  page += "<script type=\"application/json\" id=\"data\">";
  page += page_data(r, title);
  page += "</script>\n";
  page += kReportPageTail;
  return page;
}

// ---- Perfetto ----------------------------------------------------------------------------

// Protobuf's wire format, the parts a trace needs: varints and length-delimited fields.
class Proto {
 public:
  void varint(uint32_t field, uint64_t v) {
    key(field, 0);
    put_varint(v);
  }
  void bytes(uint32_t field, std::string_view v) {
    key(field, 2);
    put_varint(v.size());
    out_.append(v);
  }
  void message(uint32_t field, const Proto& m) { bytes(field, m.out_); }
  [[nodiscard]] const std::string& str() const { return out_; }

 private:
  void key(uint32_t field, uint32_t wire_type) { put_varint((uint64_t{field} << 3) | wire_type); }
  void put_varint(uint64_t v) {
    while (v >= 0x80) {
      out_ += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    out_ += static_cast<char>(v);
  }
  std::string out_;
};

// Field numbers from Perfetto's perfetto_trace.proto.
namespace pf {
constexpr uint32_t kTracePacket = 1;       // Trace.packet
constexpr uint32_t kTimestamp = 8;         // TracePacket.timestamp
constexpr uint32_t kSequenceId = 10;       // TracePacket.trusted_packet_sequence_id
constexpr uint32_t kTrackEvent = 11;       // TracePacket.track_event
constexpr uint32_t kSequenceFlags = 13;    // TracePacket.sequence_flags
constexpr uint32_t kTrackDescriptor = 60;  // TracePacket.track_descriptor
constexpr uint32_t kUuid = 1;              // TrackDescriptor.uuid
constexpr uint32_t kName = 2;              // TrackDescriptor.name
constexpr uint32_t kParentUuid = 5;        // TrackDescriptor.parent_uuid
constexpr uint32_t kDebugAnnotations = 4;  // TrackEvent.debug_annotations
constexpr uint32_t kType = 9;              // TrackEvent.type
constexpr uint32_t kTrackUuid = 11;        // TrackEvent.track_uuid
constexpr uint32_t kEventName = 23;        // TrackEvent.name
constexpr uint32_t kAnnotationName = 10;   // DebugAnnotation.name
constexpr uint32_t kIntValue = 4;          // DebugAnnotation.int_value
constexpr uint32_t kStringValue = 6;       // DebugAnnotation.string_value
constexpr uint64_t kSliceBegin = 1, kSliceEnd = 2, kInstant = 3;  // TrackEvent.Type
constexpr uint64_t kIncrementalStateCleared = 1;                  // TracePacket.SequenceFlags
constexpr uint32_t kSequence = 1;                                 // this trace's one writer
}  // namespace pf

// The argv array as one line of words (shell-quoted where needed), for names and arguments.
std::string words_of(const std::string& argv_json) {
  std::string out;
  // The array is proctrail's own JSON: strings with JSON escapes, which this reads back.
  size_t i = 0;
  while ((i = argv_json.find('"', i)) != std::string::npos) {
    std::string word;
    for (++i; i < argv_json.size() && argv_json[i] != '"'; ++i) {
      char c = argv_json[i];
      if (c == '\\' && i + 1 < argv_json.size()) {
        const char e = argv_json[++i];
        switch (e) {
          case 'n':
            c = '\n';
            break;
          case 't':
            c = '\t';
            break;
          case 'r':
            c = '\r';
            break;
          case 'b':
            c = '\b';
            break;
          case 'f':
            c = '\f';
            break;
          case 'u': {
            // \uXXXX: code points below U+0800 are all proctrail escapes (controls); the
            // others it writes as text.
            unsigned cp = 0;
            for (size_t h = i + 1; h <= i + 4 && h < argv_json.size(); ++h) {
              const char x = argv_json[h];
              cp = cp * 16 + static_cast<unsigned>(x >= 'a'   ? x - 'a' + 10
                                                   : x >= 'A' ? x - 'A' + 10
                                                              : x - '0') %
                                 16;
            }
            i += 4;
            if (cp < 0x80) {
              word += static_cast<char>(cp);
            } else if (cp < 0x800) {
              word += static_cast<char>(0xc0 | (cp >> 6));
              word += static_cast<char>(0x80 | (cp & 0x3f));
            } else {
              word += static_cast<char>(0xe0 | (cp >> 12));
              word += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
              word += static_cast<char>(0x80 | (cp & 0x3f));
            }
            continue;
          }
          default:
            c = e;
        }
      }
      word += c;
    }
    ++i;
    if (!out.empty()) out += ' ';
    append_shell_word(out, word);
  }
  return out;
}

void annotate(Proto& event, const char* name, std::string_view value) {
  if (value.empty()) return;
  Proto a;
  a.bytes(pf::kAnnotationName, name);
  a.bytes(pf::kStringValue, value);
  event.message(pf::kDebugAnnotations, a);
}

void annotate(Proto& event, const char* name, int64_t value) {
  Proto a;
  a.bytes(pf::kAnnotationName, name);
  a.varint(pf::kIntValue, static_cast<uint64_t>(value));
  event.message(pf::kDebugAnnotations, a);
}

void packet(std::string& out, uint64_t ts, const Proto& body, uint32_t field, bool first) {
  Proto p;
  if (ts) p.varint(pf::kTimestamp, ts);
  p.varint(pf::kSequenceId, pf::kSequence);
  if (first) p.varint(pf::kSequenceFlags, pf::kIncrementalStateCleared);
  p.message(field, body);
  Proto wrap;
  wrap.message(pf::kTracePacket, p);
  out += wrap.str();
}

// One track per process, nested under its parent's (TrackDescriptor.parent_uuid), with one
// slice per image from its start to its end; failed execs and losses as instant events on a
// track of their own.
std::string perfetto_trace(const Recording& r, const std::string& title) {
  std::string out;
  const uint64_t root_uuid = 1;
  auto uuid_of = [](size_t p) { return uint64_t{p} + 2; };
  {
    Proto d;
    d.varint(pf::kUuid, root_uuid);
    d.bytes(pf::kName, title);
    packet(out, 0, d, pf::kTrackDescriptor, true);
  }
  for (size_t p = 0; p < r.procs.size(); ++p) {
    const Process& proc = r.procs[p];
    Proto d;
    d.varint(pf::kUuid, uuid_of(p));
    d.varint(pf::kParentUuid,
             proc.parent >= 0 ? uuid_of(static_cast<size_t>(proc.parent)) : root_uuid);
    const Image& last = r.images[proc.images.back()];
    std::string name = words_of(label_of(r, proc));
    if (name.size() > 200) name = name.substr(0, 200) + "…";
    d.bytes(pf::kName, std::to_string(last.pid) + " " + name);
    packet(out, 0, d, pf::kTrackDescriptor, false);
  }
  // Slices in time order per track: each image from its start to the next image's or its end.
  for (size_t p = 0; p < r.procs.size(); ++p) {
    const Process& proc = r.procs[p];
    for (size_t k = 0; k < proc.images.size(); ++k) {
      const Image& m = r.images[proc.images[k]];
      const bool last = k + 1 == proc.images.size();
      int64_t begin = k == 0 ? proc.start_ns : std::max(m.started_ns.value_or(0), proc.start_ns);
      int64_t end = last ? proc.end_ns : m.ended_ns.value_or(begin);
      end = std::max(end, begin);
      Proto b;
      b.varint(pf::kType, pf::kSliceBegin);
      b.varint(pf::kTrackUuid, uuid_of(p));
      std::string words = m.argv ? words_of(*m.argv) : std::string();
      std::string name = words.empty() ? (m.exe.empty() ? "(forked)" : m.exe) : words;
      if (name.size() > 200) name = name.substr(0, 200) + "…";
      b.bytes(pf::kEventName, name);
      annotate(b, "argv", words);
      annotate(b, "exe", m.exe);
      annotate(b, "cwd", m.cwd);
      annotate(b, "user", m.user);
      if (m.uid) annotate(b, "uid", *m.uid);
      annotate(b, "pid", m.pid);
      annotate(b, "exec_id", m.exec_id);
      annotate(b, "container", m.container);
      if (k == 0 && proc.before) annotate(b, "note", "running when the recording began");
      if (last) {
        annotate(b, "outcome", outcome_name(proc.outcome));
        if (m.exit_code) annotate(b, "exit_code", *m.exit_code);
        annotate(b, "signal", m.signal);
      } else {
        annotate(b, "outcome", "replaced by exec");
      }
      packet(out, static_cast<uint64_t>(begin), b, pf::kTrackEvent, false);
      Proto e;
      e.varint(pf::kType, pf::kSliceEnd);
      e.varint(pf::kTrackUuid, uuid_of(p));
      packet(out, static_cast<uint64_t>(end), e, pf::kTrackEvent, false);
    }
  }
  for (const auto* list : {&r.losses, &r.failed_execs}) {
    for (const Mark& m : *list) {
      Proto i;
      i.varint(pf::kType, pf::kInstant);
      i.varint(pf::kTrackUuid, root_uuid);
      i.bytes(pf::kEventName, m.what);
      annotate(i, "exec_id", m.exec_id);
      packet(out, static_cast<uint64_t>(m.ns), i, pf::kTrackEvent, false);
    }
  }
  return out;
}

int report_error(const std::string& message) {
  std::fprintf(stderr, "proctrail report: error: %s\n", message.c_str());
  return 1;
}

bool ends_with(const std::string& s, std::string_view tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

int report_main(int argc, char** argv) {
  CLI::App app{
      "proctrail report: a recording (a SQLite database from --record) drawn as a timeline of "
      "its processes: one self-contained HTML page (default) or a Perfetto trace.",
      "proctrail report"};
  std::string file, output = "-", format, title;
  app.add_option("FILE", file, "the recording")->type_name("FILE")->required();
  app.add_option("-o,--output", output,
                 "where to write it (created for the caller alone, never through a link); "
                 "- is standard output, when it is not a terminal")
      ->type_name("FILE");
  app.add_option("--format", format,
                 "html, or perfetto (a protobuf trace for ui.perfetto.dev); the default is "
                 "perfetto for an -o ending in .pftrace or .perfetto-trace, else html")
      ->type_name("FORMAT");
  app.add_option("--title", title, "the report's title (default: the file's name)");
  app.footer(R"(Examples:
  proctrail --record build.db -- make -j8
  proctrail report build.db -o build.html          open it in a browser (no network needed)
  proctrail report build.db -o build.pftrace       open it in ui.perfetto.dev)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "proctrail report: error: %s (see --help)\n", e.what());
    return 2;
  }
  if (format.empty()) {
    format =
        ends_with(output, ".pftrace") || ends_with(output, ".perfetto-trace") ? "perfetto" : "html";
  }
  if (format != "html" && format != "perfetto") {
    std::fprintf(stderr,
                 "proctrail report: error: --format %s: not a format (html or perfetto; see "
                 "--help)\n",
                 shell_word(format).c_str());
    return 2;
  }
  if (output == "-" && ::isatty(STDOUT_FILENO)) {
    std::fprintf(stderr,
                 "proctrail report: error: the %s report would go to the terminal: give "
                 "-o FILE (see --help)\n",
                 format.c_str());
    return 2;
  }
  if (!is_sqlite_file(file)) {
    return report_error(shell_word(file) + ": " +
                        (::access(file.c_str(), R_OK) != 0
                             ? std::string(std::strerror(errno))
                             : "not a recording (report reads the SQLite file of --record; "
                               "for JSON lines, record with --record)"));
  }
  auto rec = load(file);
  if (!rec) return report_error(rec.error().message);
  if (title.empty()) title = file.substr(file.find_last_of('/') + 1);
  const std::string body =
      format == "html" ? html_report(*rec, title) : perfetto_trace(*rec, title);
  int fd = STDOUT_FILENO;
  if (output != "-") {
    auto opened = open_output(output, O_TRUNC, "open");
    if (!opened) return report_error(opened.error().message);
    fd = *opened;
  }
  size_t done = 0;
  while (done < body.size()) {
    const ssize_t n = ::write(fd, body.data() + done, body.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return report_error((output == "-" ? std::string("standard output") : output) + ": " +
                          std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  if (fd != STDOUT_FILENO && ::close(fd) != 0) {
    return report_error(output + ": " + std::strerror(errno));
  }
  if (output != "-") {
    std::fprintf(stderr, "proctrail report: %zu processes, %zu failed, %zu losses -> %s\n",
                 rec->procs.size(),
                 static_cast<size_t>(std::count_if(rec->procs.begin(), rec->procs.end(),
                                                   [](const Process& p) {
                                                     return p.outcome == Outcome::Failure ||
                                                            p.outcome == Outcome::Killed;
                                                   })),
                 rec->losses.size(), output.c_str());
  }
  return 0;
}

}  // namespace proctrail::cli
