#include "filter/subscription.hpp"

namespace proctrail {

Subscription derive_subscription(const MonitorOptions& o, Backend backend) {
  Subscription s;
  const EventMask& wanted = o.filter.types;
  if (backend == Backend::Netlink) {
    // Every exec is read from /proc, and checked against the table's record of the pid.
    s.table = o.enrich;
    s.read_proc = o.enrich;
  } else {
    // The kernel gives argv, exe, cwd and credentials. The table is kept only for what it
    // adds (exit details, ancestry), and /proc read only for fields asked for beyond those.
    s.table =
        o.enrich && (wanted.has(EventType::Exit) || wanted.has(EventType::Fork) || o.ancestry);
    s.read_proc = o.enrich && (o.proc_fields.explicit_fields || o.proc_fields.env);
  }
  s.kernel_events = wanted;
  // The filter follows --pid trees through forks, and learns of their ends from exits; the
  // conditions on a process learn its program from execs (inherited over forks) and forget it
  // at its end, so what the filter keeps is bounded by the live processes.
  if (!o.filter.pids.empty() || o.filter.matches_processes()) {
    EventMask learn;
    learn.add(EventType::Fork);
    learn.add(EventType::Exit);
    if (o.filter.matches_processes()) learn.add(EventType::Exec);
    s.kernel_events = s.kernel_events | learn;
  }
  if (s.table) {
    EventMask lifecycle;
    lifecycle.add(EventType::Fork);
    lifecycle.add(EventType::Exec);
    lifecycle.add(EventType::Exit);
    if (backend == Backend::Netlink) {
      // The table keeps each process's credentials from these, instead of a read of
      // /proc/PID/status at every exec.
      lifecycle.add(EventType::Uid);
      lifecycle.add(EventType::Gid);
      s.creds_from_table = true;
    }
    s.kernel_events = s.kernel_events | lifecycle;
  }
  return s;
}

}  // namespace proctrail
