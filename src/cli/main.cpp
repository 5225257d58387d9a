// proctrail: parses options, builds the pipeline, maps errors to exit codes.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>

#include "options.hpp"
#include "proctrail/enricher.hpp"
#include "proctrail/pipeline.hpp"
#include "proctrail/privileges.hpp"
#include "source_factory.hpp"

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

void print_stats(const proctrail::PipelineStats& s) {
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
                 "proctrail: stats: %llu events outside the kernel-side filter arrived anyway "
                 "(filtered in user space)\n",
                 static_cast<unsigned long long>(src.filter_leaks));
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace proctrail;
  auto parsed = cli::parse_options(argc, argv);
  if (!parsed.options) return parsed.exit_code;
  const cli::Options& o = *parsed.options;

  int out_fd = STDOUT_FILENO;
  if (!o.output.empty()) {
    out_fd = ::open(o.output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out_fd < 0) return fail(system_error("open output " + o.output).message);
  }

  // Signals only set a flag: the receive loop notices within one poll interval, unsubscribes
  // and lets the writer flush. A closed pipe is an EPIPE on write, not a signal.
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // SIGHUP is log rotation's signal: reopen -o FILE; on a terminal or a pipe, carry on.
  struct sigaction hup {};
  hup.sa_handler = on_hangup;
  sigemptyset(&hup.sa_mask);
  hup.sa_flags = SA_RESTART;
  sigaction(SIGHUP, &hup, nullptr);

  auto verbose = [&o](std::string_view line) {
    if (o.verbose)
      std::fprintf(stderr, "proctrail: %.*s\n", static_cast<int>(line.size()), line.data());
  };

  // The seed format prints what the kernel said and nothing else: no table, no /proc reads.
  std::unique_ptr<Enricher> enricher;
  if (o.format != OutputFormat::Seed) {
    EnricherOptions eo;
    eo.ancestry = o.ancestry;
    eo.read = o.proc_fields;
    auto e = Enricher::create(eo);
    if (!e) return fail(e.error().message);
    enricher = std::move(*e);
  }
  auto source = cli::make_source(o, enricher.get(), verbose);
  if (!source) return fail(source.error().message);
  for (const auto& note : (*source).source->notes()) verbose(note);
  // Set-up is done: keep only what reading /proc (CAP_SYS_PTRACE), withdrawing the proc
  // connector subscription (CAP_NET_ADMIN) and reading the eBPF maps (CAP_BPF) still need.
  // Threads started from here on inherit the reduced set.
  if (auto s = drop_capabilities({cap::kSysPtrace, cap::kNetAdmin, cap::kBpf}); s) {
    verbose("capabilities kept after set-up: " + effective_capabilities() + "; no_new_privs set");
  } else {
    verbose("could not drop capabilities: " + s.error().message);
  }

  auto formatter = make_formatter(o.format, TextOptions{o.utc});
  PipelineOptions p;
  p.events = o.events;
  p.priority = (*source).receive_priority;
  p.start = StartData{std::string((*source).source->name()), (*source).reason, PROCTRAIL_VERSION};
  if (o.format == OutputFormat::Seed) p.start.reset();
  p.text_header = o.format == OutputFormat::Text && o.header;
  p.verbose = verbose;
  p.hangups = &g_hangups;
  if (!o.output.empty()) {
    p.reopen_output = [path = o.output]() -> Result<int> {
      // Appends: a hang-up without a rotation must not truncate what is there.
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd < 0) return system_error("reopen output " + path);
      return fd;
    };
  }
  Pipeline pipeline(*(*source).source, enricher.get(), *formatter, out_fd, p);
  Status status = pipeline.run(g_stop);
  (*source).source.reset();  // unsubscribe before the totals
  if (o.stats) print_stats(pipeline.stats());
  if (pipeline.out_fd() != STDOUT_FILENO) ::close(pipeline.out_fd());
  if (!status) return fail(status.error().message);
  return 0;
}
