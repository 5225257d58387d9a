#include "options.hpp"

#include <CLI/CLI.hpp>

#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <tuple>
#include <algorithm>
#include <string_view>
#include <vector>
#include <iostream>

#include "output/syslog.hpp"
#include "sink/kafka_sink.hpp"
#include "proctrail/sink.hpp"
#include "util/sched.hpp"

namespace proctrail::cli {

namespace {

constexpr const char* kFooter =
    R"(Run mode: proctrail [OPTIONS] -- COMMAND [ARGS...] starts COMMAND once capture is ready,
  shows only it and its descendants, and exits with its status (128+N when a signal N
  killed it). Its records go to stderr (as strace's do), or where -o says, so that COMMAND's
  own output stays apart; to pipe only records, e.g. to jq:
    proctrail -f json -o /dev/fd/3 -- make 3>&1 >&2 | jq -c 'select(.type == "exit")'
 SIGINT and SIGTERM sent to proctrail are passed on to COMMAND. Started with
  sudo, COMMAND runs as the user who ran sudo (SUDO_UID, SUDO_GID, SUDO_USER); choose
  another with --user-of-command (root keeps root).

Backends:
  auto     the eBPF backend when it loads here, else netlink (the default)
  bpf      eBPF programs on BTF tracepoints: argv is read in the kernel at exec, so it is
           right even for processes that exit at once or rewrite their argv
  netlink  the kernel's proc connector; argv and the rest are read from /proc as each
           event arrives, checked against pid reuse and later execs, and marked
           "unavailable" when they could not be read for sure

Events (-e): fork, exec, exit, nonzero-exit (exits with a non-zero status only), uid, gid,
  sid, ptrace, comm, coredump, exec-failed (eBPF only; not part of "all", as watching for
  it costs every system call a little), all. Lost, resync and start records are always
  shown. Threads' ends are shown with their births, that is with fork.

Filters (-p, -u, --comm, --argv, --exe, --cgroup, --container, --failed) combine: an event
  is shown when all of them match. User, name, command line, exe, cgroup and container are
  those of the event's process: for an exec its own, for an exit the program it ran.

Priority (--priority): a process can exit microseconds after exec. proctrail reads /proc
  for an exec on a thread pinned to the CPU the exec happened on, at SCHED_FIFO priority 10,
  so it runs before the new program does. Where real-time scheduling is not permitted it
  falls back to nice -10, then to normal priority (-v says which). "nice" and "normal" cost
  the same per exec but miss more short-lived processes.

Examples:
  proctrail                          every event, as aligned text
  proctrail -e exec,exit             what runs and how it ends
  proctrail --tree -- make           what a build runs, as a tree, with make's exit status
  proctrail --summary -- ./install.sh   what an installer ran, with totals at the end
  proctrail -p 1234                  what process 1234 and its descendants do from now on
  proctrail -u www-data -e exec      what runs as www-data
  proctrail --container 3f2a -e exec what runs in a container
  proctrail --argv 'curl|wget'       who downloads what
  proctrail --failed                 only failures: non-zero exits, signals, failed execs
  proctrail -D 60 --summary -e fork,exec,exit   a minute, summed up
  proctrail -f json -o trail.jsonl --rotate-size 100M   JSON lines into rotated files
  proctrail --record trail.db        keep every event in SQLite as well (docs/record.md)
  proctrail report trail.db -o trail.html   that recording as a timeline (or -o x.pftrace)
  proctrail -e exec --ancestry       each command with its chain of parents
  proctrail -f seed                  the output of the classic proc connector sample
  proctrail -v --stats               say what was set up and print totals at exit

Signals: SIGINT, SIGTERM stop (in run mode: passed on to COMMAND); SIGHUP reopens the output
  file (log rotation); SIGUSR1 writes a summary so far (with --summary).

Exit status: 0 on success (also after SIGINT/SIGTERM, or when the reader of the output goes
  away), 1 when monitoring fails, 2 for a bad command line; in run mode, COMMAND's status.
  See proctrail(8).)";

constexpr const char* kReplayFooter =
    R"(The recording's own start records, losses and resyncs are part of what is replayed; its
  exec_ids are kept as they were. Filters, --tree, --summary, -e and the formats work as
  they do live: with the same options, a replay prints what the live run printed.

Examples:
  proctrail --record trail.db                   record (beside the live view)
  proctrail replay trail.db --tree              the recording as a tree
  proctrail replay trail.db --since 2026-12-03T02:00:00Z --until 2026-12-03T02:30:00Z
  proctrail replay trail.db --since=-10m        the last ten minutes of it
  proctrail -f json -o trail.jsonl              record as JSON lines (or --also-json)
  proctrail replay trail.jsonl --failed         only what failed
  proctrail replay trail.jsonl -u alice -e exec what alice ran
  proctrail -f json | proctrail replay - --summary   a live stream, summed up at its end)";

std::optional<size_t> parse_size(const std::string& text) {
  size_t value = 0;
  const char* end = text.data() + text.size();
  auto r = std::from_chars(text.data(), end, value);
  if (r.ec != std::errc() || r.ptr == text.data()) return std::nullopt;
  std::string_view suffix(r.ptr, static_cast<size_t>(end - r.ptr));
  size_t mult = 1;
  if (suffix == "" || suffix == "B") {
    mult = 1;
  } else if (suffix == "K" || suffix == "KiB" || suffix == "k") {
    mult = size_t{1} << 10;
  } else if (suffix == "M" || suffix == "MiB") {
    mult = size_t{1} << 20;
  } else if (suffix == "G" || suffix == "GiB") {
    mult = size_t{1} << 30;
  } else {
    return std::nullopt;
  }
  if (value > SIZE_MAX / mult) return std::nullopt;
  return value * mult;
}

// A user name or number; the error names the bad word.
std::optional<passwd> lookup_user(const std::string& text, std::string* name) {
  passwd* pw = nullptr;
  uint32_t uid = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), uid);
  if (r.ec == std::errc() && r.ptr == text.data() + text.size()) {
    pw = getpwuid(uid);
    if (!pw) {
      passwd p{};
      p.pw_uid = uid;
      p.pw_gid = uid;
      name->clear();
      return p;
    }
  } else {
    pw = getpwnam(text.c_str());
    if (!pw) return std::nullopt;
  }
  *name = pw->pw_name;
  return *pw;
}

