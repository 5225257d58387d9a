// NetlinkSource: events from the kernel's proc connector (NETLINK_CONNECTOR, CN_IDX_PROC).
//
// Promises:
//  - start() returns only once the kernel has acknowledged the subscription, or fails with one
//    line that names the cause (privilege, missing connector, network/pid/user namespace);
//  - only messages sent by the kernel (port id 0) with the proc connector's id are accepted;
//    anything else is counted and dropped;
//  - losses (ENOBUFS, per-CPU sequence gaps) come out as LostData events in stream order;
//  - the subscription is withdrawn when the source is destroyed.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>

#include "proctrail/clock.hpp"
#include "proctrail/cn_proc_wire.hpp"
#include "proctrail/seq_tracker.hpp"
#include "proctrail/source.hpp"
#include "proctrail/unique_fd.hpp"

namespace proctrail {

struct NetlinkOptions {
  // Event types the consumer needs. When this is a strict subset of all events, the kernel is
  // asked to filter (Linux 6.6+); older kernels get the legacy subscription and every event.
  EventMask events = EventMask::all();
  // Requested socket receive buffer. SO_RCVBUFFORCE is tried first (CAP_NET_ADMIN), then
  // SO_RCVBUF, which the kernel caps at net.core.rmem_max.
  int receive_buffer_bytes = 32 << 20;
  std::chrono::milliseconds ack_timeout{1000};
  // Where namespace files are looked up; tests point this elsewhere.
  std::string proc_root = "/proc";
};

class NetlinkSource final : public EventSource {
 public:
  explicit NetlinkSource(NetlinkOptions options);
  ~NetlinkSource() override;
  NetlinkSource(const NetlinkSource&) = delete;
  NetlinkSource& operator=(const NetlinkSource&) = delete;

  Status start() override;
  Status poll(std::chrono::milliseconds timeout, std::vector<Event>& out) override;
  [[nodiscard]] uint64_t watermark_ns() const override { return watermark_ns_; }
  [[nodiscard]] int fd() const override { return sock_.get(); }
  [[nodiscard]] SourceStats stats() const override { return stats_; }
  [[nodiscard]] std::string_view name() const override { return "netlink"; }
  [[nodiscard]] std::vector<std::string> notes() const override;

  // Whether the kernel filters events for this socket (Linux 6.6 proc_input honoured).
  [[nodiscard]] bool kernel_filtering() const { return kernel_filter_bits_.has_value(); }
  [[nodiscard]] int effective_receive_buffer() const { return rcvbuf_effective_; }

 private:
  Status check_namespaces() const;
  Status open_socket();
  Status subscribe();
  Status send_request(cn_proc::McastOp op, std::optional<uint32_t> bits, uint32_t nonce);
  // Waits for the kernel's ack carrying nonce+1; other messages received meanwhile are kept.
  // Returns the ack's error code, or nullopt on timeout.
  Result<std::optional<uint32_t>> wait_ack(uint32_t nonce);
  // Receives what is queued now, without blocking. Returns the number of datagrams read.
  Result<size_t> drain(std::vector<Event>& out);
  void accept(cn_proc::Message&& msg, std::vector<Event>& out);
  void unsubscribe();

  NetlinkOptions options_;
  UniqueFd sock_;
  uint32_t port_id_ = 0;
  bool subscribed_ = false;
  std::optional<uint32_t> kernel_filter_bits_;
  int rcvbuf_effective_ = 0;
  bool rcvbuf_forced_ = false;
  std::string filter_note_;
  SeqTracker seq_;
  SourceStats stats_;
  ClockSync clock_;
  uint64_t last_clock_refresh_ns_ = 0;
  uint64_t watermark_ns_ = 0;
  uint32_t nonce_base_ = 0;
  std::vector<Event> early_;  // events that arrived while waiting for an ack
  struct RecvBuffers;
  std::unique_ptr<RecvBuffers> bufs_;
};

}  // namespace proctrail
