// proctrail: parses options into the library's MonitorOptions, picks the output, runs the
// monitor, and maps errors to exit codes.
#include <dirent.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <grp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <cstring>
#include <memory>
#include <string>

#include "options.hpp"
#include "policy.hpp"
#include "record.hpp"
#include "report.hpp"
#include "proctrail/monitor.hpp"
#include "sink/kafka_sink.hpp"
#include "util/privileges.hpp"

namespace {

std::atomic<bool> g_stop{false};
std::atomic<uint32_t> g_hangups{0};
std::atomic<bool> g_summary{false};
// Run mode: a stop signal sent to proctrail with kill(2) is passed on to the command. One from
// the terminal (Ctrl-C) reaches the command by itself: the whole foreground group gets it.
std::atomic<int> g_forward{0};
pid_t g_child = 0;

void on_signal(int sig, siginfo_t* info, void*) {
  if (g_child > 0) {
    if (info && info->si_code <= 0) g_forward.store(sig);  // SI_USER, SI_QUEUE ...: kill()
    return;
  }
  g_stop.store(true);
}

void on_summary(int) {
  g_summary.store(true);
}

void on_hangup(int) {
  g_hangups.fetch_add(1);
}

bool has_controlling_terminal() {
  int fd = open("/dev/tty", O_RDONLY | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return false;
  close(fd);
  return true;
}

// A --cgroup that matches no cgroup on this host now would print nothing, maybe for ever: say
// so (it is not an error: the cgroup may be created later, a service started).
void warn_about_cgroup_filter(const proctrail::EventFilter& f) {
  if (!f.cgroup_prefix) return;
  const std::string& prefix = *f.cgroup_prefix;
  struct stat st {};
  const bool unified = stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0;
  // On a cgroup v1 (or hybrid) host the path proctrail sees is the name=systemd hierarchy's.
  const std::string root = unified ? "/sys/fs/cgroup" : "/sys/fs/cgroup/systemd";
  if (!unified) {
    std::fprintf(stderr,
                 "proctrail: warning: --cgroup: this host uses cgroup v1; paths are those of its "
                 "name=systemd hierarchy (%s)\n",
                 root.c_str());
  }
  // A prefix matches a cgroup when one's path starts with it: look for the directory itself,
  // or one in its parent whose name starts with the last part.
  const size_t slash = prefix.find_last_of('/');
  const std::string dir = root + prefix.substr(0, slash);
  const std::string start = prefix.substr(slash + 1);
  bool any = false;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (std::strncmp(e->d_name, start.c_str(), start.size()) == 0 && e->d_name[0] != '.') {
        any = true;
        break;
      }
    }
    closedir(d);
  }
  if (!any) {
    std::fprintf(stderr,
                 "proctrail: warning: --cgroup %s: no cgroup on this host starts with it now; only "
                 "processes of one created later will show\n",
                 prefix.c_str());
  }
}

int fail(const std::string& message) {
  std::fprintf(stderr, "proctrail: error: %s\n", proctrail::cli::in_cli_words(message).c_str());
  return 1;
}

// What --kafka did, when it was asked for: the counts for --stats.
std::shared_ptr<proctrail::KafkaCounters> g_kafka;

void print_kafka_stats() {
  if (!g_kafka) return;
  const auto& k = *g_kafka;
  std::fprintf(stderr,
               "proctrail: stats: kafka produced %llu, delivered %llu, sent again %llu, failed "
               "%llu, dropped %llu, waiting %llu, read from the spool %llu, spooled %llu, "
               "producers rebuilt %llu\n",
               static_cast<unsigned long long>(k.produced.load()),
               static_cast<unsigned long long>(k.delivered.load()),
               static_cast<unsigned long long>(k.retried.load()),
               static_cast<unsigned long long>(k.failed.load()),
               static_cast<unsigned long long>(k.dropped.load()),
               static_cast<unsigned long long>(k.waiting.load()),
               static_cast<unsigned long long>(k.from_spool.load()),
               static_cast<unsigned long long>(k.spooled.load()),
               static_cast<unsigned long long>(k.rebuilt.load()));
}

