// Choosing and starting the source for a monitor: the backend (auto: eBPF when its programs
// load here, else netlink) with the reason, the subscription it must serve, and what the
// chosen setup cannot deliver.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "enrich/enricher.hpp"
#include "filter/subscription.hpp"
#include "proctrail/options.hpp"
#include "proctrail/source.hpp"

namespace proctrail {

struct StartedSource {
  std::unique_ptr<EventSource> source;
  Backend backend = Backend::Netlink;
  std::string reason;  // why this backend
  Subscription subscription;
  // Priority for the receive thread: raised when it runs the exec handlers itself.
  Priority receive_priority = Priority::Normal;
  std::vector<std::string> missing_events;
  std::vector<std::string> missing_why;
};

// The capabilities a thread that reads /proc at exec keeps after set-up: CAP_SYS_PTRACE for
// another user's exe, cwd and image fields; with --env, CAP_DAC_READ_SEARCH for another user's
// environment (/proc/PID/environ is its owner's alone).
std::vector<int> proc_read_capabilities(const MonitorOptions& options);

// Starts the source for `options`; with an enricher, installs its exec handlers and tells it
// what to read and keep. With Backend::Auto, an eBPF backend that fails to start is reported
// through `verbose` and netlink tried.
Result<StartedSource> start_source(const MonitorOptions& options, Enricher* enricher,
                                   const std::function<void(std::string_view)>& verbose);

}  // namespace proctrail
