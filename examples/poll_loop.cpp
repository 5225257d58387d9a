// The pull API inside an embedder's own poll(2) loop, with a filter: prints the processes that
// fail (a non-zero exit status or a fatal signal), as text lines, and stops after `seconds`
// or at Ctrl-C.
//
//   sudo ./poll_loop [seconds]
#include <poll.h>
#include <proctrail/proctrail.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {
std::atomic<bool> stop{false};
}

int main(int argc, char** argv) {
  const int seconds = argc > 1 ? std::atoi(argv[1]) : 10;
  std::signal(SIGINT, [](int) { stop = true; });
  std::signal(SIGTERM, [](int) { stop = true; });

  proctrail::MonitorOptions options;
  auto failed = proctrail::EventMask::parse("nonzero-exit");
  if (!failed) {
    std::fprintf(stderr, "poll_loop: %s\n", failed.error().message.c_str());
    return 2;
  }
  options.filter.types = *failed;
  options.pull_capacity = 4096;  // events wait here for poll(); beyond it, a lost record

  auto monitor = proctrail::Monitor::start(options, {});
  if (!monitor) {
    std::fprintf(stderr, "poll_loop: %s\n", monitor.error().message.c_str());
    return 1;
  }
  std::fprintf(stderr, "poll_loop: %s backend (%s)\n", (*monitor)->info().backend.c_str(),
               (*monitor)->info().reason.c_str());
  // Text lines: a failed process's exit line names its command (escaped for a terminal).
  auto text = proctrail::make_text_formatter();
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  std::vector<proctrail::Event> events;
  while (!stop && std::chrono::steady_clock::now() < end) {
    // The embedder's loop would watch its own fds here too.
    pollfd fds[] = {{(*monitor)->fd(), POLLIN, 0}};
    if (::poll(fds, 1, 200) < 0) break;
    if (!(fds[0].revents & POLLIN)) continue;
    events.clear();
    if (auto s = (*monitor)->poll(std::chrono::milliseconds(0), events); !s) {
      std::fprintf(stderr, "poll_loop: %s\n", s.error().message.c_str());
      return 1;
    }
    std::string out;
    for (const auto& e : events) text->format(e, out);
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
  }
  auto status = (*monitor)->stop();
  return status ? 0 : 1;
}
