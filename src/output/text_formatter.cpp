// Text for people: fixed columns (time, event, pid) then details. Every untrusted string is a
// shell word (append_shell_word), so a command line can be pasted back into a shell and no
// byte of it can act on the terminal.
#include <fmt/format.h>
#include <time.h>

#include <iterator>

#include "output/escape.hpp"
#include "proctrail/format.hpp"

namespace proctrail {

namespace {

constexpr int kEventWidth = 8;
constexpr int kPidWidth = 7;

void append_command(std::string& out, const std::vector<std::string>& argv) {
  for (size_t i = 0; i < argv.size(); ++i) {
    if (i) out += ' ';
    append_shell_word(out, argv[i]);
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
    fmt::format_to(std::back_inserter(out), "{:<15}  {:<{}} {:>{}}  {}\n", "TIME", "EVENT",
                   kEventWidth, "PID", kPidWidth, "DETAILS");
  }

  void format(const Event& e, std::string& out) override {
    append_time(out, e.wall_ns);
    out += "  ";
    std::string_view type = event_type_name(e.type());
    fmt::format_to(std::back_inserter(out), "{:<{}} ", type, kEventWidth);
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
  void append_time(std::string& out, int64_t wall_ns) {
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

  static void thread_prefix(const Event& e, std::string& out) {
    if (e.tid != 0 && e.tid != e.pid) fmt::format_to(std::back_inserter(out), "thread {} ", e.tid);
  }

  static void exec_details(const ExecDetails& d, std::string& out) {
    if (d.argv_source == ArgvSource::Unavailable) {
      out += "<argv unavailable>";
      if (d.comm) {
        out += " comm=";
        append_shell_word(out, *d.comm);
      }
    } else {
      append_command(out, d.argv);
      if (d.argv.empty()) out += "<empty argv>";
      if (d.argv_truncated) {
        out += " <truncated";
        if (d.argv_bytes)
          fmt::format_to(std::back_inserter(out), ", {} bytes in all", *d.argv_bytes);
        out += '>';
      }
    }
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
    if (d.exe && (d.argv.empty() || d.argv[0] != *d.exe)) {
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
          }
        },
        e.data);
  }

  TextOptions options_;
  int64_t cached_sec_ = -1;
  std::string cached_;
};

}  // namespace

std::unique_ptr<Formatter> make_text_formatter(TextOptions options) {
  return std::make_unique<TextFormatter>(options);
}

}  // namespace proctrail