std::optional<std::vector<int32_t>> parse_pids(const std::string& text) {
  std::vector<int32_t> pids;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    int32_t pid = 0;
    auto r = std::from_chars(text.data() + pos, text.data() + comma, pid);
    if (r.ec != std::errc() || r.ptr != text.data() + comma || pid <= 0) return std::nullopt;
    pids.push_back(pid);
    pos = comma + 1;
  }
  return pids;
}

// --help's usage line names the run mode too.
class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_usage(const CLI::App*, std::string) const override {
    return "Usage: proctrail [OPTIONS] [-- COMMAND [ARGS...]]\n";
  }
};

int usage_error(const std::string& message) {
  std::fprintf(stderr, "proctrail: error: %s (see --help)\n", in_cli_words(message).c_str());
  return 2;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// What went wrong with words the parser did not take, said the way a user can act on: a
// command given without "--" before it, or a mistyped option and the closest one there is.
std::string explain_extras(const CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string word = argv[i];
    if (word.rfind("--", 0) == 0) {
      const std::string name = word.substr(0, word.find('='));
      if (app.get_option_no_throw(name)) continue;
      std::string best;
      size_t best_distance = 3;  // suggest only what is close
      for (const CLI::Option* o : app.get_options()) {
        for (const std::string& l : o->get_lnames()) {
          const std::string candidate = "--" + l;
          const size_t d = edit_distance(name, candidate);
          const bool prefix = candidate.rfind(name, 0) == 0;
          if (d < best_distance || (prefix && best.empty())) {
            best = candidate;
            best_distance = prefix ? 0 : d;
          }
        }
      }
      if (name == "--since" || name == "--until") {
        return name + " applies to a recording: proctrail replay FILE " + name + " TIME";
      }
      return "unknown option '" + name + "'" + (best.empty() ? "" : "; did you mean " + best + "?");
    }
    if (word.size() > 1 && word[0] == '-') continue;  // a short option, or its value
  }
  // A word that is not an option: most likely a command meant to be run.
  for (int i = 1; i < argc; ++i) {
    std::string word = argv[i];
    if (word.empty() || word[0] == '-') continue;
    const std::string prev = argv[i - 1];
    const CLI::Option* takes =
        prev.size() > 1 && prev[0] == '-' && prev.find('=') == std::string::npos
            ? app.get_option_no_throw(prev)
            : nullptr;
    if (takes && takes->get_type_size() != 0) continue;  // that option's value
    return "unexpected argument '" + word +
           "': to run a command, put it after --, as in "
           "proctrail [OPTIONS] -- " +
           word + " ...";
  }
  return "";
}

}  // namespace

