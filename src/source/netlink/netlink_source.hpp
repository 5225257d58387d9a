// NetlinkSource: events from the kernel's proc connector (NETLINK_CONNECTOR, CN_IDX_PROC).
//
// Promises:
//  - start() returns only once the kernel has acknowledged every subscription, or fails with
//    one line that names the cause (privilege, missing connector, network/pid/user namespace);
//  - only messages sent by the kernel (port id 0) with the proc connector's id are accepted;
//    anything else is counted and dropped;
//  - only the event types asked for are delivered, whatever the kernel made of the request
//    (a kernel older than 6.6 ignores the filtered subscription and sends everything);
//  - losses come out as LostData events with a count: the messages each socket's buffer
//    dropped (the kernel counts them), plus, without a type filter, per-CPU sequence gaps
//    beyond those (messages the kernel sent to no socket at all);
//  - every subscription is withdrawn when the source is destroyed.
//
// The parts: Channel (one socket: filter, checks, drop count), Subscriber (the handshake),
// ExecReaders (a thread per CPU that reads /proc at each exec; see exec_readers.hpp), and this
// class, which wires them and merges their streams: a watermark for ordering, sequence gaps
// and drop counts for losses. Exec events go to a socket per CPU plus one for the CPUs
// without a reader; all other events go to a socket that wakes nobody and is read on poll().
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

#include "proctrail/filter.hpp"
#include "proctrail/source.hpp"
#include "source/netlink/channel.hpp"
#include "source/netlink/exec_readers.hpp"
#include "source/netlink/seq_gaps.hpp"
#include "source/netlink/subscription.hpp"
#include "util/privileges.hpp"
#include "util/clock.hpp"
#include "util/sched.hpp"

namespace proctrail {

struct NetlinkOptions {
  // Event types the consumer needs. When this is a strict subset of all events, the kernel is
  // asked to filter (Linux 6.6+); older kernels get the legacy subscription and every event.
  EventMask events = EventMask::all();
  // Exec reader threads, one per allowed CPU up to this many (64 at most). 0: one socket for
  // everything, read by the thread that calls poll(), which also runs the exec handler.
  size_t max_exec_readers = 64;
  Priority reader_priority = Priority::Realtime;
  // What the exec readers keep once set up: reading another user's /proc/PID.
  std::vector<int> reader_capabilities = {cap::kSysPtrace};
  // Requested receive buffer of each socket. SO_RCVBUFFORCE is tried first (CAP_NET_ADMIN),
  // then SO_RCVBUF, which the kernel caps at net.core.rmem_max.
  int receive_buffer_bytes = 32 << 20;
  // Off: SO_RCVBUF only, capped at net.core.rmem_max whatever the capabilities.
  bool force_receive_buffer = true;
  std::chrono::milliseconds ack_timeout{1000};
  // Ask the kernel to filter event types (Linux 6.6 proc_input) when a subset is wanted.
  // Off, every kernel is treated like one that ignores the request; the socket filters still
  // keep only the types asked for.
  bool kernel_filter = true;
  // Where namespace files are looked up; tests point this elsewhere.
  std::string proc_root = "/proc";
};

class NetlinkSource final : public EventSource {
 public:
  explicit NetlinkSource(NetlinkOptions options);
  ~NetlinkSource() override;
  NetlinkSource(const NetlinkSource&) = delete;
  NetlinkSource& operator=(const NetlinkSource&) = delete;

  void set_exec_handler(ExecHandlerFactory factory) override {
    handler_factory_ = std::move(factory);
  }
  Status start() override;
  Status poll(std::chrono::milliseconds timeout, std::vector<Event>& out) override;
  [[nodiscard]] uint64_t watermark_ns() const override { return watermark_ns_; }
  // With exec readers: an eventfd readable when exec events are waiting (call poll() at
  // least every 50 ms for the others); without: the socket.
  [[nodiscard]] int fd() const override;
  [[nodiscard]] SourceStats stats() const override;
  [[nodiscard]] std::string_view name() const override { return "netlink"; }
  [[nodiscard]] std::vector<std::string> notes() const override;

  // Whether the kernel filters event types for this source (Linux 6.6 proc_input honoured).
  [[nodiscard]] bool kernel_filtering() const { return kernel_filtering_; }

 private:
  // Decides what a decoded message becomes (acks recorded, types not asked for counted and
  // kept out), and runs the exec handler on exec events. On any receiving thread.
  void accept(cn_proc::Message&& msg, const ExecHandler* handler,
              std::vector<netlink::Received>& out);
  std::vector<netlink::Channel*> channels();
  // Appends lost records for what the sockets' buffers dropped since the last call, and for
  // sequence gaps the drops do not explain.
  void account_losses(const std::vector<SeqGapFinder::Gap>& gaps, std::vector<Event>& out);

  NetlinkOptions options_;
  ExecHandlerFactory handler_factory_;
  ExecHandler poll_handler_;  // the handler of the thread calling poll(), without readers
  netlink::Subscriber subscriber_;
  std::unique_ptr<netlink::Channel> other_;  // everything but exec (everything without readers)
  std::vector<std::unique_ptr<netlink::Channel>> execs_;  // exec channels: per CPU, then the rest
  std::unique_ptr<netlink::ExecReaders> readers_;
  std::unique_ptr<netlink::RecvBuffers> poll_bufs_;
  bool kernel_filtering_ = false;
  bool seq_tracking_ = false;
  std::string filter_note_;
  std::string reader_note_;
  uint64_t started_ns_ = 0;  // every socket is subscribed from here on
  uint64_t watermark_ns_ = 0;
  uint64_t other_drained_ns_ = 0;
  std::atomic<bool> acked_{false};  // our first ack is put in the stream once
  std::atomic<uint64_t> filter_leaks_{0};
  std::atomic<uint64_t> received_{0};

  // Loss accounting (poll()'s thread).
  std::vector<uint64_t> drops_seen_;  // per channel, as channels() lists them
  bool drops_counted_ = true;         // the kernel reports each socket's drops (SO_MEMINFO)
  uint64_t drops_total_ = 0;          // dropped by our sockets, reported
  uint64_t gaps_total_ = 0;           // missing sequence numbers settled so far
  uint64_t gaps_reported_ = 0;        // of those, reported beyond the drops
  std::atomic<uint64_t> lost_{0}, loss_reports_{0};
  std::vector<netlink::Received> early_;  // received during the handshake
  SeqGapFinder gaps_;
  ClockSync clock_;
};

}  // namespace proctrail