// Said whatever --stats says: events Kafka did not have when proctrail stopped.
void say_kafka_end(const proctrail::cli::Options& o) {
  if (!g_kafka) return;
  const uint64_t left = g_kafka->undelivered_at_end.load();
  const uint64_t earlier = g_kafka->lost_unsaid_at_end.load();
  if (left == 0 && earlier == 0) return;
  const bool kept = !o.kafka_spool.empty() && !g_kafka->spool_failed.load();
  std::string what = std::to_string(left) + (left == 1 ? " event" : " events");
  if (earlier > 0) {
    what += " (and the count of " + std::to_string(earlier) + " lost before)";
  }
  if (kept) {
    std::fprintf(stderr,
                 "proctrail: kafka: %s not delivered when proctrail stopped: kept in %s, sent "
                 "first at the next start\n",
                 what.c_str(), o.kafka_spool.c_str());
  } else {
    std::fprintf(stderr, "proctrail: kafka: %s not delivered when proctrail stopped, and lost%s\n",
                 what.c_str(),
                 o.kafka_spool.empty() ? " (--kafka-spool FILE keeps them for the next start)"
                                       : ": the spool could not be written");
  }
}

void print_stats(const proctrail::MonitorStats& s) {
  const auto& src = s.source;
  for (const auto& k : s.sinks) {
    std::fprintf(
        stderr, "proctrail: stats: %s took %llu events, could not take %llu (%llu failures%s%s)\n",
        k.name.c_str(), static_cast<unsigned long long>(k.written),
        static_cast<unsigned long long>(k.failed), static_cast<unsigned long long>(k.failures),
        k.last_error.empty() ? "" : "; last: ", k.last_error.c_str());
  }
  std::fprintf(stderr,
               "proctrail: stats: received %llu events; lost %llu counted + %llu overflow "
               "reports without a count; dropped at the output queue %llu; decode errors %llu; "
               "rejected (not from the kernel) %llu\n",
               static_cast<unsigned long long>(src.received),
               static_cast<unsigned long long>(src.lost),
               static_cast<unsigned long long>(src.loss_reports),
               static_cast<unsigned long long>(s.queue_drops),
               static_cast<unsigned long long>(src.decode_errors),
               static_cast<unsigned long long>(src.rejected));
  std::fprintf(
      stderr,
      "proctrail: stats: execs %llu (argv from kernel %llu, procfs %llu, unavailable "
      "%llu; /proc reads withdrawn as unverified %llu); records written %llu; resyncs %llu; "
      "process table %zu entries\n",
      static_cast<unsigned long long>(s.execs), static_cast<unsigned long long>(s.argv_kernel),
      static_cast<unsigned long long>(s.argv_procfs),
      static_cast<unsigned long long>(s.argv_unavailable),
      static_cast<unsigned long long>(s.superseded), static_cast<unsigned long long>(s.written),
      static_cast<unsigned long long>(s.resyncs), s.table_size);
  if (src.filter_leaks > 0) {
    std::fprintf(stderr,
                 "proctrail: stats: %llu events of types not asked for arrived anyway "
                 "(dropped)\n",
                 static_cast<unsigned long long>(src.filter_leaks));
  }
}

// The command's PATH search, done with stat and access rather than by execvp's one failed
// execve per directory: a trace of `proctrail -- make` must not start with the directories
// that have no make (those tries are proctrail's, not the command's). Not found anywhere: the
// name as given, and execvp says so. With a slash in it, the name is a path already.
std::string resolve_command(const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos) return name;
  const char* env = getenv("PATH");
  const std::string path = env != nullptr ? env : "/bin:/usr/bin";  // execvp's default
  size_t from = 0;
  while (from <= path.size()) {
    size_t to = path.find(':', from);
    if (to == std::string::npos) to = path.size();
    const std::string dir = to == from ? "." : path.substr(from, to - from);
    const std::string candidate = dir + "/" + name;
    struct stat st {};
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    from = to + 1;
  }
  return name;
}

