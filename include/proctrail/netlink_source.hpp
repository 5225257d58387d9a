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
// Exec readers. An exec event says only "pid N exec'd"; the rest must be read from /proc
// before the process exits. The kernel sends the event from the CPU the process runs on, so
// proctrail gives each CPU a socket of its own (a socket filter keeps only that CPU's exec
// events) and a thread pinned to that CPU at real-time priority. The kernel then wakes the
// reader on that very CPU, where it preempts the process before it returns to user space: the
// exec handler reads /proc while the process is still at the end of execve. CPUs without a
// reader share one more exec socket; all other events go to a socket that never wakes anyone
// and is read on poll().
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "proctrail/clock.hpp"
#include "proctrail/cn_proc_wire.hpp"
#include "proctrail/sched.hpp"
#include "proctrail/seq_gaps.hpp"
#include "proctrail/source.hpp"
#include "proctrail/unique_fd.hpp"

namespace proctrail {

struct NetlinkOptions {
  // Event types the consumer needs. When this is a strict subset of all events, the kernel is
  // asked to filter (Linux 6.6+); older kernels get the legacy subscription and every event.
  EventMask events = EventMask::all();
  // Exec reader threads, one per allowed CPU up to this many (64 at most). 0: one socket for
  // everything, read by the thread that calls poll(), which also runs the exec handler.
  size_t max_exec_readers = 64;
  Priority reader_priority = Priority::Realtime;
  // Requested receive buffer of each socket. SO_RCVBUFFORCE is tried first (CAP_NET_ADMIN),
  // then SO_RCVBUF, which the kernel caps at net.core.rmem_max.
  int receive_buffer_bytes = 32 << 20;
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
  struct RecvBuffers;
  // A message as received: the event, its sender's sequence number, and whether it goes into
  // the stream.
  struct Received {
    Event event;
    uint32_t seq = 0;
    bool has_seq = true;  // from the kernel, numbered (not a loss record we made)
    bool emit = true;     // false: only its sequence number counts (other listeners' acks)
  };
  // One subscribed socket.
  struct Channel {
    UniqueFd sock;
    uint32_t port_id = 0;
    bool subscribed = false;
    uint32_t kernel_bits = 0;  // PROC_EVENT_* bits of a kernel filter; 0: none
    int cpu = -1;              // exec reader: the CPU it serves (-1: the rest)
    uint64_t drained_ns = 0;   // the socket was empty at this CLOCK_MONOTONIC time
    std::chrono::milliseconds receive_timeout{-1};
    uint64_t drops_seen = 0;  // the socket's drop counter when last read (poll()'s thread)
    bool overflowed = false;  // ENOBUFS seen since poll() last looked
    SourceStats stats;
    ClockSync clock;  // the channel's receiving thread only
    std::thread reader;
  };

  Status open_channel(Channel& c, cn_proc::Route route, const std::vector<int>& cpus,
                      std::optional<uint32_t> types);
  Status subscribe(Channel& c, std::optional<uint32_t> narrow_to, uint32_t nonce);
  Status send_request(Channel& c, cn_proc::McastOp op, std::optional<uint32_t> bits,
                      uint32_t nonce);
  // Waits for our ack with nonce+1; other messages received meanwhile are kept for poll().
  // Returns the ack's error code, or nullopt on timeout.
  Result<std::optional<uint32_t>> wait_ack(Channel& c, uint32_t nonce);
  // Receives what is queued; with block, first waits up to the receive timeout for one
  // message. Runs handler on exec events. Fails only on a receive error.
  // *drained_at: when the socket was found empty (0: not this time).
  Status receive(Channel& c, RecvBuffers& bufs, bool block, const ExecHandler* handler,
                 std::vector<Received>& out, uint64_t* drained_at);
  void accept(Channel& c, cn_proc::Message&& msg, const ExecHandler* handler,
              std::vector<Received>& out, SourceStats& stats);
  void run_reader(Channel& c);
  // Appends lost records for what the sockets' buffers dropped since the last call, and for
  // sequence gaps the drops do not explain.
  void account_losses(const std::vector<SeqGapFinder::Gap>& gaps, std::vector<Event>& out);
  void set_receive_timeout(Channel& c, std::chrono::milliseconds t);
  void unsubscribe(Channel& c);
  std::vector<Channel*> channels();
  // The kernel's count of messages this socket dropped; nullopt when it cannot be read.
  static std::optional<uint64_t> socket_drops(const Channel& c);

  NetlinkOptions options_;
  ExecHandlerFactory handler_factory_;
  ExecHandler poll_handler_;        // the handler of the thread calling poll(), without readers
  std::unique_ptr<Channel> other_;  // everything but exec (everything without readers)
  std::vector<std::unique_ptr<Channel>> execs_;  // exec readers: per CPU, then the rest
  std::unique_ptr<RecvBuffers> poll_bufs_;
  bool kernel_filtering_ = false;
  bool seq_tracking_ = false;
  int rcvbuf_effective_ = 0;
  bool rcvbuf_forced_ = false;
  std::string filter_note_;
  std::string reader_note_;
  bool drops_counted_ = true;   // the kernel reports each socket's drops (SO_MEMINFO)
  uint64_t drops_total_ = 0;    // dropped by our sockets, reported
  uint64_t gaps_total_ = 0;     // missing sequence numbers settled so far
  uint64_t gaps_reported_ = 0;  // of those, reported beyond the drops
  uint64_t started_ns_ = 0;     // every socket is subscribed from here on
  uint64_t watermark_ns_ = 0;
  uint32_t nonce_base_ = 0;
  bool acked_ = false;  // our first ack is put in the stream once

  // Shared with the reader threads.
  mutable std::mutex mu_;
  std::vector<Received> inbox_;                      // from readers, not yet taken by poll()
  std::vector<std::pair<uint32_t, uint32_t>> acks_;  // (nonce, error) of our acks so far
  std::condition_variable inbox_full_;
  std::optional<Error> reader_error_;
  std::vector<std::string> reader_priorities_;  // what each reader got, once it started
  std::atomic<bool> stop_{false};
  UniqueFd wake_;                      // eventfd: readable when the inbox has something
  std::optional<bool> proc_input_ok_;  // whether the kernel answered a proc_input request

  SeqGapFinder gaps_;
  ClockSync clock_;  // poll()'s thread only
};

}  // namespace proctrail
