#include "source/netlink/subscription.hpp"

#include <poll.h>

#include <random>
#include <string>

namespace proctrail::netlink {

Subscriber::Subscriber(std::chrono::milliseconds ack_timeout, bool kernel_filter)
    : ack_timeout_(ack_timeout), kernel_filter_(kernel_filter) {
  std::random_device rd;
  // Acks go to every listener; a random nonce tells ours apart. The low bits stay free for the
  // requests of one run and the +1 the kernel adds.
  base_ = rd() & 0x7fff0000u;
}

bool Subscriber::record(const AckData& ack) {
  if (ack.nonce - 1 - base_ >= 0x10000) return false;
  std::lock_guard lock(mu_);
  acks_.emplace_back(ack.nonce, ack.error);
  return true;
}

bool Subscriber::acked(uint32_t nonce, uint32_t* error) const {
  std::lock_guard lock(mu_);
  for (const auto& [value, err] : acks_) {
    if (value == nonce + 1) {
      *error = err;
      return true;
    }
  }
  return false;
}

Result<std::optional<uint32_t>> Subscriber::wait_ack(Channel& c, uint32_t nonce, RecvBuffers& bufs,
                                                     const Channel::OnMessage& on_message) {
  const uint64_t deadline =
      monotonic_now_ns() + static_cast<uint64_t>(ack_timeout_.count()) * 1'000'000;
  for (;;) {
    uint32_t error = 0;
    if (acked(nonce, &error)) return std::optional<uint32_t>(error);
    uint64_t now = monotonic_now_ns();
    if (now >= deadline) return std::optional<uint32_t>();
    pollfd p{c.fd(), POLLIN, 0};
    int ms = static_cast<int>((deadline - now + 999'999) / 1'000'000);
    int r = ::poll(&p, 1, ms);
    if (r < 0 && errno != EINTR) return system_error("wait for the proc connector's answer");
    // What arrives meanwhile goes where a receive would put it; acks are recorded there.
    if (r > 0) {
      if (auto s = c.receive(bufs, false, on_message, nullptr); !s) return s.error();
    }
  }
}

Status Subscriber::subscribe(Channel& c, std::optional<uint32_t> narrow_to, RecvBuffers& bufs,
                             const Channel::OnMessage& on_message) {
  const uint32_t nonce = base_ + 8 * next_++;
  auto answered = [&](std::optional<uint32_t> ack) -> Status {
    if (!ack) {
      return make_error("the kernel did not answer the proc connector subscription within " +
                        std::to_string(ack_timeout_.count()) +
                        " ms: it probably lacks CONFIG_PROC_EVENTS");
    }
    if (*ack != 0) {
      return system_error("the proc connector rejected the subscription", static_cast<int>(*ack));
    }
    c.subscribed(unsubscribe_nonce());
    return {};
  };
  const bool try_filter = narrow_to && kernel_filter_ && proc_input_ok_ != false;
  if (try_filter && proc_input_ok_ == true) {
    // Known to work: subscribe to everything (an ack must get through), then narrow.
    if (auto s = c.request(cn_proc::McastOp::Listen, cn_proc::kernel_all_events(), nonce); !s) {
      return s;
    }
    auto ack = wait_ack(c, nonce, bufs, on_message);
    if (!ack) return ack.error();
    if (auto s = answered(*ack); !s) return s;
  } else {
    if (try_filter) {
      // Does this kernel know proc_input (Linux 6.6)? Older ones drop the 8-byte request
      // without a word, so waiting for its answer would cost the whole timeout. The kernel
      // handles requests in the order sent, so the answer to a legacy request sent right after
      // is a barrier: our first request's ack is either ahead of it or never coming.
      if (auto s = c.request(cn_proc::McastOp::Listen, cn_proc::kernel_all_events(), nonce); !s) {
        return s;
      }
    }
    if (auto s = c.request(cn_proc::McastOp::Listen, std::nullopt, nonce + 4); !s) return s;
    auto ack = wait_ack(c, nonce + 4, bufs, on_message);
    if (!ack) return ack.error();
    if (auto s = answered(*ack); !s) return s;
    if (try_filter) {
      uint32_t unused = 0;
      proc_input_ok_ = acked(nonce, &unused);
    }
  }
  if (narrow_to && kernel_filter_ && proc_input_ok_ == true) {
    // Narrowed without waiting: the request takes effect as the kernel receives it.
    return c.request(cn_proc::McastOp::Listen, *narrow_to, nonce + 2);
  }
  return {};
}

}  // namespace proctrail::netlink
