#include "monitor/backend.hpp"

#include "source/combined/combined_source.hpp"
#include "source/netlink/netlink_source.hpp"
#include "util/privileges.hpp"
#ifdef PROCTRAIL_WITH_BPF
#include "source/bpf/bpf_source.hpp"
#endif

namespace proctrail {

namespace {

// Event types only the eBPF backend sees.
EventMask without_bpf_only(EventMask m) {
  EventMask out;
  for (size_t t = 0; t < kEventTypeCount; ++t) {
    auto type = static_cast<EventType>(t);
    if (type != EventType::ExecFailed && m.has(type)) out.add(type);
  }
  out.set_nonzero_exit_only(m.nonzero_exit_only());
  return out;
}

}  // namespace

std::vector<int> proc_read_capabilities(const MonitorOptions& o) {
  std::vector<int> keep = {cap::kSysPtrace};
  if (o.proc_fields.env) keep.push_back(cap::kDacReadSearch);
  return keep;
}

namespace {

NetlinkOptions netlink_options(const MonitorOptions& o, const Subscription& sub) {
  NetlinkOptions n;
  n.events = without_bpf_only(sub.kernel_events);
  n.receive_buffer_bytes = o.receive_buffer_bytes;
  n.force_receive_buffer = o.force_buffers;
  // Without /proc reads there is nothing to race: one socket, no readers.
  n.max_exec_readers = sub.read_proc ? o.exec_readers : 0;
  n.reader_priority = o.priority;
  n.reader_capabilities = proc_read_capabilities(o);
  return n;
}

Result<StartedSource> start_netlink(const MonitorOptions& o, Enricher* enricher) {
  StartedSource s;
  s.backend = Backend::Netlink;
  s.subscription = derive_subscription(o, Backend::Netlink);
  if (s.subscription.kernel_events.has(EventType::ExecFailed)) {
    if (without_bpf_only(o.filter.types).empty()) {
      return make_error(
          "netlink backend: failed execs are seen only by the eBPF backend (the proc connector "
          "reports execs that succeed)");
    }
    s.missing_events.emplace_back("exec_failed");
    s.missing_why.push_back(
        "no failed execs: the proc connector reports only execs that succeed (the eBPF backend "
        "sees both)");
  }
  if (!enricher) s.subscription.read_proc = s.subscription.table = false;
  auto source = std::make_unique<NetlinkSource>(netlink_options(o, s.subscription));
  if (enricher) enricher->set_creds_from_table(s.subscription.creds_from_table);
  if (enricher && s.subscription.read_proc) {
    source->set_exec_handler(enricher->exec_handler_factory());
  }
  if (auto st = source->start(); !st) return st.error().context("netlink backend");
  if (enricher) {
    enricher->set_read_proc(s.subscription.read_proc);
    enricher->set_track_processes(s.subscription.table);
  }
  s.receive_priority =
      enricher && s.subscription.read_proc && o.exec_readers == 0 ? o.priority : Priority::Normal;
  s.source = std::move(source);
  return s;
}

#ifdef PROCTRAIL_WITH_BPF
// The event types no tracepoint carries here, which the proc connector gives.
constexpr EventType kConnectorOnly[] = {EventType::Uid,    EventType::Gid,  EventType::Sid,
                                        EventType::Ptrace, EventType::Comm, EventType::Coredump};

Result<StartedSource> start_bpf(const MonitorOptions& o, Enricher* enricher) {
  StartedSource s;
  s.backend = Backend::Bpf;
  s.subscription = derive_subscription(o, Backend::Bpf);
  if (!enricher) s.subscription.read_proc = s.subscription.table = false;
  BpfOptions b;
  b.events = s.subscription.kernel_events;
  b.max_argv_bytes = o.max_argv_bytes;
  b.ring_buffer_bytes = o.ring_buffer_bytes;
  b.follow_pids = o.filter.pids;
  auto bpf = std::make_unique<BpfSource>(b);
  // The kernel gives argv, exe, cwd and credentials; /proc is read only for what was asked
  // beyond that, and then as soon as each exec arrives.
  if (enricher && s.subscription.read_proc) bpf->set_exec_handler(enricher->exec_handler_factory());
  if (auto st = bpf->start(); !st) return st.error().context("bpf backend");
  if (enricher) {
    enricher->set_read_proc(s.subscription.read_proc);
    enricher->set_track_processes(s.subscription.table);
  }
  s.receive_priority = enricher && s.subscription.read_proc ? o.priority : Priority::Normal;

  EventMask extra;
  for (EventType t : kConnectorOnly) {
    if (s.subscription.kernel_events.has(t)) extra.add(t);
  }
  if (extra.empty()) {
    s.source = std::move(bpf);
    return s;
  }
  NetlinkOptions n = netlink_options(o, s.subscription);
  n.events = extra;
  n.max_exec_readers = 0;
  auto companion = std::make_unique<NetlinkSource>(n);
  if (auto st = companion->start(); !st) {
    for (EventType t : kConnectorOnly) {
      if (extra.has(t)) s.missing_events.emplace_back(event_type_name(t));
    }
    s.missing_why.push_back("no uid, gid, sid, ptrace, comm or coredump events: " +
                            st.error().message);
    s.source = std::move(bpf);
    return s;
  }
  s.source =
      std::make_unique<CombinedSource>(std::move(bpf), std::move(companion), "proc connector: ");
  return s;
}
#endif

}  // namespace

Result<StartedSource> start_source(const MonitorOptions& o, Enricher* enricher,
                                   const std::function<void(std::string_view)>& verbose) {
#ifdef PROCTRAIL_WITH_BPF
  if (o.backend != Backend::Netlink) {
    auto bpf = start_bpf(o, enricher);
    if (bpf) {
      bpf->reason = o.backend == Backend::Bpf ? "chosen by name"
                                              : "chosen automatically: the eBPF programs loaded";
      return bpf;
    }
    if (o.backend == Backend::Bpf) return bpf.error();
    if (verbose) verbose("eBPF backend unavailable, using netlink: " + bpf.error().message);
    auto s = start_netlink(o, enricher);
    if (!s) return s.error();
    s->reason = "eBPF unavailable (" + bpf.error().message + ")";
    return s;
  }
#else
  if (o.backend == Backend::Bpf) {
    return make_error(
        "bpf backend: this build has no eBPF backend (configure with -DPROCTRAIL_BPF=ON)");
  }
#endif
  (void)verbose;
  auto s = start_netlink(o, enricher);
  if (!s) return s.error();
  s->reason = o.backend == Backend::Netlink ? "chosen by name"
                                            : "this build has no eBPF backend";
  return s;
}

bool bpf_backend_built() {
#ifdef PROCTRAIL_WITH_BPF
  return true;
#else
  return false;
#endif
}

}  // namespace proctrail
