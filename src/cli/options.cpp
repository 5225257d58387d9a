#include "options.hpp"

#include <CLI/CLI.hpp>

#include <charconv>
#include <cstdio>
#include <iostream>

#include "util/sched.hpp"

namespace proctrail::cli {

namespace {

constexpr const char* kFooter = R"(Backends:
  auto     the eBPF backend when it loads here, else netlink (the default)
  bpf      eBPF programs on BTF tracepoints: argv is read in the kernel at exec, so it is
           right even for processes that exit at once or rewrite their argv
  netlink  the kernel's proc connector; argv and the rest are read from /proc as each
           event arrives, checked against pid reuse and later execs, and marked
           "unavailable" when they could not be read for sure

Events (-e): fork, exec, exit, nonzero-exit (exits with a non-zero status only), uid, gid,
  sid, ptrace, comm, coredump, all. Lost, resync and start records are always shown.

Priority (--priority): a process can exit microseconds after exec. proctrail reads /proc
  for an exec on a thread pinned to the CPU the exec happened on, at SCHED_FIFO priority 10,
  so it runs before the new program does. Where real-time scheduling is not permitted it
  falls back to nice -10, then to normal priority (-v says which). "nice" and "normal" cost
  the same per exec but miss more short-lived processes.

Examples:
  proctrail                          every event, as aligned text
  proctrail -e exec,exit             what runs and how it ends
  proctrail -f json -o trail.jsonl   JSON lines into a file (fields: docs/event.schema.json)
  proctrail -e nonzero-exit          only processes that failed
  proctrail -e exec --ancestry       each command with its chain of parents
  proctrail -f seed                  the output of the classic proc connector sample
  proctrail -v --stats               say what was set up and print totals at exit

Exit status: 0 on success (also after SIGINT/SIGTERM, or when the reader of the output goes
away), 1 when monitoring fails, 2 for a bad command line.)";

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

int usage_error(const std::string& message) {
  std::fprintf(stderr, "proctrail: error: %s (see --help)\n", message.c_str());
  return 2;
}

}  // namespace

ParseOutcome parse_options(int argc, char** argv) {
  CLI::App app{
      "proctrail: every process the machine starts, with its true command line, "
      "parent, user, cwd, container, exit status and lifetime."};
  app.footer(kFooter);
  app.get_formatter()->column_width(34);

  Options o;
  std::string backend = "auto", format = "text", events = "all", priority = "realtime";
  std::string max_argv = "128K", rcvbuf = "32M", ringbuf = "2M";
  int exec_readers = -1;
  std::string proc_fields = "exe,cwd,creds,cgroup";
  bool version = false, no_header = false, env = false;

  app.add_option("-b,--backend", backend, "auto, bpf or netlink (default auto)");
  app.add_option("-f,--format", format, "text, json or seed (default text)");
  app.add_option("-e,--events", events, "comma-separated event types to show (default all)");
  app.add_option("-o,--output", o.output, "write to FILE (created or truncated) instead of stdout");
  app.add_flag("-v,--verbose", o.verbose,
               "say on stderr what was set up: backend, buffers, priority");
  app.add_flag("--stats", o.stats, "print totals to stderr at exit: received, lost, dropped");
  app.add_flag("--env", env, "add each exec's environment (it may hold secrets)");
  bool ancestry = false;
  app.add_flag("--ancestry", ancestry, "add each exec's chain of parent commands up to pid 1");
  app.add_option("--proc-fields", proc_fields,
                 "what to read from /proc at each exec besides argv, comm, ppid and start "
                 "time: exe, cwd, creds, cgroup, env, all or none (default exe,cwd,creds,cgroup)");
  app.add_option(
      "--max-argv-bytes", max_argv,
      "command line bytes kept per exec, longer ones are flagged truncated with their real "
      "size (default 128K; the eBPF backend keeps at most 256K-1)");
  app.add_option("--priority", priority,
                 "scheduling of the threads that read /proc at exec: realtime (default), nice "
                 "or normal; see below");
  app.add_option("--exec-readers", exec_readers,
                 "netlink: exec reader threads, one per CPU by default (at most 64); 0 reads on "
                 "the receive thread");
  app.add_option("--rcvbuf", rcvbuf, "netlink socket receive buffer (default 32M)");
  app.add_option("--ringbuf", ringbuf,
                 "eBPF ring buffer SIZE, a power of two (default 2M; it is mapped twice, so it "
                 "counts twice in resident memory)");
  app.add_flag("--no-header", no_header, "text format: no column header line");
  app.add_flag("--utc", o.utc, "text format: times in UTC instead of local time");
  app.add_flag("-V,--version", version, "print the version and exit");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return {std::nullopt, 0};
  } catch (const CLI::ParseError& e) {
    return {std::nullopt, usage_error(e.what())};
  }
  if (version) {
    std::printf("proctrail %s\n", PROCTRAIL_VERSION);
    return {std::nullopt, 0};
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
  std::string err;
  auto mask = EventMask::parse(events, &err);
  if (!mask) return {std::nullopt, usage_error(err)};
  m.filter.types = *mask;
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
  m.version = PROCTRAIL_VERSION;
  m.drop_caller_privileges = true;
  if (o.format != OutputFormat::Text && (o.utc || no_header)) {
    return {std::nullopt, usage_error("--utc and --no-header apply to the text format only")};
  }
  return {o, 0};
}

}  // namespace proctrail::cli
