#include "source_factory.hpp"

#include "proctrail/netlink_source.hpp"

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

Result<std::unique_ptr<EventSource>> start_netlink(const Options& o, Enricher* enricher) {
  NetlinkOptions n;
  n.events = kernel_events(o, enricher != nullptr);
  n.receive_buffer_bytes = o.receive_buffer_bytes;
  // Without /proc reads (seed format) there is nothing to race: one socket, no readers.
  n.max_exec_readers = enricher ? o.exec_readers : 0;
  n.reader_priority = o.priority;
  auto source = std::make_unique<NetlinkSource>(n);
  if (enricher) source->set_exec_handler(enricher->exec_handler_factory());
  if (auto s = source->start(); !s) return s.error().context("netlink backend");
  return std::unique_ptr<EventSource>(std::move(source));
}

}  // namespace

Result<ChosenSource> make_source(const Options& o, Enricher* enricher,
                                 const std::function<void(std::string_view)>& verbose) {
  (void)verbose;
  if (o.backend == Backend::Bpf) {
    return make_error(
        "bpf backend: this build has no eBPF backend (configure with -DPROCTRAIL_BPF=ON)");
  }
  auto s = start_netlink(o, enricher);
  if (!s) return s.error();
  std::string reason = o.backend == Backend::Netlink ? "chosen with --backend netlink"
                                                     : "this build has no eBPF backend";
  Priority receive = enricher && o.exec_readers == 0 ? o.priority : Priority::Normal;
  return ChosenSource{std::move(*s), reason, receive};
}

}  // namespace proctrail::cli
