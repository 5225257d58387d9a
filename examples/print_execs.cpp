// Prints the command line of every program started on this machine, with the callback API.
//
//   sudo ./print_execs            (Ctrl-C to stop)
//
// Each exec arrives in order, verified: argv is the exec's own (read in the kernel by the eBPF
// backend, or read from /proc and proved by the netlink one), or it is marked unavailable.
#include <proctrail/proctrail.hpp>

#include <csignal>
#include <cstdio>

namespace {
std::atomic<bool> stop{false};
}

int main() {
  std::signal(SIGINT, [](int) { stop = true; });
  std::signal(SIGTERM, [](int) { stop = true; });

  proctrail::MonitorOptions options;
  options.filter.types = *proctrail::EventMask::parse("exec");
  options.start_record = false;

  std::vector<proctrail::SinkSpec> sinks;
  sinks.push_back(proctrail::make_callback_sink([](const proctrail::Event& e) {
    // Records about the stream itself (lost, resync) always pass the filter.
    const auto* exec = std::get_if<proctrail::ExecData>(&e.data);
    if (!exec || !exec->details) return;
    std::printf("%d", e.pid);
    if (exec->details->argv_source == proctrail::ArgvSource::Unavailable) {
      std::printf(" <argv unavailable: %s>", exec->details->note.c_str());
    }
    // The bytes are the process's own: a real tool escapes them before a terminal sees them
    // (the text formatter does).
    for (std::string_view arg : exec->details->argv) {
      std::printf(" %.*s", static_cast<int>(arg.size()), arg.data());
    }
    std::printf("\n");
    std::fflush(stdout);
  }));

  auto monitor = proctrail::Monitor::start(options, std::move(sinks));
  if (!monitor) {
    std::fprintf(stderr, "print_execs: %s\n", monitor.error().message.c_str());
    return 1;
  }
  std::fprintf(stderr, "print_execs: %s backend (%s)\n", (*monitor)->info().backend.c_str(),
               (*monitor)->info().reason.c_str());
  auto status = (*monitor)->run_until(stop);
  if (!status) {
    std::fprintf(stderr, "print_execs: %s\n", status.error().message.c_str());
    return 1;
  }
  return 0;
}
