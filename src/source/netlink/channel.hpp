// Channel: one proc connector socket. It keeps, with a socket filter set before it subscribes,
// only the messages that are its to read; accepts only what the kernel sent (port id 0) with
// the connector's id and sound lengths; and knows how many messages its full buffer dropped.
// The subscription itself is Subscriber's business (subscription.hpp).
#pragma once

#include <linux/netlink.h>
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "proctrail/source.hpp"
#include "source/netlink/cn_proc.hpp"
#include "util/clock.hpp"
#include "util/unique_fd.hpp"

namespace proctrail::netlink {

// Room for one recvmmsg call.
struct RecvBuffers {
  static constexpr size_t kBatch = 64;
  static constexpr size_t kCapacity = 512;  // the kernel sends 76 bytes; forged ones may be big
  std::array<std::array<std::byte, kCapacity>, kBatch> data{};
  std::array<sockaddr_nl, kBatch> addrs{};
  std::array<iovec, kBatch> iov{};
  std::array<mmsghdr, kBatch> msgs{};

  void rearm();
};

class Channel {
 public:
  struct Config {
    cn_proc::Route route = cn_proc::Route::All;
    std::vector<int> cpus;            // for the exec routes
    std::optional<uint32_t> types;    // PROC_EVENT_* bits to keep; nullopt: all
    int cpu = -1;                     // the CPU an exec reader serves (-1: none, or several)
    int receive_buffer_bytes = 0;     // 0: the system's default
    bool force_receive_buffer = true;  // past net.core.rmem_max, when CAP_NET_ADMIN allows
    std::string proc_root = "/proc";  // where the namespace named in errors is looked up
  };

  static Result<std::unique_ptr<Channel>> open(const Config& config);
  // Withdraws the subscription, if there is one (best effort: nobody is left to tell).
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Sends a (un)subscribe request (see cn_proc::encode_request).
  Status request(cn_proc::McastOp op, std::optional<uint32_t> event_bits, uint32_t nonce);
  // The kernel acknowledged a subscription: the destructor will withdraw it with this nonce.
  void subscribed(uint32_t unsubscribe_nonce) { unsubscribe_nonce_ = unsubscribe_nonce; }

  using OnMessage = std::function<void(cn_proc::Message&&)>;
  // Receives what is queued and hands each sound message to on_message, on this thread. With
  // block, first waits up to the receive timeout for one. Fails only on a receive error.
  // *drained_at: when the socket was found empty (0: not this time).
  Status receive(RecvBuffers& bufs, bool block, const OnMessage& on_message, uint64_t* drained_at);
  void set_receive_timeout(std::chrono::milliseconds t);

  // Whether the buffer overflowed (ENOBUFS) since the last call.
  bool take_overflow();
  // The kernel's count of messages this socket dropped; nullopt when it cannot be read.
  [[nodiscard]] std::optional<uint64_t> drops() const;

  [[nodiscard]] int fd() const { return sock_.get(); }
  [[nodiscard]] int cpu() const { return config_.cpu; }
  [[nodiscard]] int receive_buffer() const { return rcvbuf_effective_; }
  [[nodiscard]] bool receive_buffer_forced() const { return rcvbuf_forced_; }
  // Messages rejected (not from the kernel) and undecodable, so far.
  [[nodiscard]] SourceStats stats() const;
  // Wall-clock conversion for the thread that receives on this channel.
  ClockSync& clock() { return clock_; }

 private:
  explicit Channel(Config config) : config_(std::move(config)) {}

  Config config_;
  UniqueFd sock_;
  uint32_t port_id_ = 0;
  std::optional<uint32_t> unsubscribe_nonce_;
  std::chrono::milliseconds receive_timeout_{-1};
  int rcvbuf_effective_ = 0;
  bool rcvbuf_forced_ = false;
  ClockSync clock_;
  mutable std::mutex mu_;
  SourceStats stats_;
  bool overflowed_ = false;
};

}  // namespace proctrail::netlink