// Run mode: the command, forked now and held at a gate until capture is ready, so not one of
// its events comes before the monitor listens.
struct Command {
  pid_t pid = 0;
  int gate = -1;  // write end: a byte lets it exec; closing it unread makes it give up
};

Command fork_command(const proctrail::cli::Options& o) {
  int gate[2];
  if (pipe2(gate, O_CLOEXEC) != 0) return {};
  pid_t pid = fork();
  if (pid < 0) {
    close(gate[0]);
    close(gate[1]);
    return {};
  }
  if (pid > 0) {
    close(gate[0]);
    return {pid, gate[1]};
  }
  close(gate[1]);
  char go = 0;
  ssize_t n;
  do {
    n = read(gate[0], &go, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) _exit(127);  // proctrail could not start: the command never runs
  signal(SIGPIPE, SIG_DFL);
  // Until it execs, this process is the command's, not proctrail's: its name says so in the
  // trace, should the command not be found (its failed tries, its exit 127).
  {
    const std::string& cmd = o.command[0];
    const std::string name = cmd.substr(cmd.find_last_of('/') + 1).substr(0, 15);
    prctl(PR_SET_NAME, name.c_str(), 0, 0, 0);
  }
  // Already that user (a plain user naming themselves): nothing to change, and no privilege
  // to change groups with.
  if (o.command_uid && (*o.command_uid != getuid() || *o.command_gid != getgid())) {
    const bool groups_ok = o.command_user.empty()
                               ? setgroups(0, nullptr) == 0
                               : initgroups(o.command_user.c_str(), *o.command_gid) == 0;
    if (!groups_ok || setgid(*o.command_gid) != 0 || setuid(*o.command_uid) != 0) {
      std::fprintf(stderr, "proctrail: error: cannot become uid %u to run the command: %s\n",
                   *o.command_uid, std::strerror(errno));
      _exit(126);
    }
  }
  std::vector<char*> args;
  for (const auto& a : o.command) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const std::string file = resolve_command(o.command[0]);
  execvp(file.c_str(), args.data());  // argv[0] stays as typed; a script without #! still runs
  const int err = errno;
  std::fprintf(stderr, "proctrail: error: cannot run %s: %s\n", o.command[0].c_str(),
               std::strerror(err));
  _exit(err == ENOENT ? 127 : 126);  // as a shell says it
}

int status_of(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 1;
}

// The output (-o or the standard stream, with the view asked for) and, with --also-json, the
// full record beside it.
proctrail::Result<std::vector<proctrail::SinkSpec>> make_sinks(const proctrail::cli::Options& o) {
  using namespace proctrail;
  TextOptions text;
  text.utc = o.utc;
  text.relative = o.relative;
  text.color = o.color;
  text.tree = o.tree;
  text.tree_failures_only = o.tree_failures_only;
  auto formatter = o.format != OutputFormat::Json ? make_formatter(o.format, text)
                   : o.ecs                        ? make_ecs_formatter()
                                                  : make_json_formatter(o.host_fields);
  const bool header = o.format == OutputFormat::Text && o.header;
  std::unique_ptr<Sink> out;
  if (o.output.empty()) {
    // Run mode keeps the command's output for itself: records go to stderr, as strace's do.
    out = make_stream_sink(std::move(formatter), o.command.empty() ? STDOUT_FILENO : STDERR_FILENO,
                           false, header);
  } else {
    auto file = open_file_sink(std::move(formatter), o.output, header, o.rotation);
    if (!file) return file.error();
    out = std::move(*file);
  }
  if (o.user_rate_limit > 0) {
    out = make_user_rate_limit_sink(std::move(out), {o.user_rate_limit, 4 * o.user_rate_limit});
  }
  // Made here, before the summary that reads it; the sink itself is opened further down.
  if (!o.kafka_brokers.empty()) g_kafka = std::make_shared<KafkaCounters>();
  if (o.summary) {
    std::function<std::vector<SummaryData::Exporter>()> exporters;
    if (g_kafka) {
      exporters = [k = g_kafka] {
        return std::vector<SummaryData::Exporter>{{"kafka", k->produced.load(), k->delivered.load(),
                                                   k->retried.load(), k->failed.load(),
                                                   k->dropped.load(), k->waiting.load()}};
      };
    }
    out = make_summary_sink(std::move(out), &g_summary, 5, o.monitor.filter.types, o.replay,
                            std::move(exporters));
  }
  std::vector<SinkSpec> sinks;
  sinks.emplace_back(std::move(out), std::nullopt, FailurePolicy::Fatal, "output");
  if (!o.also_json.empty()) {
    // Every event, whatever the filters above: a full record beside a filtered view. Its
    // failure (a full disk) is counted and said in it when it recovers; capture goes on.
    auto all = open_file_sink(make_json_formatter(o.host_fields), o.also_json, false, o.rotation);
    if (!all) return all.error();
    EventFilter everything;
    everything.types = EventMask::all();
    if (o.monitor.filter.types.has(EventType::ExecFailed))
      everything.types.add(EventType::ExecFailed);
    sinks.emplace_back(std::move(*all), everything, FailurePolicy::Degrade, o.also_json);
  }
  if (o.journal) {
    // What the filters pass, as the view does; a journald that stops taking entries costs
    // the journal, not the capture.
    auto journal = open_journal_sink(kJournalSocket, o.ecs ? Schema::Ecs : Schema::Proctrail);
    if (!journal) return journal.error();
    sinks.emplace_back(std::move(*journal), std::nullopt, FailurePolicy::Degrade, "journal");
  }
  if (!o.syslog.empty()) {
    auto address = parse_syslog_address(o.syslog);
    if (!address) return address.error();
    auto syslog =
        open_syslog_sink(*address, o.syslog_facility, o.ecs ? Schema::Ecs : Schema::Proctrail);
    if (!syslog) return syslog.error();
    sinks.emplace_back(std::move(*syslog), std::nullopt, FailurePolicy::Degrade, "syslog");
  }
  if (!o.kafka_brokers.empty()) {
    // What the filters pass; the sink buffers and counts what the brokers do not take, so its
    // writes do not fail and capture never waits for Kafka.
    KafkaOptions k;
    k.brokers = o.kafka_brokers;
    k.topic = o.kafka_topic;
    k.config = o.kafka_settings;
    k.ecs = o.ecs;
    k.buffer_bytes = o.kafka_buffer;
    k.spool = o.kafka_spool;
    k.spool_bytes = o.kafka_spool_size;
    k.plain_user = getuid() != 0;
    auto kafka = open_kafka_sink(k, g_kafka);
    if (!kafka) return kafka.error();
    sinks.emplace_back(std::move(*kafka), std::nullopt, FailurePolicy::Degrade, "kafka");
  }
  if (!o.record.empty()) {
    // The same: every event, and a full disk costs the record, not the capture.
    auto record = cli::open_record_sink(o.record, o.record_retention);
    if (!record) return record.error();
    EventFilter everything;
    everything.types = EventMask::all();
    if (o.monitor.filter.types.has(EventType::ExecFailed))
      everything.types.add(EventType::ExecFailed);
    sinks.emplace_back(std::move(*record), everything, FailurePolicy::Degrade, o.record);
  }
  return sinks;
}

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  struct sigaction usr {};
  usr.sa_handler = on_summary;
  sigemptyset(&usr.sa_mask);
  usr.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &usr, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

// "proctrail replay FILE": a recording through the same pipeline, with no privilege at all:
// the file is read as the caller could read it without proctrail.
int replay(proctrail::cli::Options o) {
  using namespace proctrail;
  // The setcap install's capabilities would open files the caller cannot (root can anyway).
  if (getuid() != 0) {
    if (auto s = drop_capabilities({}); !s) return fail(s.error().message);
  }
  install_stop_handlers();
  auto source = o.replay_file != "-" && cli::is_sqlite_file(o.replay_file)
                    ? cli::open_record_source(o.replay_file)
                    : open_json_lines_source(o.replay_file);
  if (!source) return fail(source.error().message);
  auto sinks = make_sinks(o);
  if (!sinks) return fail(sinks.error().message);
  if (o.verbose) {
    o.monitor.verbose = [](std::string_view line) {
      std::fprintf(stderr, "proctrail: %.*s\n", static_cast<int>(line.size()), line.data());
    };
  }
  auto monitor = Monitor::start(o.monitor, std::move(*sinks), std::move(*source));
  if (!monitor) return fail(monitor.error().message);
  std::atomic<bool> stop{false};
  Status status = (*monitor)->run_until(stop, [&] {
    if (g_stop.load()) stop = true;
  });
  if (o.stats) print_stats((*monitor)->stats());
  monitor->reset();
  if (o.stats) print_kafka_stats();
  say_kafka_end(o);
  if (!status) return fail(status.error().message);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace proctrail;
  // "proctrail report FILE": a recording drawn; no capture, no privilege.
  if (argc > 1 && std::strcmp(argv[1], "report") == 0) return cli::report_main(argc - 1, argv + 1);
  auto parsed = cli::parse_options(argc, argv);
  if (!parsed.options) return parsed.exit_code;
  cli::Options o = std::move(*parsed.options);
  if (o.replay) return replay(std::move(o));
  // What the caller may see and cost the machine (policy.hpp), decided before anything runs.
  const cli::Caller caller = cli::identify_caller();
  if (auto s = cli::apply_caller_rules(caller, o); !s) return fail(s.error().message);
  UniqueFd instance_slot;
  if (!caller.root) {
    auto slot = cli::claim_instance_slot(caller.uid);
    if (!slot) return fail(slot.error().message);
    instance_slot = std::move(*slot);
  }

  // Signals only set a flag: the monitor notices within one tick, unsubscribes and lets the
  // writer flush. A closed pipe is an EPIPE on write, not a signal. SIGHUP is log rotation's
  // signal: the output file is reopened; on a terminal or a pipe it changes nothing.
  // Run mode: the command is forked first, before any thread or handler exists.
  Command command;
  if (!o.command.empty()) {
    command = fork_command(o);
    if (command.pid <= 0)
      return fail(std::string("cannot start the command: ") + std::strerror(errno));
    o.monitor.filter.pids = {command.pid};
    g_child = command.pid;
  }
  install_stop_handlers();
  struct sigaction sa {};
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  // SIGHUP means "reopen the output file" to a service, which has no controlling terminal. For a
  // program started from a terminal it means the terminal is gone: it stops, like SIGTERM.
  if (has_controlling_terminal()) {
    sigaction(SIGHUP, &sa, nullptr);
  } else {
    struct sigaction hup {};
    hup.sa_handler = on_hangup;
    sigemptyset(&hup.sa_mask);
    hup.sa_flags = SA_RESTART;
    sigaction(SIGHUP, &hup, nullptr);
  }

  if (o.verbose) {
    o.monitor.verbose = [](std::string_view line) {
      std::fprintf(stderr, "proctrail: %.*s\n", static_cast<int>(line.size()), line.data());
    };
  }
  // Anything that fails before the command may run: it is told to give up, and reaped.
  auto abandon = [&](const std::string& message) {
    if (command.pid > 0) {
      close(command.gate);
      waitpid(command.pid, nullptr, 0);
    }
    return fail(message);
  };
  auto sinks = make_sinks(o);
  if (!sinks) return abandon(sinks.error().message);

  auto monitor = Monitor::start(o.monitor, std::move(*sinks));
  if (!monitor) return abandon(monitor.error().message);
  warn_about_cgroup_filter(o.monitor.filter);
  // Degraded capture is said once, whatever -v says.
  for (const auto& why : (*monitor)->info().missing_why) {
    std::fprintf(stderr, "proctrail: warning: %s\n", why.c_str());
  }
  // Capture is ready: the command may run, unless proctrail was told to stop meanwhile.
  if (command.pid > 0) {
    if (int sig = g_forward.load(); sig != 0) {
      (void)(*monitor)->stop();  // nothing was written yet that could fail
      close(command.gate);
      waitpid(command.pid, nullptr, 0);
      return 128 + sig;
    }
    const char go = 1;
    if (write(command.gate, &go, 1) != 1) {
      // The command died at its gate: Ctrl-C reaches the whole foreground group, the
      // command too, while capture was still starting. End as the interrupted command would.
      int ws = 0;
      close(command.gate);
      (void)(*monitor)->stop();
      if (waitpid(command.pid, &ws, 0) == command.pid && WIFSIGNALED(ws)) {
        std::fprintf(stderr, "proctrail: the command was interrupted (%s) before it started\n",
                     signal_name(WTERMSIG(ws)).c_str());
        return 128 + WTERMSIG(ws);
      }
      return fail("cannot start the command");
    }
    close(command.gate);
  }

  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  uint32_t hangups_seen = 0;
  int exit_code = 0;
  bool command_done = command.pid <= 0;
  Clock::time_point command_end;
  std::atomic<bool> stop{false};
  Status status = (*monitor)->run_until(stop, [&] {
    if (uint32_t h = g_hangups.load(); h != hangups_seen) {
      hangups_seen = h;
      (*monitor)->reopen_outputs();
    }
    const bool time_up =
        o.duration_s > 0 &&
        std::chrono::duration<double>(Clock::now() - started).count() >= o.duration_s;
    if (command.pid <= 0) {
      if (g_stop.load() || time_up) stop = true;
      return;
    }
    if (!command_done) {
      if (int sig = g_forward.exchange(0); sig != 0) kill(command.pid, sig);
      if (time_up) kill(command.pid, SIGTERM);  // like timeout(1)
      int ws = 0;
      if (waitpid(command.pid, &ws, WNOHANG) == command.pid) {
        command_done = true;
        exit_code = status_of(ws);
        command_end = Clock::now();
      }
      return;
    }
    // The command is gone: wait for the rest of its tree to end (a background job), but not
    // for long: a daemon it started may live for ever.
    if ((*monitor)->followed_processes() == 0 ||
        Clock::now() - command_end > std::chrono::seconds(2) || g_forward.load() != 0) {
      stop = true;
    }
  });
  const size_t left = command.pid > 0 ? (*monitor)->followed_processes() : 0;
  if (o.stats) print_stats((*monitor)->stats());
  monitor->reset();  // unsubscribes; the sinks are closed
  if (o.stats) print_kafka_stats();
  say_kafka_end(o);
  if (left > 0) {
    std::fprintf(stderr,
                 "proctrail: the command has ended; %zu process%s of its tree still running%s not "
                 "followed further\n",
                 left, left == 1 ? "" : "es", left == 1 ? " is" : " are");
  }
  if (!status) {
    if (command.pid > 0 && !command_done) {
      kill(command.pid, SIGTERM);
      waitpid(command.pid, nullptr, 0);
    }
    return fail(status.error().message);
  }
  if (command.pid > 0 && !command_done) {
    // The output's reader went away while the command runs: let it finish, as a pipe would.
    int ws = 0;
    while (waitpid(command.pid, &ws, 0) < 0 && errno == EINTR) {
    }
    exit_code = status_of(ws);
  }
  return exit_code;
}
