// The subscription: what the backend must deliver and do for a filter and the enrichment asked
// for. It is more than the filter passes: the process table needs every fork, exec and exit to
// know each process, whatever the user wants to see.
#pragma once

#include "proctrail/filter.hpp"
#include "proctrail/options.hpp"

namespace proctrail {

struct Subscription {
  EventMask kernel_events;        // the event types the source must deliver
  bool table = false;             // keep the process table
  bool read_proc = false;         // read /proc at each exec (exec handlers)
  bool creds_from_table = false;  // credentials from the table's uid/gid events, not /proc
};

// For the backend that will run (Bpf or Netlink, not Auto).
Subscription derive_subscription(const MonitorOptions& options, Backend backend);

}  // namespace proctrail
