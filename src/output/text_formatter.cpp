// Text for people: fixed columns (time, event, pid) then details. Every untrusted string is a
// shell word (append_shell_word), so a command line can be pasted back into a shell and no
// byte of it can act on the terminal.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <time.h>

#include <iterator>
#include <unordered_map>

#include "output/escape.hpp"
#include "proctrail/format.hpp"

namespace proctrail {

namespace {

constexpr int kEventWidth = 8;
constexpr int kPidWidth = 7;

// ANSI colours: our own bytes, around text that is already escaped.
constexpr std::string_view kRed = "\033[31m", kGreen = "\033[32m", kYellow = "\033[1;33m",
                           kBold = "\033[1m", kReset = "\033[0m";

std::string_view column_name(EventType t) {
  return describe(t).column;
}

// How an event reads at a glance: failures red, losses yellow, execs green.
std::string_view colour_of(const Event& e) {
  switch (e.type()) {
    case EventType::Exec:
      return kGreen;
    case EventType::ExecFailed:
      return kRed;
    case EventType::Lost:
      return kYellow;
    case EventType::Exit: {
      const auto& x = std::get<ExitData>(e.data);
      return x.ends_process(e) && x.status(e) != 0 ? kRed : std::string_view{};
    }
    default:
      return {};
  }
}

void append_command(std::string& out, const Strings& argv) {
  bool first = true;
  for (std::string_view a : argv) {
    if (!first) out += ' ';
    first = false;
    append_shell_word(out, a);
  }
}

void append_exit_status(std::string& out, uint32_t raw) {
  ExitStatus s = decode_exit_status(raw);
  if (s.exited) {
    fmt::format_to(std::back_inserter(out), "exit {}", s.code);
  } else {
    out += "killed by ";
    out += signal_name(s.signal);
    if (s.core_dumped) out += " (core dumped)";
  }
}

class TextFormatter final : public Formatter {
 public:
  explicit TextFormatter(TextOptions o) : options_(o) {}

  void header(std::string& out) override {
    if (options_.tree) {
      fmt::format_to(std::back_inserter(out), "{:<15}  {}\n", "TIME", "PID COMMAND / EXIT");
      return;
    }
    fmt::format_to(std::back_inserter(out), "{:<15}  {:<{}} {:>{}}  {}\n", "TIME", "EVENT",
                   kEventWidth, "PID", kPidWidth, "DETAILS");
  }

  void format(const Event& e, std::string& out) override {
    if (!base_ns_) base_ns_ = e.ts_ns;
    if (options_.tree) {
      tree_line(e, out);
      return;
    }
    if (options_.message) {
      out += column_name(e.type());
      out += ' ';
      if (e.pid > 0) {
        fmt::format_to(std::back_inserter(out), "{}", e.pid);
      } else {
        out += '-';
      }
      out += "  ";
      details(e, out);
      out += '\n';
      return;
    }
    append_time(out, e);
    out += "  ";
    std::string_view colour = options_.color ? colour_of(e) : std::string_view{};
    out += colour;
    fmt::format_to(std::back_inserter(out), "{:<{}}", column_name(e.type()), kEventWidth);
    if (!colour.empty()) out += kReset;
    out += ' ';
    if (e.pid > 0) {
      fmt::format_to(std::back_inserter(out), "{:>{}}", e.pid, kPidWidth);
    } else {
      fmt::format_to(std::back_inserter(out), "{:>{}}", "-", kPidWidth);
    }
    out += "  ";
    details(e, out);
    out += '\n';
  }

