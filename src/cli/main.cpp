// proctrail: parses options into the library's MonitorOptions, picks the output, runs the
// monitor, and maps errors to exit codes.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>

#include "options.hpp"
#include "proctrail/monitor.hpp"

namespace {

std::atomic<bool> g_stop{false};
std::atomic<uint32_t> g_hangups{0};

void on_signal(int) {
  g_stop.store(true);
}

void on_hangup(int) {
  g_hangups.fetch_add(1);
}

int fail(const std::string& message) {
  std::fprintf(stderr, "proctrail: error: %s\n", message.c_str());
  return 1;
}

void print_stats(const proctrail::MonitorStats& s) {
  const auto& src = s.source;
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

}  // namespace

int main(int argc, char** argv) {
  using namespace proctrail;
  auto parsed = cli::parse_options(argc, argv);
  if (!parsed.options) return parsed.exit_code;
  cli::Options o = std::move(*parsed.options);

  // Signals only set a flag: the monitor notices within one tick, unsubscribes and lets the
  // writer flush. A closed pipe is an EPIPE on write, not a signal. SIGHUP is log rotation's
  // signal: the output file is reopened; on a terminal or a pipe it changes nothing.
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  struct sigaction hup {};
  hup.sa_handler = on_hangup;
  sigemptyset(&hup.sa_mask);
  hup.sa_flags = SA_RESTART;
  sigaction(SIGHUP, &hup, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (o.verbose) {
    o.monitor.verbose = [](std::string_view line) {
      std::fprintf(stderr, "proctrail: %.*s\n", static_cast<int>(line.size()), line.data());
    };
  }
  auto formatter = make_formatter(o.format, TextOptions{o.utc});
  const bool header = o.format == OutputFormat::Text && o.header;
  std::unique_ptr<Sink> out;
  if (o.output.empty()) {
    out = make_stream_sink(std::move(formatter), STDOUT_FILENO, false, header);
  } else {
    auto file = open_file_sink(std::move(formatter), o.output, header);
    if (!file) return fail(file.error().message);
    out = std::move(*file);
  }
  std::vector<std::unique_ptr<Sink>> sinks;
  sinks.push_back(std::move(out));

  auto monitor = Monitor::start(o.monitor, std::move(sinks));
  if (!monitor) return fail(monitor.error().message);
  // Degraded capture is said once, whatever -v says.
  for (const auto& why : (*monitor)->info().missing_why) {
    std::fprintf(stderr, "proctrail: warning: %s\n", why.c_str());
  }

  uint32_t hangups_seen = 0;
  Status status = (*monitor)->run_until(g_stop, [&] {
    if (uint32_t h = g_hangups.load(); h != hangups_seen) {
      hangups_seen = h;
      (*monitor)->reopen_outputs();
    }
  });
  if (o.stats) print_stats((*monitor)->stats());
  monitor->reset();  // unsubscribes
  if (!status) return fail(status.error().message);
  return 0;
}
