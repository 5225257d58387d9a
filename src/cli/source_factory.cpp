#include "source_factory.hpp"

#include "proctrail/netlink_source.hpp"
#ifdef PROCTRAIL_WITH_BPF
#include "proctrail/bpf_source.hpp"
#endif

namespace proctrail::cli {

EventMask kernel_events(const Options& o, bool enrich) {
  EventMask m = o.events;
  if (enrich) {
    EventMask table;
    table.add(EventType::Fork);
    table.add(EventType::Exec);
    table.add(EventType::Exit);
    m = m | table;
  }
  return m;
}

namespace {

NetlinkOptions netlink_options(const Options& o, bool enrich) {
  NetlinkOptions n;
  n.events = kernel_events(o, enrich);
  n.receive_buffer_bytes = o.receive_buffer_bytes;
  // Without /proc reads (seed format) there is nothing to race: one socket, no readers.
  n.max_exec_readers = enrich ? o.exec_readers : 0;
  n.reader_priority = o.priority;
  return n;
}

Result<std::unique_ptr<EventSource>> start_netlink(const Options& o, Enricher* enricher) {
  auto source = std::make_unique<NetlinkSource>(netlink_options(o, enricher != nullptr));
  if (enricher) source->set_exec_handler(enricher->exec_handler_factory());
  if (auto s = source->start(); !s) return s.error().context("netlink backend");
  return std::unique_ptr<EventSource>(std::move(source));
}

#ifdef PROCTRAIL_WITH_BPF
Result<std::unique_ptr<EventSource>> start_bpf(const Options& o, Enricher* enricher) {
  BpfOptions b;
  // The process table needs forks and exits only for what it adds: exits (command, lifetime)
  // and ancestry. Without them the kernel runs the exec program alone.
  const bool table =
      enricher && (o.events.has(EventType::Exit) || o.events.has(EventType::Fork) || o.ancestry);
  b.events = kernel_events(o, table);
  b.max_argv_bytes = o.max_argv_bytes;
  b.ring_buffer_bytes = o.ring_buffer_bytes;
  b.companion = netlink_options(o, false);
  auto source = std::make_unique<BpfSource>(b);
  // The kernel gives argv, exe, cwd and credentials; /proc is read only for what was asked
  // beyond that (--proc-fields, --env), and then as soon as each exec arrives.
  const bool read_proc = o.proc_fields_explicit || o.proc_fields.env;
  if (enricher && read_proc) source->set_exec_handler(enricher->exec_handler_factory());
  if (auto s = source->start(); !s) return s.error().context("bpf backend");
  if (enricher) {
    enricher->set_read_proc(read_proc);
    enricher->set_track_processes(table);
  }
  return std::unique_ptr<EventSource>(std::move(source));
}
#endif

}  // namespace

Result<ChosenSource> make_source(const Options& o, Enricher* enricher,
                                 const std::function<void(std::string_view)>& verbose) {
  Priority receive = enricher && o.exec_readers == 0 ? o.priority : Priority::Normal;
#ifdef PROCTRAIL_WITH_BPF
  if (o.backend != Backend::Netlink) {
    auto bpf = start_bpf(o, enricher);
    if (bpf) {
      std::string reason = o.backend == Backend::Bpf
                               ? "chosen with --backend bpf"
                               : "chosen automatically: the eBPF programs loaded";
      // The ring buffer is read on the polling thread, which also runs exec handlers.
      Priority p = enricher && enricher->reads_proc() ? o.priority : Priority::Normal;
      (void)receive;
      return ChosenSource{std::move(*bpf), reason, p};
    }
    if (o.backend == Backend::Bpf) return bpf.error();
    verbose("eBPF backend unavailable, using netlink: " + bpf.error().message);
    auto s = start_netlink(o, enricher);
    if (!s) return s.error();
    return ChosenSource{std::move(*s), "eBPF unavailable (" + bpf.error().message + ")", receive};
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
  std::string reason = o.backend == Backend::Netlink ? "chosen with --backend netlink"
                                                     : "this build has no eBPF backend";
  return ChosenSource{std::move(*s), reason, receive};
}

}  // namespace proctrail::cli
