// Subscriber: the proc connector handshake. It subscribes channels and waits for the kernel's
// acknowledgement, tells our acknowledgements from other listeners' by a random nonce, and
// learns whether the kernel filters event types (Linux 6.6 proc_input) without ever waiting
// for an answer an older kernel does not send.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "proctrail/event.hpp"
#include "proctrail/result.hpp"
#include "source/netlink/channel.hpp"

namespace proctrail::netlink {

class Subscriber {
 public:
  // kernel_filter: ask for the 6.6 kernel-side type filter when a subset is wanted.
  Subscriber(std::chrono::milliseconds ack_timeout, bool kernel_filter);

  // Subscribes c. With narrow_to (PROC_EVENT_* bits), also asks the kernel to filter when it
  // can. Messages that arrive while waiting go to on_message, as they would on a receive.
  Status subscribe(Channel& c, std::optional<uint32_t> narrow_to, RecvBuffers& bufs,
                   const Channel::OnMessage& on_message);

  // Records an ack seen on any channel; true when it answers one of our requests.
  bool record(const AckData& ack);

  // Whether the kernel answered a proc_input request (nullopt: not asked yet).
  [[nodiscard]] std::optional<bool> kernel_filters() const { return proc_input_ok_; }
  // The nonce to withdraw subscriptions with.
  [[nodiscard]] uint32_t unsubscribe_nonce() const { return base_ + 0xff00; }

 private:
  // Waits for the ack of our request with `nonce` (the kernel answers nonce + 1). nullopt on
  // timeout; else the kernel's error code (0: accepted).
  Result<std::optional<uint32_t>> wait_ack(Channel& c, uint32_t nonce, RecvBuffers& bufs,
                                           const Channel::OnMessage& on_message);
  [[nodiscard]] bool acked(uint32_t nonce, uint32_t* error) const;

  std::chrono::milliseconds ack_timeout_;
  bool kernel_filter_;
  uint32_t base_;
  uint32_t next_ = 0;  // requests made so far, for their nonces
  std::optional<bool> proc_input_ok_;
  mutable std::mutex mu_;  // record() is called from the reader threads too
  std::vector<std::pair<uint32_t, uint32_t>> acks_;  // (ack value, error) of ours
};

}  // namespace proctrail::netlink
