#include "source/netlink/channel.hpp"

#include <linux/connector.h>
#include <linux/filter.h>
#include <linux/sock_diag.h>

#include "util/namespaces.hpp"

namespace proctrail::netlink {

namespace {

// One receive call takes at most this many datagrams, so a flood cannot starve the caller.
constexpr size_t kMaxDatagramsPerCall = 4096;

}  // namespace

void RecvBuffers::rearm() {
  for (size_t i = 0; i < kBatch; ++i) {
    iov[i] = {data[i].data(), data[i].size()};
    msgs[i] = {};
    msgs[i].msg_hdr.msg_name = &addrs[i];
    msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_nl);
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
}

Result<std::unique_ptr<Channel>> Channel::open(const Config& config) {
  std::unique_ptr<Channel> c(new Channel(config));
  int fd = socket(PF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR);
  if (fd < 0) {
    int err = errno;
    if (err == EPROTONOSUPPORT) {
      return make_error("this kernel has no netlink connector (CONFIG_CONNECTOR is off)");
    }
    return system_error("create netlink connector socket", err);
  }
  c->sock_.reset(fd);

  // The filter goes on before the subscription, so the socket never holds a message that is
  // another socket's to read, or of a type nobody asked for.
  if (config.route != cn_proc::Route::All || config.types) {
    auto prog = cn_proc::socket_filter(config.route, config.cpus, config.types);
    sock_fprog fprog{};
    fprog.len = static_cast<unsigned short>(prog.size());
    fprog.filter = reinterpret_cast<sock_filter*>(prog.data());
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog) != 0) {
      return system_error("attach socket filter to the netlink socket");
    }
  }

  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = CN_IDX_PROC;
  addr.nl_pid = 0;  // let the kernel pick a free port id
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    if (err == EPERM || err == EACCES) {
      return make_error(
          "joining the proc connector's multicast group was refused: this kernel lets only "
          "CAP_NET_ADMIN listen (some from Linux 6.6 on let anyone); run as root");
    }
    return system_error("bind netlink connector socket", err);
  }
  socklen_t len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) c->port_id_ = addr.nl_pid;

  int want = config.receive_buffer_bytes;
  if (want > 0) {
    c->rcvbuf_forced_ = config.force_receive_buffer &&
                        setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) == 0;
    if (!c->rcvbuf_forced_ && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want) != 0) {
      return system_error("set netlink receive buffer");
    }
  }
  int got = 0;
  len = sizeof got;
  if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len) == 0) c->rcvbuf_effective_ = got;
  return c;
}

Channel::~Channel() {
  if (unsubscribe_nonce_ && sock_.valid()) {
    (void)request(cn_proc::McastOp::Ignore, std::nullopt, *unsubscribe_nonce_);
  }
}

Status Channel::request(cn_proc::McastOp op, std::optional<uint32_t> event_bits, uint32_t nonce) {
  auto msg = cn_proc::encode_request(op, event_bits, nonce, port_id_);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;  // port id 0: the kernel
  for (;;) {
    ssize_t n = sendto(sock_.get(), msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&kernel),
                       sizeof kernel);
    if (n >= 0) return {};
    if (errno == EINTR) continue;
    if (errno == ECONNREFUSED) {
      return make_error(
          "the kernel refused the subscription: the proc connector serves only the initial "
          "network namespace, and this process is in " +
          namespace_name(config_.proc_root, "net") + "; run proctrail on the host");
    }
    return system_error("send subscription to the proc connector");
  }
}

void Channel::set_receive_timeout(std::chrono::milliseconds t) {
  if (t == receive_timeout_) return;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  if (setsockopt(sock_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0) receive_timeout_ = t;
}

Status Channel::receive(RecvBuffers& bufs, bool block, const OnMessage& on_message,
                        uint64_t* drained_at) {
  SourceStats delta;
  uint64_t drained = 0;
  bool overflow = false;
  Status status;
  size_t total = 0;
  bool first = true;
  while (total < kMaxDatagramsPerCall) {
    bufs.rearm();
    // One call per wakeup: block for the first message (bounded by SO_RCVTIMEO), then take
    // whatever else is queued without waiting.
    const int flags = block && first ? MSG_WAITFORONE : MSG_DONTWAIT;
    first = false;
    int n = recvmmsg(sock_.get(), bufs.msgs.data(), RecvBuffers::kBatch, flags, nullptr);
    const uint64_t after = monotonic_now_ns();
    if (n < 0) {
      int err = errno;
      if (err == EINTR) break;  // a signal: let the caller look at its stop flag
      if (err == EAGAIN || err == EWOULDBLOCK) {
        drained = after;
        break;
      }
      if (err == ENOBUFS) {
        // The socket overflowed: the kernel dropped messages for us and counted them
        // (drops()). The error only says it happened.
        overflow = true;
        continue;
      }
      status = system_error("receive from the proc connector", err);
      break;
    }
    clock_.refresh_if_older(after);
    for (int i = 0; i < n; ++i) {
      const mmsghdr& m = bufs.msgs[static_cast<size_t>(i)];
      const sockaddr_nl& from = bufs.addrs[static_cast<size_t>(i)];
      if (m.msg_hdr.msg_namelen != sizeof(sockaddr_nl) || from.nl_family != AF_NETLINK ||
          from.nl_pid != 0) {
        ++delta.rejected;  // not from the kernel: a forged or misdirected message
        continue;
      }
      if (m.msg_hdr.msg_flags & MSG_TRUNC) {
        ++delta.decode_errors;
        continue;
      }
      auto msg = cn_proc::decode(
          std::span<const std::byte>(bufs.data[static_cast<size_t>(i)].data(), m.msg_len));
      if (!msg) {
        ++delta.decode_errors;
        continue;
      }
      msg->event.wall_ns = clock_.to_wall_ns(msg->event.ts_ns);
      on_message(std::move(*msg));
    }
    total += static_cast<size_t>(n);
    if (static_cast<size_t>(n) < RecvBuffers::kBatch) {
      drained = after;  // the call stopped because the queue was empty
      break;
    }
  }
  if (drained_at) *drained_at = drained;
  std::lock_guard lock(mu_);
  stats_ += delta;
  if (overflow) overflowed_ = true;
  return status;
}

bool Channel::take_overflow() {
  std::lock_guard lock(mu_);
  bool was = overflowed_;
  overflowed_ = false;
  return was;
}

std::optional<uint64_t> Channel::drops() const {
  // SO_MEMINFO gives the socket's memory counters, the messages it had to drop among them
  // (netlink counts one for every message that found its buffer full).
  uint32_t mem[SK_MEMINFO_VARS] = {};
  socklen_t len = sizeof mem;
  if (getsockopt(sock_.get(), SOL_SOCKET, SO_MEMINFO, mem, &len) != 0 ||
      len <= SK_MEMINFO_DROPS * sizeof(uint32_t)) {
    return std::nullopt;
  }
  return mem[SK_MEMINFO_DROPS];
}

SourceStats Channel::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace proctrail::netlink