// A time for --since and --until, as CLOCK_REALTIME nanoseconds: -10m (30s, 2h, 1d) before now, RFC
// 3339 (2026-12-03T17:48:54Z, with a fraction of a second and a Z or +HH:MM zone as proctrail
// writes it), a 'T' or a space between date and time, seconds optional, no zone for local time (as
// journalctl reads it), or a date alone (its midnight, local).
std::optional<int64_t> parse_time(const std::string& text) {
  // Relative: -30s, -10m, -2h, -1d before now.
  if (text.size() >= 3 && text[0] == '-' && text.size() <= 12) {
    int64_t amount = 0;
    for (size_t i = 1; i + 1 < text.size(); ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      amount = amount * 10 + (text[i] - '0');
    }
    int64_t unit_s = 0;
    switch (text.back()) {
      case 's':
        unit_s = 1;
        break;
      case 'm':
        unit_s = 60;
        break;
      case 'h':
        unit_s = 3600;
        break;
      case 'd':
        unit_s = 86400;
        break;
      default:
        return std::nullopt;
    }
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    return (static_cast<int64_t>(now.tv_sec) - amount * unit_s) * 1'000'000'000 + now.tv_nsec;
  }
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, used = 0;
  const char* s = text.c_str();
  if (std::sscanf(s, "%4d-%2d-%2d%n", &year, &month, &day, &used) != 3 || used != 10) {
    return std::nullopt;
  }
  std::string_view rest(s + used);
  int64_t fraction_ns = 0;
  if (!rest.empty()) {
    if (rest[0] != 'T' && rest[0] != ' ') return std::nullopt;
    int n = 0;
    if (std::sscanf(rest.data() + 1, "%2d:%2d%n", &hour, &minute, &n) != 2 || n != 5) {
      return std::nullopt;
    }
    rest.remove_prefix(1 + static_cast<size_t>(n));
    if (!rest.empty() && rest[0] == ':') {  // seconds may be left out, as journalctl allows
      if (std::sscanf(rest.data() + 1, "%2d%n", &second, &n) != 1 || n != 2) return std::nullopt;
      rest.remove_prefix(3);
    }
    if (!rest.empty() && rest[0] == '.') {
      rest.remove_prefix(1);
      int digits = 0;
      while (!rest.empty() && rest[0] >= '0' && rest[0] <= '9') {
        if (digits++ < 9) fraction_ns = fraction_ns * 10 + (rest[0] - '0');
        rest.remove_prefix(1);
      }
      if (digits == 0) return std::nullopt;
      for (; digits < 9; ++digits) fraction_ns *= 10;
    }
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  int64_t seconds = 0;
  if (rest.empty()) {
    tm.tm_isdst = -1;  // local time, with or without summer time as it was then
    const time_t t = std::mktime(&tm);
    if (t == static_cast<time_t>(-1)) return std::nullopt;
    seconds = t;
  } else {
    seconds = timegm(&tm);
    if (rest == "Z" || rest == "UTC" || rest == " UTC") {
      // UTC as it is
    } else if ((rest[0] == '+' || rest[0] == '-') && rest.size() == 6 && rest[3] == ':') {
      int zh = 0, zm = 0, n = 0;
      if (std::sscanf(rest.data() + 1, "%2d:%2d%n", &zh, &zm, &n) != 2 || n != 5 || zh > 23 ||
          zm > 59) {
        return std::nullopt;
      }
      const int64_t offset = (zh * 60 + zm) * 60;
      seconds -= rest[0] == '+' ? offset : -offset;
    } else {
      return std::nullopt;
    }
  }
  // Nanoseconds in 64 bits reach from 1677 to 2262, as the records' own times do.
  constexpr int64_t kLimit = INT64_MAX / 1'000'000'000 - 1;
  if (seconds > kLimit || seconds < -kLimit) return std::nullopt;
  return seconds * 1'000'000'000 + fraction_ns;
}

std::string in_cli_words(std::string message) {
  static const std::pair<std::string_view, std::string_view> kWords[] = {
      {"filter.comm_regex", "--comm"},
      {"filter.argv_regex", "--argv"},
      {"filter.exe_regex", "--exe"},
      {"filter.cgroup_prefix", "--cgroup"},
      {"filter.container_prefix", "--container"},
      {"filter.pids", "--pid"},
      {"filter.uid", "--user"},
      {"proc_fields", "--proc-fields"},
  };
  for (const auto& [field, option] : kWords) {
    for (size_t at = message.find(field); at != std::string::npos;
         at = message.find(field, at + option.size())) {
      message.replace(at, field.size(), option);
    }
  }
  return message;
}

ParseOutcome parse_options(int argc, char** argv) {
  CLI::App app{
      "proctrail: every process the machine starts, with its true command line, "
      "parent, user, cwd, container, exit status and lifetime."};
  app.footer(kFooter);
  auto help = std::make_shared<HelpFormatter>();
  help->column_width(36);
  app.formatter(help);

  Options o;
  std::string since_text, until_text;
  // "proctrail replay FILE [OPTIONS]": the same options, on a recording.
  if (argc > 1 && std::strcmp(argv[1], "replay") == 0) {
    o.replay = true;
    app.name("proctrail replay");
    app.description(
        "proctrail replay: a recording (a SQLite database from --record, or JSON lines that "
        "proctrail wrote with -f json, -o or --also-json; - for standard input) through the "
        "same filters, views and formats as live capture.");
    app.footer(kReplayFooter);
    app.add_option("FILE", o.replay_file, "the recording; - reads standard input")
        ->type_name("FILE")
        ->required();
    app.add_option("--since", since_text,
                   "only events at or after TIME: -10m (s, m, h, d before now), "
                   "2026-12-03T17:48:54Z (RFC 3339, as records say it), 2026-12-03 17:48:54 "
                   "(local time) or 2026-12-03")
        ->type_name("TIME");
    app.add_option("--until", until_text, "only events before TIME (the same forms)")
        ->type_name("TIME");
    --argc;
    ++argv;
  }
  // Everything after "--" is the command to run.
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) {
      for (int j = i + 1; j < argc; ++j) o.command.emplace_back(argv[j]);
      if (o.command.empty()) return {std::nullopt, usage_error("no COMMAND after '--'")};
      argc = i;
      break;
    }
  }
  std::string backend = "auto", format = "text", events = "all", priority = "realtime";
  std::string max_argv = "128K", rcvbuf = "32M", ringbuf = "2M";
  int exec_readers = -1;
  std::string proc_fields = "exe,cwd,creds,cgroup";
  bool version = false, no_header = false, env = false;

  std::string pids, user, comm, argv_re, exe, cgroup, container, color = "auto", duration;
  std::string command_user, rotate_size;
  unsigned rotate_keep = 5;
  bool failed = false, no_threads = false;
  app.add_option("-b,--backend", backend, "auto, bpf or netlink (default auto)")
      ->type_name("BACKEND");
  app.add_option("-f,--format", format, "text, json or seed (default text)")->type_name("FORMAT");
  app.add_option("-e,--events", events, "comma-separated event types to show (default all)")
      ->type_name("LIST");
  app.add_option("-o,--output", o.output, "write to FILE (created or truncated) instead of stdout")
      ->type_name("FILE");
  std::string record_max_size, record_max_age;
  app.add_option("--record-max-size", record_max_size,
                 "keep the recording under SIZE (at least 1M): beyond it the oldest events of "
                 "the user whose events weigh the most in it are pruned first, and the record "
                 "says so")
      ->type_name("SIZE");
  app.add_option("--record-max-age", record_max_age,
                 "prune the recording's events older than AGE (30s, 10m, 12h, 7d) as it goes")
      ->type_name("AGE");
  app.add_option("--also-json", o.also_json,
                 "also write every event to FILE as JSON lines, whatever the filters (a full "
                 "record beside a filtered view); its write errors are counted and said in it "
                 "when it recovers, and capture goes on")
      ->type_name("FILE");
  app.add_option("--record", o.record,
                 "also keep every event, whatever the filters, in the SQLite database FILE "
                 "(created for you alone, or a recording this run is added to; schema in "
                 "docs/record.md; query it with sqlite3, read it back with proctrail replay); "
                 "its write errors are counted and said in it when it recovers, and capture "
                 "goes on")
      ->type_name("FILE");
  app.add_flag("--journal", o.journal,
               "also send the events the filters pass to the systemd journal, one entry each "
               "with PROCTRAIL_* fields (docs/output.md; e.g. journalctl "
               "PROCTRAIL_EXE=/usr/bin/ssh); what journald could not take is counted and said "
               "in the journal, and capture goes on");
  app.add_option("--syslog", o.syslog,
                 "also send the events the filters pass to a syslog daemon as RFC 5424 messages "
                 "with structured data (docs/output.md): tcp:HOST[:PORT] (octet counting; "
                 "reconnects), udp:HOST[:PORT] or unix:PATH (a daemon that reads RFC 5424; "
                 "/dev/log is journald's on systemd machines: use --journal); what it could not "
                 "take is counted and said to it, and capture goes on")
      ->type_name("ADDRESS");
  std::string syslog_facility;
  app.add_option("--syslog-facility", syslog_facility,
                 "the facility of those messages (default authpriv, which syslog "
                 "configurations keep private: command lines can hold secrets)")
      ->type_name("NAME");
  app.add_option("--kafka", o.kafka_brokers,
                 "also send the events the filters pass to Kafka (docs/output.md): BROKERS is "
                 "host:port[,host:port...]; one JSON value per event (--schema picks the names), "
                 "keyed by host and process so a process's events stay in order in one "
                 "partition; delivered at least once, what waits beyond --kafka-buffer is "
                 "dropped and counted in a lost record, and capture goes on")
      ->type_name("BROKERS");
  app.add_option("--kafka-topic", o.kafka_topic, "with --kafka: the topic (it must exist)")
      ->type_name("TOPIC");
  std::vector<std::string> kafka_settings;
  app.add_option("-X", kafka_settings,
                 "with --kafka: a librdkafka setting, as kcat takes it (e.g. -X acks=all -X "
                 "security.protocol=ssl -X compression.type=zstd); repeatable")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  std::string kafka_buffer, kafka_spool_size;
  app.add_option("--kafka-buffer", kafka_buffer,
                 "with --kafka: events waiting for the brokers, at most SIZE in memory (default "
                 "64M); beyond it the oldest are dropped and counted")
      ->type_name("SIZE");
  app.add_option("--kafka-spool", o.kafka_spool,
                 "with --kafka: what is not delivered when proctrail stops is kept in FILE "
                 "(created for you alone) and sent first at the next start")
      ->type_name("FILE");
  app.add_option("--kafka-spool-size", kafka_spool_size,
                 "with --kafka-spool: at most SIZE (default 256M); beyond it the oldest are "
                 "dropped and counted")
      ->type_name("SIZE");
  app.add_option("-p,--pid", pids,
                 "only these processes and their descendants, also those born later")
      ->type_name("PID[,PID...]");
  app.add_option("-u,--user", user, "only processes of this user (real uid): a name or a number")
      ->type_name("USER");
  app.add_option("--comm", comm, "only processes whose name (comm) matches REGEX")
      ->type_name("REGEX");
  app.add_option("--argv", argv_re,
                 "only processes whose command line, arguments joined by spaces, matches REGEX")
      ->type_name("REGEX");
  app.add_option("--exe", exe, "only processes whose executable's path matches REGEX")
      ->type_name("REGEX");
  app.add_option("--cgroup", cgroup, "only processes in cgroups whose path starts with PATH")
      ->type_name("PATH");
  app.add_option("--container", container, "only processes in containers whose id starts with ID")
      ->type_name("ID");
  app.add_flag("--failed", failed,
               "only failures: exits with a non-zero status or a signal, and failed execs "
               "(eBPF backend)");
  app.add_flag("--no-threads", no_threads, "hide the births and ends of threads");
  bool raw_path_search = false;
  app.add_flag("--raw-path-search", raw_path_search,
               "failed execs: every try of a PATH search as it came (by default a search is one "
               "record listing what it tried, and none when a later try succeeded)");
  app.add_flag("--tree", o.tree,
               "text: each command indented under its parent, its exit status and run time "
               "on a line of its own");
  app.add_option("--color", color,
                 "colour the text: auto (on a terminal, unless NO_COLOR is set; the default), "
                 "always or never")
      ->type_name("WHEN");
  app.add_flag("--relative", o.relative,
               "text: seconds since the start instead of the time of day");
  app.add_flag("--summary", o.summary,
               "at the end (and on SIGUSR1): processes, failures, the commands run most and "
               "longest, the slowest processes");
  app.add_option("-D,--duration", duration, "stop after SECONDS")->type_name("SECONDS");
  app.add_option("--user-of-command", command_user,
                 "run COMMAND as USER (default: the user who ran sudo; root keeps root)")
      ->type_name("USER");
  app.add_option("--rotate-size", rotate_size,
                 "with -o: before FILE grows past SIZE, it becomes FILE.1 (FILE.1 becomes "
                 "FILE.2 ...) and a new FILE starts")
      ->type_name("SIZE");
  app.add_option("--rotate-keep", rotate_keep, "with --rotate-size: old files kept (default 5)")
      ->type_name("N");
  std::string user_rate;
  app.add_option("--user-rate-limit", user_rate,
                 "each user other than root may write SIZE a second on average (bursts of 4 "
                 "seconds' worth); beyond it their events are suppressed and counted in a lost "
                 "record, so no user can flood others' events out of a rotated record")
      ->type_name("SIZE");
  std::string scope;
  app.add_option("--scope", scope,
                 "whose processes to show: own (yours) or all (every user's: for root and "
                 "members of group " PROCTRAIL_GROUP "; their default)")
      ->type_name("WHOSE");
  app.add_flag("-v,--verbose", o.verbose,
               "say on stderr what was set up: backend, buffers, priority");
  app.add_flag("--stats", o.stats, "print totals to stderr at exit: received, lost, dropped");
  app.add_flag("--env", env, "add each exec's environment (it may hold secrets)");
  bool ancestry = false;
  app.add_flag("--ancestry", ancestry, "add each exec's chain of parent commands up to pid 1");
  app.add_option("--proc-fields", proc_fields,
                 "what to read from /proc at each exec besides argv, comm, ppid and start "
                 "time: exe, cwd, creds, cgroup, env, all or none (default exe,cwd,creds,cgroup)")
      ->type_name("LIST");
  app.add_option(
         "--max-argv-bytes", max_argv,
         "command line bytes kept per exec, longer ones are flagged truncated with their real "
         "size (default 128K; the eBPF backend keeps at most 256K-1)")
      ->type_name("SIZE");
  app.add_option("--priority", priority,
                 "scheduling of the threads that read /proc at exec: realtime (default), nice "
                 "or normal; see below")
      ->type_name("PRIORITY");
  app.add_option("--exec-readers", exec_readers,
                 "netlink: exec reader threads, one per CPU by default (at most 64); 0 reads on "
                 "the receive thread")
      ->type_name("N");
  app.add_option("--rcvbuf", rcvbuf, "netlink socket receive buffer SIZE (default 32M)")
      ->type_name("SIZE");
  app.add_option("--ringbuf", ringbuf,
                 "eBPF ring buffer SIZE, a power of two (default 2M; it is mapped twice, so it "
                 "counts twice in resident memory)")
      ->type_name("SIZE");
  app.add_flag("--no-header", no_header, "text format: no column header line");
  std::string schema;
  app.add_option(
         "--schema", schema,
         "-f json, --kafka, --journal and --syslog: proctrail (default; what replay reads back) "
         "or ecs (Elastic Common Schema names, the host in every record, for collectors)")
      ->type_name("SCHEMA");
  app.add_flag("--host-fields", o.host_fields,
               "JSON: every record carries host (hostname, machine id, boot id), not only the "
               "start record: for collectors that take records one by one");
  app.add_flag("--utc", o.utc, "text format: times in UTC instead of local time");
  app.add_flag("-V,--version", version, "print the version and exit");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return {std::nullopt, 0};
  } catch (const CLI::ExtrasError& e) {
    const std::string why = explain_extras(app, argc, argv);
    return {std::nullopt, usage_error(why.empty() ? std::string(e.what()) : why)};
  } catch (const CLI::ParseError& e) {
    return {std::nullopt, usage_error(e.what())};
  }
  if (version) {
    std::printf("proctrail %s\n", kVersion);
    return {std::nullopt, 0};
  }
  if (o.replay) {
    // What only capture on this machine can do has no meaning for a recording.
    for (const char* live :
         {"--backend", "--priority", "--exec-readers", "--rcvbuf", "--ringbuf", "--proc-fields",
          "--env", "--max-argv-bytes", "--scope", "--duration", "--user-of-command",
          "--raw-path-search", "--record", "--record-max-size", "--record-max-age"}) {
      if (app.count(live)) {
        return {std::nullopt,
                usage_error(std::string(live) + " applies to live capture: a recording has what "
                                                "was captured")};
      }
    }
    if (!o.command.empty()) {
      return {std::nullopt, usage_error("a COMMAND to run does not go with replay")};
    }
    for (auto [option, text, into] :
         {std::tuple{"--since", &since_text, &o.monitor.filter.since_wall_ns},
          std::tuple{"--until", &until_text, &o.monitor.filter.until_wall_ns}}) {
      if (!app.count(option)) continue;
      *into = parse_time(*text);
      if (!*into) {
        return {std::nullopt,
                usage_error(std::string(option) + ": '" + *text +
                            "' is not a time between 1678 and 2261 (e.g. -10m, "
                            "2026-12-03T17:48:54Z, 2026-12-03 17:48:54 for local time, or "
                            "2026-12-03)")};
      }
    }
    if (o.monitor.filter.since_wall_ns && o.monitor.filter.until_wall_ns &&
        *o.monitor.filter.since_wall_ns >= *o.monitor.filter.until_wall_ns) {
      return {std::nullopt, usage_error("--since must be before --until")};
    }
  }

  MonitorOptions& m = o.monitor;
  if (backend == "auto") {
    m.backend = Backend::Auto;
  } else if (backend == "bpf") {
    m.backend = Backend::Bpf;
  } else if (backend == "netlink") {
    m.backend = Backend::Netlink;
  } else {
    return {std::nullopt,
            usage_error("unknown backend '" + backend + "' (choose auto, bpf or netlink)")};
  }
  auto f = parse_output_format(format);
  if (!f)
    return {std::nullopt,
            usage_error("unknown format '" + format + "' (choose text, json or seed)")};
  o.format = *f;
  auto mask = EventMask::parse(events);
  if (!mask) return {std::nullopt, usage_error(mask.error().message)};
  m.filter.types = *mask;
  o.exec_failed_asked = mask->has(EventType::ExecFailed);
  o.rcvbuf_given = app.count("--rcvbuf") > 0;
  o.ringbuf_given = app.count("--ringbuf") > 0;
  if (scope == "own") {
    o.scope = Scope::Own;
  } else if (scope == "all") {
    o.scope = Scope::All;
  } else if (!scope.empty()) {
    return {std::nullopt, usage_error("unknown --scope '" + scope + "' (choose own or all)")};
  }
  auto p = parse_priority(priority);
  if (!p)
    return {std::nullopt,
            usage_error("unknown priority '" + priority + "' (choose realtime, nice or normal)")};
  m.priority = *p;
  if (exec_readers < -1 || exec_readers > 64) {
    return {std::nullopt, usage_error("--exec-readers wants a number from 0 to 64")};
  }
  if (exec_readers >= 0) m.exec_readers = static_cast<size_t>(exec_readers);
  auto argv_bytes = parse_size(max_argv);
  if (!argv_bytes || *argv_bytes < 16 || *argv_bytes > (size_t{64} << 20)) {
    return {std::nullopt,
            usage_error("--max-argv-bytes wants a size from 16 to 64M, like 128K, not '" +
                        max_argv + "'")};
  }
  m.max_argv_bytes = *argv_bytes;
  auto rb = parse_size(rcvbuf);
  if (!rb || *rb < 4096 || *rb > (size_t{1} << 30)) {
    return {std::nullopt, usage_error("--rcvbuf wants a size from 4K to 1G, not '" + rcvbuf + "'")};
  }
  m.receive_buffer_bytes = static_cast<int>(*rb);
  auto ring = parse_size(ringbuf);
  if (!ring || *ring < 4096 || *ring > (size_t{1} << 30) || (*ring & (*ring - 1)) != 0) {
    return {std::nullopt,
            usage_error("--ringbuf wants a power of two from 4K to 1G, not '" + ringbuf + "'")};
  }
  m.ring_buffer_bytes = *ring;
  o.header = !no_header;
  ProcFields& rf = m.proc_fields;
  rf.exe = rf.cwd = rf.creds = rf.cgroup = rf.env = false;
  for (size_t pos = 0; pos <= proc_fields.size();) {
    size_t comma = proc_fields.find(',', pos);
    if (comma == std::string::npos) comma = proc_fields.size();
    std::string field = proc_fields.substr(pos, comma - pos);
    pos = comma + 1;
    if (field == "exe") {
      rf.exe = true;
    } else if (field == "cwd") {
      rf.cwd = true;
    } else if (field == "creds") {
      rf.creds = true;
    } else if (field == "cgroup") {
      rf.cgroup = true;
    } else if (field == "env") {
      rf.env = true;
    } else if (field == "all") {
      rf.exe = rf.cwd = rf.creds = rf.cgroup = rf.env = true;
    } else if (field != "none") {
      return {std::nullopt, usage_error("unknown /proc field '" + field +
                                        "' (choose from exe, cwd, creds, cgroup, env, all, none)")};
    }
  }
  rf.env = rf.env || env;
  // "--proc-fields none" asks for nothing: the eBPF backend then reads no /proc at all.
  rf.explicit_fields =
      app.count("--proc-fields") > 0 && (rf.exe || rf.cwd || rf.creds || rf.cgroup || rf.env);
  m.ancestry = ancestry;
  // The seed format prints what the kernel said and nothing else: no table, no /proc reads,
  // no start record, and the subscription's ack as its first line.
  if (o.format == OutputFormat::Seed) {
    m.enrich = false;
    m.start_record = false;
    m.filter.acks = true;
  }
  m.version = kVersion;
  m.drop_caller_privileges = true;
  if (o.format != OutputFormat::Text && (o.utc || no_header)) {
    return {std::nullopt, usage_error("--utc and --no-header apply to the text format only")};
  }
  if (!schema.empty() && schema != "proctrail" && schema != "ecs") {
    return {std::nullopt, usage_error("unknown schema '" + schema + "' (choose proctrail or ecs)")};
  }
  o.ecs = schema == "ecs";
  if (o.ecs && o.format != OutputFormat::Json && o.kafka_brokers.empty() && !o.journal &&
      o.syslog.empty()) {
    return {std::nullopt, usage_error("--schema ecs applies to JSON output (-f json), --kafka, "
                                      "--journal and --syslog")};
  }
  if (o.host_fields && o.format != OutputFormat::Json && o.also_json.empty()) {
    return {std::nullopt,
            usage_error("--host-fields applies to JSON output (-f json or --also-json)")};
  }
  if (o.format != OutputFormat::Text && (o.tree || o.relative)) {
    return {std::nullopt, usage_error("--tree and --relative apply to the text format only")};
  }

  // Filters.
  EventFilter& flt = m.filter;
  if (!pids.empty()) {
    auto list = parse_pids(pids);
    if (!list) {
      return {std::nullopt,
              usage_error("--pid wants process ids separated by commas, not '" + pids + "'")};
    }
    if (!o.command.empty()) {
      return {std::nullopt, usage_error("--pid and a COMMAND to run do not go together")};
    }
    flt.pids = *list;
  }
  if (app.count("--user")) {
    if (user.empty()) return {std::nullopt, usage_error("--user wants a user name or number")};
    std::string name;
    auto pw = lookup_user(user, &name);
    if (!pw) return {std::nullopt, usage_error("--user: no user named '" + user + "'")};
    if (pw->pw_uid == static_cast<uid_t>(-1)) {
      return {std::nullopt, usage_error("--user: " + user + " is not a user id")};
    }
    flt.uid = pw->pw_uid;
  }
  if (app.count("--comm")) flt.comm_regex = comm;
  if (app.count("--argv")) flt.argv_regex = argv_re;
  if (app.count("--exe")) flt.exe_regex = exe;
  if (app.count("--cgroup")) {
    // Paths are as /proc/PID/cgroup gives them: absolute, below the hierarchy's root.
    if (cgroup.empty() || cgroup[0] != '/') {
      return {std::nullopt, usage_error("--cgroup wants a cgroup path starting with /, like "
                                        "/system.slice/cron.service, not '" +
                                        cgroup + "'")};
    }
    flt.cgroup_prefix = cgroup;
  }
  if (app.count("--container")) {
    if (container.empty() || container.find_first_not_of("0123456789abcdef") != std::string::npos) {
      return {std::nullopt, usage_error("--container wants the start of a container id in "
                                        "lower-case hex, not '" +
                                        container + "'")};
    }
    flt.container_prefix = container;
  }
  if (auto st = flt.validate(); !st) return {std::nullopt, usage_error(st.error().message)};
  flt.threads = !no_threads;
  m.fold_path_searches = !raw_path_search;
  if (failed && o.tree) {
    // The tree picks the failures itself and draws the commands that led to each.
    o.tree_failures_only = true;
    m.filter.types.add(EventType::ExecFailed);
  } else if (failed) {
    flt.failed = true;
    if (app.count("--events") == 0) {
      m.filter.types = *EventMask::parse("nonzero-exit,exec-failed");
    } else {
      m.filter.types.add(EventType::ExecFailed);
    }
  }
  if (o.tree) {
    // The tree is drawn from forks, execs and exits.
    m.filter.types = m.filter.types | *EventMask::parse("fork,exec,exit");
  }
  if (o.format == OutputFormat::Seed &&
      (flt.matches_processes() || !flt.pids.empty() || failed || o.summary || !o.command.empty())) {
    return {std::nullopt, usage_error("the seed format has no filters, summary or run mode: it "
                                      "prints what the kernel says")};
  }

  if (color == "always") {
    o.color = true;
  } else if (color == "never") {
    o.color = false;
  } else if (color == "auto") {
    const char* no_color = std::getenv("NO_COLOR");
    const char* term = std::getenv("TERM");
    const int records_fd = o.command.empty() ? STDOUT_FILENO : STDERR_FILENO;
    o.color = o.output.empty() && isatty(records_fd) && !(no_color && *no_color) &&
              !(term && std::strcmp(term, "dumb") == 0);
  } else {
    return {std::nullopt,
            usage_error("unknown --color '" + color + "' (choose auto, always or never)")};
  }
  if (o.format != OutputFormat::Text) o.color = false;

  if (app.count("--duration")) {
    // Decimal seconds only: strtod would also take hex ("0x10" is 16 s) and "inf".
    char* end = nullptr;
    errno = 0;
    double d = std::strtod(duration.c_str(), &end);
    const bool decimal =
        !duration.empty() && duration.find_first_not_of("0123456789.") == std::string::npos;
    if (!decimal || errno != 0 || end == duration.c_str() || *end != '\0' || !(d > 0) || d > 1e9) {
      return {std::nullopt,
              usage_error("--duration wants a number of seconds above 0, not '" + duration + "'")};
    }
    o.duration_s = d;
  }

  if (!rotate_size.empty()) {
    auto rs = parse_size(rotate_size);
    if (!rs || *rs < 4096) {
      return {std::nullopt,
              usage_error("--rotate-size wants a size of at least 4K, like 100M, not '" +
                          rotate_size + "'")};
    }
    if (o.output.empty()) {
      return {std::nullopt, usage_error("--rotate-size needs a file to rotate (-o FILE)")};
    }
    if (rotate_keep < 1 || rotate_keep > 1000) {
      return {std::nullopt, usage_error("--rotate-keep wants a number from 1 to 1000")};
    }
    o.rotation.max_bytes = *rs;
    o.rotation.keep = rotate_keep;
  } else if (app.count("--rotate-keep")) {
    return {std::nullopt, usage_error("--rotate-keep goes with --rotate-size")};
  }

  if (app.count("--record-max-size")) {
    auto bound = parse_size(record_max_size);
    if (!bound || *bound < (1u << 20)) {
      return {std::nullopt, usage_error("--record-max-size wants a size of at least 1M, like 500M, "
                                        "not '" +
                                        record_max_size + "'")};
    }
    o.record_retention.max_bytes = *bound;
  }
  if (app.count("--record-max-age")) {
    // A whole number and a unit: s, m, h or d.
    int64_t amount = 0, unit = 0;
    const std::string& a = record_max_age;
    if (a.size() >= 2 && a.size() <= 10 && a.find_first_not_of("0123456789") == a.size() - 1) {
      amount = std::stoll(a.substr(0, a.size() - 1));
      switch (a.back()) {
        case 's':
          unit = 1;
          break;
        case 'm':
          unit = 60;
          break;
        case 'h':
          unit = 3600;
          break;
        case 'd':
          unit = 86400;
          break;
        default:
          unit = 0;
      }
    }
    if (unit == 0 || amount < 1) {
      return {std::nullopt, usage_error("--record-max-age wants an age like 30s, 10m, 12h or 7d, "
                                        "not '" +
                                        record_max_age + "'")};
    }
    o.record_retention.max_age_ns = amount * unit * 1'000'000'000;
  }
  if (app.count("--syslog-facility")) {
    if (o.syslog.empty()) {
      return {std::nullopt, usage_error("--syslog-facility goes with --syslog ADDRESS")};
    }
    auto facility = syslog_facility_named(syslog_facility);
    if (!facility) {
      return {std::nullopt,
              usage_error("--syslog-facility: unknown facility '" + syslog_facility +
                          "' (kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, "
                          "authpriv, ftp, local0 ... local7)")};
    }
    o.syslog_facility = *facility;
  }
  if (app.count("--syslog")) {
    if (auto a = parse_syslog_address(o.syslog); !a) {
      return {std::nullopt, usage_error(a.error().message)};
    }
  }
  if (app.count("--kafka")) {
    if (o.kafka_brokers.empty()) {
      return {std::nullopt, usage_error("--kafka wants the brokers, like localhost:9092")};
    }
    if (o.kafka_topic.empty()) {
      return {std::nullopt, usage_error("--kafka needs --kafka-topic TOPIC")};
    }
    for (const auto& x : kafka_settings) {
      auto kv = parse_kafka_setting(x);
      if (!kv) return {std::nullopt, usage_error(kv.error().message)};
      o.kafka_settings.push_back(*kv);
    }
    if (!kafka_buffer.empty()) {
      auto b = parse_size(kafka_buffer);
      if (!b || *b < 64 * 1024) {
        return {std::nullopt, usage_error("--kafka-buffer wants a size of at least 64K, like "
                                          "256M, not '" +
                                          kafka_buffer + "'")};
      }
      o.kafka_buffer = *b;
    }
    if (!kafka_spool_size.empty()) {
      auto b = parse_size(kafka_spool_size);
      if (!b || *b < 64 * 1024) {
        return {std::nullopt, usage_error("--kafka-spool-size wants a size of at least 64K, "
                                          "like 1G, not '" +
                                          kafka_spool_size + "'")};
      }
      if (o.kafka_spool.empty()) {
        return {std::nullopt, usage_error("--kafka-spool-size goes with --kafka-spool FILE")};
      }
      o.kafka_spool_size = *b;
    }
  } else if (app.count("--kafka-topic") || app.count("-X") || app.count("--kafka-buffer") ||
             app.count("--kafka-spool") || app.count("--kafka-spool-size")) {
    return {std::nullopt, usage_error("--kafka-topic, -X, --kafka-buffer and --kafka-spool go "
                                      "with --kafka BROKERS")};
  }
  if ((app.count("--record-max-size") || app.count("--record-max-age")) && o.record.empty()) {
    return {std::nullopt,
            usage_error("--record-max-size and --record-max-age go with --record FILE")};
  }

  if (app.count("--user-of-command") && command_user.empty()) {
    return {std::nullopt, usage_error("--user-of-command wants a user name or number")};
  }
  if (app.count("--user-rate-limit")) {
    auto rate = parse_size(user_rate);
    if (!rate || *rate < 1024) {
      return {std::nullopt, usage_error("--user-rate-limit wants a size a second of at least 1K, "
                                        "like 256K, not '" +
                                        user_rate + "'")};
    }
    o.user_rate_limit = *rate;
  }
  if (!command_user.empty() && o.command.empty()) {
    return {std::nullopt, usage_error("--user-of-command goes with a COMMAND (after '--')")};
  }
  if (!o.command.empty()) {
    if (!command_user.empty()) {
      std::string name;
      auto pw = lookup_user(command_user, &name);
      if (!pw) {
        return {std::nullopt,
                usage_error("--user-of-command: no user named '" + command_user + "'")};
      }
      if (pw->pw_uid == static_cast<uid_t>(-1)) {
        return {std::nullopt,
                usage_error("--user-of-command: " + command_user + " is not a user id")};
      }
      o.command_uid = pw->pw_uid;
      o.command_gid = pw->pw_gid;
      o.command_user = name;
    } else if (const char* sudo_uid = std::getenv("SUDO_UID"); sudo_uid && geteuid() == 0) {
      // Started with sudo: the command is the caller's, as it would be without proctrail.
      std::string name;
      auto pw = lookup_user(sudo_uid, &name);
      if (pw) {
        o.command_uid = pw->pw_uid;
        const char* sudo_gid = std::getenv("SUDO_GID");
        o.command_gid =
            sudo_gid ? static_cast<uint32_t>(std::strtoul(sudo_gid, nullptr, 10)) : pw->pw_gid;
        o.command_user = name;
      }
    }
  }
  return {o, 0};
}

}  // namespace proctrail::cli
