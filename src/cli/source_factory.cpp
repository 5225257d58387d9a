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

Result<std::unique_ptr<EventSource>> start_netlink(const Options& o, bool enrich) {
  NetlinkOptions n;
  n.events = kernel_events(o, enrich);
  n.receive_buffer_bytes = o.receive_buffer_bytes;
  auto source = std::make_unique<NetlinkSource>(n);
  if (auto s = source->start(); !s) return s.error().context("netlink backend");
  return std::unique_ptr<EventSource>(std::move(source));
}

}  // namespace

Result<ChosenSource> make_source(const Options& o, bool enrich,
                                 const std::function<void(std::string_view)>& verbose) {
  (void)verbose;
  if (o.backend == Backend::Bpf) {
    return make_error(
        "bpf backend: this build has no eBPF backend (configure with -DPROCTRAIL_BPF=ON)");
  }
  auto s = start_netlink(o, enrich);
  if (!s) return s.error();
  std::string reason = o.backend == Backend::Netlink ? "chosen with --backend netlink"
                                                     : "this build has no eBPF backend";
  return ChosenSource{std::move(*s), reason};
}

}  // namespace proctrail::cli