 private:
  void append_time(std::string& out, const Event& e) {
    if (options_.relative) {
      const uint64_t d = e.ts_ns >= *base_ns_ ? e.ts_ns - *base_ns_ : 0;
      fmt::format_to(std::back_inserter(out), "{:>8}.{:06}", d / 1'000'000'000,
                     (d % 1'000'000'000) / 1000);
      return;
    }
    const int64_t wall_ns = e.wall_ns;
    int64_t sec = wall_ns >= 0 ? wall_ns / 1'000'000'000 : 0;
    if (sec != cached_sec_) {
      time_t t = sec;
      struct tm tm {};
      if (options_.utc) {
        gmtime_r(&t, &tm);
      } else {
        localtime_r(&t, &tm);
      }
      char buf[16];
      strftime(buf, sizeof buf, "%H:%M:%S", &tm);
      cached_ = buf;
      cached_sec_ = sec;
    }
    out += cached_;
    fmt::format_to(std::back_inserter(out), ".{:06}", (wall_ns % 1'000'000'000) / 1000);
  }

  // Tree view: where each process sits. A process is indented one step under the nearest
  // ancestor that printed a line (an exec); forks that never exec add no step. Nodes are keyed
  // by the process (pid and start), never by pid alone, and forgotten at the process's end.
  struct Node {
    int level = 0;
    bool shown = false;  // its exec line was printed
    bool execd = false;  // it exec'd: it has a line of its own
    ProcessKey parent;   // the process that forked it
    // With failures only: what its exec line will say, printed when a failure below needs it.
    uint64_t exec_ts = 0;
    int64_t exec_wall = 0;
    std::shared_ptr<const ExecDetails> image;
  };

  Node& node_of(const ProcessKey& process, const ProcessKey& parent) {
    auto it = nodes_.find(process);
    if (it != nodes_.end()) return it->second;
    Node n;
    if (parent.pid > 0) {
      n.parent = parent;
      if (auto p = nodes_.find(parent); p != nodes_.end()) {
        n.level = p->second.level + (p->second.execd ? 1 : 0);
      }
    }
    return nodes_[process] = n;
  }

  void tree_prefix(const Event& e, int level, std::string& out) {
    append_time(out, e);
    out += "  ";
    out.append(static_cast<size_t>(level) * 2, ' ');
  }

  void exec_line(uint64_t ts, int64_t wall, int level, int32_t pid, const ExecDetails* d,
                 std::string& out) {
    Event at;
    at.ts_ns = ts;
    at.wall_ns = wall;
    tree_prefix(at, level, out);
    if (options_.color) out += kBold;
    fmt::format_to(std::back_inserter(out), "{}", pid);
    if (options_.color) out += kReset;
    out += ' ';
    if (d) {
      exec_command(*d, out, false);
    } else {
      out += "<not enriched>";
    }
    out += '\n';
  }

  // With failures only: the exec lines of the process and its ancestors not printed yet, from
  // the oldest down, so a failure shows under the commands that led to it.
  void print_chain(const ProcessKey& process, std::string& out) {
    std::vector<ProcessKey> chain;
    for (ProcessKey p = process; p.pid > 0 && chain.size() < 64;) {
      auto it = nodes_.find(p);
      if (it == nodes_.end()) break;
      if (it->second.execd && !it->second.shown) chain.push_back(p);
      p = it->second.parent;
    }
    for (auto p = chain.rbegin(); p != chain.rend(); ++p) {
      Node& n = nodes_[*p];
      exec_line(n.exec_ts, n.exec_wall, n.level, p->pid, n.image.get(), out);
      n.shown = true;
    }
  }

  void tree_line(const Event& e, std::string& out) {
    auto it = std::back_inserter(out);
    std::string_view colour = options_.color ? colour_of(e) : std::string_view{};
    const bool failures_only = options_.tree_failures_only;
    if (const auto* f = std::get_if<ForkData>(&e.data)) {
      if (!f->is_thread()) {
        Node parent = node_of(e.parent_process(), {});
        Node child;
        child.level = parent.level + (parent.execd ? 1 : 0);
        child.parent = e.parent_process();
        nodes_[e.process()] = child;
      }
      return;
    }
    if (const auto* x = std::get_if<ExecData>(&e.data)) {
      Node& n = node_of(e.process(), e.parent_process());
      n.execd = true;
      if (failures_only) {
        n.exec_ts = e.ts_ns;
        n.exec_wall = e.wall_ns;
        n.image = x->details;
        return;
      }
      n.shown = true;
      exec_line(e.ts_ns, e.wall_ns, n.level, e.pid, x->details.get(), out);
      return;
    }
    if (const auto* x = std::get_if<ExitData>(&e.data)) {
      if (!x->ends_process(e)) return;
      const bool failed = x->status(e) != 0;
      auto n = nodes_.find(e.process());
      if (failures_only && failed) print_chain(e.process(), out);
      const bool known = n != nodes_.end();
      const bool execd = known && n->second.execd;
      const bool shown = known && n->second.shown;
      const int level = known ? n->second.level : 0;
      const int32_t parent = known ? n->second.parent.pid : 0;
      if (known) nodes_.erase(n);
      // A child that never exec'd has no line of its own; when it fails it is drawn all the
      // same (a fork whose exec failed, exit 127): it is why its parent failed.
      const bool draw = shown || (known && !execd && failed);
      if (!draw || (failures_only && !failed)) return;
      tree_prefix(e, level, out);
      fmt::format_to(it, "{} ", e.pid);
      if (!execd) {
        out += "(forked from ";
        fmt::format_to(it, "{}", parent);
        out += ", no exec) ";
      }
      out += colour;
      append_exit_status(out, x->status(e));
      if (!colour.empty()) out += kReset;
      if (x->details && x->details->duration_ns) {
        out += x->details->duration_approximate ? " after ~" : " after ";
        out += human_duration(*x->details->duration_ns);
      }
      out += '\n';
      return;
    }
    if (const auto* x = std::get_if<ExecFailedData>(&e.data)) {
      Node& n = node_of(e.process(), x->ppid ? e.parent_process() : ProcessKey{});
      if (failures_only) print_chain(e.process(), out);
      tree_prefix(e, n.level + (n.execd ? 1 : 0), out);
      fmt::format_to(it, "{} ", e.pid);
      exec_failed(*x, out, colour);
      out += '\n';
      return;
    }
    switch (e.type()) {
      case EventType::Lost:
      case EventType::Resync:
      case EventType::Start:
      case EventType::Summary:
      case EventType::Unknown:
        tree_prefix(e, 0, out);
        out += colour;
        out += "--";
        if (!colour.empty()) out += kReset;
        out += ' ';
        details(e, out);
        out += '\n';
        return;
      default:
        return;  // uid, gid, comm ... are not part of the tree
    }
  }

  // `colour` goes around our own words only, never around the path or argv.
  static void exec_failed(const ExecFailedData& d, std::string& out, std::string_view colour = {}) {
    out += colour;
    out += "exec failed: ";
    out += errno_name(d.error);
    if (!colour.empty()) out += kReset;
    out += ' ';
    append_shell_word(out, d.filename);
    if (!d.argv.empty()) {
      out += "  argv: ";
      append_command(out, d.argv);
      if (d.argv_truncated) out += " <truncated>";
    }
    if (!d.tried.empty()) {
      out += "  tried first:";
      for (const auto& t : d.tried) {
        out += ' ';
        append_shell_word(out, t);
      }
    }
  }

  static void summary(const SummaryData& d, std::string& out) {
    auto it = std::back_inserter(out);
    // A figure the stream could not show is said to be unwatched, never 0.
    std::vector<std::string> parts;
    auto figure = [&](const auto& value, std::string_view what) {
      parts.push_back(value ? fmt::format("{} {}", *value, what)
                            : fmt::format("{} not watched", what));
    };
    figure(d.processes, "processes");
    figure(d.execs, "execs");
    figure(d.exits, "ended");
    if (d.exits_started_before && *d.exits_started_before > 0) {
      parts.back() += fmt::format(" ({} of them started before)", *d.exits_started_before);
    }
    figure(d.failed, "failed");
    figure(d.exec_failed, "failed execs");
    if (d.lost) parts.push_back(fmt::format("{} events lost", d.lost));
    if (d.max_depth) {
      parts.push_back(fmt::format("deepest chain {}", *d.max_depth));
    } else {
      parts.emplace_back("chain depth not watched");
    }
    fmt::format_to(it, "{} over {}: {}", d.final ? "summary" : "summary so far",
                   human_duration(d.elapsed_ns), fmt::join(parts, ", "));
    if (d.approximate) out += "; more commands ran than the summary keeps: counts are upper bounds";
    auto table = [&](std::string_view title, const std::vector<SummaryData::Command>& list,
                     bool time) {
      if (list.empty()) return;
      fmt::format_to(it, "\n    {}:", title);
      for (const auto& c : list) {
        out += "\n      ";
        if (time) {
          fmt::format_to(it, "{:>12}  {:>6} ended  ", human_duration(c.total_ns), c.ended);
        } else {
          fmt::format_to(it, "{:>6}x  ", c.count);
        }
        append_shell_word(out, c.name);
      }
    };
    table("most run", d.by_count, false);
    table("most run time (of those that ended)", d.by_time, true);
    if (!d.slowest.empty()) {
      out += "\n    longest lived:";
      for (const auto& p : d.slowest) {
        fmt::format_to(it, "\n      {:>12}  pid {:<7} ", human_duration(p.duration_ns), p.pid);
        append_shell_word(out, p.name);
      }
    }
    if (!d.failures.empty()) {
      out += "\n    failures:";
      for (const auto& f : d.failures) {
        fmt::format_to(it, "\n      pid {:<7} ", f.pid);
        append_shell_word(out, f.name);
        out += "  ";
        if (f.exec_error != 0) {
          out += "exec failed: ";
          out += errno_name(f.exec_error);
        } else {
          append_exit_status(out, f.raw_status);
        }
      }
      if (d.more_failures) fmt::format_to(it, "\n      and {} more", d.more_failures);
    }
    for (const auto& x : d.exporters) {
      fmt::format_to(it,
                     "\n    {}: produced {}, delivered {}, sent again {}, failed {}, dropped {}, "
                     "waiting {}",
                     x.name, x.produced, x.delivered, x.sent_again, x.failed, x.dropped, x.waiting);
    }
  }

  static void thread_prefix(const Event& e, std::string& out) {
    if (e.tid != 0 && e.tid != e.pid) fmt::format_to(std::back_inserter(out), "thread {} ", e.tid);
  }

  // The exec's command line, or why there is none; `sizes`: the real size of a cut one.
  static void exec_command(const ExecDetails& d, std::string& out, bool sizes) {
    if (d.argv_source == ArgvSource::Unavailable) {
      out += "<argv unavailable>";
      if (d.comm) {
        out += " comm=";
        append_shell_word(out, *d.comm);
      }
      return;
    }
    append_command(out, d.argv);
    if (d.argv.empty()) out += "<empty argv>";
    if (d.argv_truncated) {
      out += " <truncated";
      if (sizes && d.argv_bytes) {
        fmt::format_to(std::back_inserter(out), ", {} bytes in all", *d.argv_bytes);
      }
      out += '>';
    }
  }

  static void exec_details(const ExecDetails& d, std::string& out) {
    exec_command(d, out, true);
    std::string meta;
    auto add = [&meta](std::string_view k) {
      if (!meta.empty()) meta += ' ';
      meta += k;
    };
    if (d.ppid) {
      add("ppid=");
      fmt::format_to(std::back_inserter(meta), "{}", *d.ppid);
    }
    if (d.exec_tid) {
      add("from-thread=");
      fmt::format_to(std::back_inserter(meta), "{}", *d.exec_tid);
    }
    if (d.creds) {
      add("uid=");
      fmt::format_to(std::back_inserter(meta), "{}", d.creds->uid);
      if (d.user) {
        meta += '(';
        append_shell_word(meta, *d.user);
        meta += ')';
      }
      if (d.creds->euid != d.creds->uid)
        fmt::format_to(std::back_inserter(meta), " euid={}", d.creds->euid);
    }
    if (d.cwd) {
      add("cwd=");
      append_shell_word(meta, *d.cwd);
    }
    if (d.exe && (d.argv.empty() || d.argv.front() != *d.exe)) {
      add("exe=");
      append_shell_word(meta, *d.exe);
    }
    if (d.container) {
      add("container=");
      append_shell_word(meta, d.container->runtime);
      meta += ':';
      meta += std::string_view(d.container->id).substr(0, 12);
    }
    if (!d.ancestry.empty()) {
      add("ancestry=");
      for (size_t i = 0; i < d.ancestry.size(); ++i) {
        if (i) meta += '<';
        append_shell_word(meta, d.ancestry[i].comm);
        fmt::format_to(std::back_inserter(meta), "({})", d.ancestry[i].pid);
      }
    }
    if (!d.note.empty()) {
      add("note=");
      append_shell_word(meta, d.note);
    }
    if (d.env) {
      add("env:");
      for (const auto& v : *d.env) {
        meta += ' ';
        append_shell_word(meta, v);
      }
    }
    if (!meta.empty()) {
      out += "  [";
      out += meta;
      out += ']';
    }
  }

  static void details(const Event& e, std::string& out) {
    auto it = std::back_inserter(out);
    std::visit(
        [&](const auto& d) {
          using T = std::decay_t<decltype(d)>;
          if constexpr (std::is_same_v<T, AckData>) {
            if (d.error == 0) {
              out += "subscribed";
            } else {
              fmt::format_to(it, "subscription failed: error {}", d.error);
            }
          } else if constexpr (std::is_same_v<T, ForkData>) {
            if (d.is_thread()) {
              fmt::format_to(it, "thread {}", d.child_tid);
            } else {
              fmt::format_to(it, "child {}", d.child_pid);
            }
            if (!d.is_thread() && d.parent_tid != d.parent_pid) {
              fmt::format_to(it, " (from thread {})", d.parent_tid);
            }
          } else if constexpr (std::is_same_v<T, ExecData>) {
            thread_prefix(e, out);
            if (d.details) {
              exec_details(*d.details, out);
            } else {
              out += "<not enriched>";
            }
          } else if constexpr (std::is_same_v<T, UidData>) {
            thread_prefix(e, out);
            fmt::format_to(it, "ruid={} euid={}", d.ruid, d.euid);
          } else if constexpr (std::is_same_v<T, GidData>) {
            thread_prefix(e, out);
            fmt::format_to(it, "rgid={} egid={}", d.rgid, d.egid);
          } else if constexpr (std::is_same_v<T, SidData>) {
            thread_prefix(e, out);
            out += "new session";
          } else if constexpr (std::is_same_v<T, PtraceData>) {
            thread_prefix(e, out);
            if (d.tracer_pid != 0) {
              fmt::format_to(it, "traced by {}", d.tracer_pid);
            } else {
              out += "tracer detached";
            }
          } else if constexpr (std::is_same_v<T, CommData>) {
            thread_prefix(e, out);
            out += "renamed to ";
            append_shell_word(out, d.comm);
          } else if constexpr (std::is_same_v<T, CoredumpData>) {
            thread_prefix(e, out);
            fmt::format_to(it, "dumping core (parent {})", d.parent_pid);
          } else if constexpr (std::is_same_v<T, ExitData>) {
            const bool ends = d.ends_process(e);
            if (!ends) fmt::format_to(it, "thread {} ", e.tid);
            if (d.details && ends) {
              if (const auto& argv = d.details->argv(); !argv.empty()) {
                append_command(out, argv);
                if (d.details->argv_truncated()) out += " <truncated>";
                out += "  ";
              } else if (d.details->comm) {
                append_shell_word(out, *d.details->comm);
                out += "  ";
              }
            }
            append_exit_status(out, d.status(e));
            if (d.details && d.details->duration_ns) {
              out += d.details->duration_approximate ? "  after ~" : "  after ";
              out += human_duration(*d.details->duration_ns);
            }
          } else if constexpr (std::is_same_v<T, UnknownData>) {
            fmt::format_to(it, "event type {:#x} not known to this build", d.what);
          } else if constexpr (std::is_same_v<T, LostData>) {
            if (d.count) {
              fmt::format_to(it, "{} events lost: ", *d.count);
            } else {
              out += "events lost (count unknown): ";
            }
            append_shell_word(out, d.reason);
          } else if constexpr (std::is_same_v<T, ResyncData>) {
            fmt::format_to(it, "process table rebuilt from /proc: {} added, {} removed, {} now",
                           d.added, d.removed, d.table_size);
          } else if constexpr (std::is_same_v<T, StartData>) {
            out += "backend ";
            append_shell_word(out, d.backend);
            out += ": ";
            out += d.reason;  // our own sentence
            auto list = [&](std::string_view what, const std::vector<std::string>& names) {
              if (names.empty()) return;
              out += what;
              for (size_t i = 0; i < names.size(); ++i) {
                if (i) out += ',';
                append_shell_word(out, names[i]);
              }
            };
            list("; missing events: ", d.missing_events);
            list("; missing fields: ", d.missing_fields);
            if (d.scope == "own") out += "; only your own processes are shown";
          } else if constexpr (std::is_same_v<T, ExecFailedData>) {
            exec_failed(d, out);
            fmt::format_to(it, "  [ppid={}", d.ppid);
            if (d.creds) {
              fmt::format_to(it, " uid={}", d.creds->uid);
              if (d.user) {
                out += '(';
                append_shell_word(out, *d.user);
                out += ')';
              }
            }
            out += " comm=";
            append_shell_word(out, d.comm);
            out += ']';
          } else if constexpr (std::is_same_v<T, SummaryData>) {
            summary(d, out);
          }
        },
        e.data);
  }

  TextOptions options_;
  std::optional<uint64_t> base_ns_;
  std::unordered_map<ProcessKey, Node, ProcessKeyHash> nodes_;
  int64_t cached_sec_ = -1;
  std::string cached_;
};

}  // namespace

std::unique_ptr<Formatter> make_text_formatter(TextOptions options) {
  return std::make_unique<TextFormatter>(options);
}

}  // namespace proctrail
