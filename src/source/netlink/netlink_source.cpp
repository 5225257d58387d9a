#include "proctrail/netlink_source.hpp"

#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <random>

namespace proctrail {

namespace {

// Inode numbers of the initial namespaces (include/linux/proc_ns.h); stable kernel ABI.
constexpr ino_t kInitUserNsIno = 0xEFFFFFFDU;
constexpr ino_t kInitPidNsIno = 0xEFFFFFFCU;

// An event's timestamp is taken a little before its message is queued; a drained socket
// therefore vouches only for events older than this much.
constexpr uint64_t kDeliverySlackNs = 5'000'000;
constexpr size_t kBatch = 64;
constexpr size_t kDatagramCapacity = 512;  // the kernel sends 76 bytes; forged ones may be big
constexpr size_t kMaxDatagramsPerPoll = 4096;

std::string ns_link(const std::string& proc_root, const char* kind) {
  std::string path = proc_root + "/self/ns/" + kind;
  std::array<char, 64> buf{};
  ssize_t n = readlink(path.c_str(), buf.data(), buf.size() - 1);
  return n > 0 ? std::string(buf.data(), static_cast<size_t>(n)) : std::string(kind) + ":[?]";
}

Event stream_event(EventData data, const ClockSync& clock) {
  Event e;
  e.ts_ns = monotonic_now_ns();
  e.wall_ns = clock.to_wall_ns(e.ts_ns);
  e.data = std::move(data);
  return e;
}

}  // namespace

struct NetlinkSource::RecvBuffers {
  std::array<std::array<std::byte, kDatagramCapacity>, kBatch> data{};
  std::array<sockaddr_nl, kBatch> addrs{};
  std::array<iovec, kBatch> iov{};
  std::array<mmsghdr, kBatch> msgs{};

  void rearm() {
    for (size_t i = 0; i < kBatch; ++i) {
      iov[i] = {data[i].data(), data[i].size()};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_name = &addrs[i];
      msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_nl);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
  }
};

NetlinkSource::NetlinkSource(NetlinkOptions options)
    : options_(std::move(options)), bufs_(std::make_unique<RecvBuffers>()) {
  std::random_device rd;
  // Acks go to every listener; a random nonce tells ours apart. Keep the low bits free for
  // the +1 the kernel adds and the steps between our requests.
  nonce_base_ = (rd() & 0x7ffffff0u) | 0x10u;
}

NetlinkSource::~NetlinkSource() {
  unsubscribe();
}

Status NetlinkSource::check_namespaces() const {
  struct Check {
    const char* kind;
    ino_t init;
  };
  for (Check c : {Check{"user", kInitUserNsIno}, Check{"pid", kInitPidNsIno}}) {
    struct stat st {};
    std::string path = options_.proc_root + "/self/ns/" + c.kind;
    if (stat(path.c_str(), &st) != 0) continue;  // no /proc: the ack timeout will tell
    if (st.st_ino != c.init) {
      return make_error(std::string("the proc connector ignores listeners outside the initial ") +
                        c.kind + " namespace, and this process is in " +
                        ns_link(options_.proc_root, c.kind) + "; run proctrail on the host");
    }
  }
  return {};
}

Status NetlinkSource::open_socket() {
  int fd = socket(PF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR);
  if (fd < 0) {
    int err = errno;
    if (err == EPROTONOSUPPORT) {
      return make_error("this kernel has no netlink connector (CONFIG_CONNECTOR is off)");
    }
    return system_error("create netlink connector socket", err);
  }
  sock_.reset(fd);

  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = CN_IDX_PROC;
  addr.nl_pid = 0;  // let the kernel pick a free port id
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    if (err == EPERM || err == EACCES) {
      return make_error(
          "joining the proc connector's multicast group was refused: it needs CAP_NET_ADMIN "
          "(Linux 6.6 and later also allow unprivileged listeners); run as root");
    }
    return system_error("bind netlink connector socket", err);
  }
  socklen_t len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) port_id_ = addr.nl_pid;

  int want = options_.receive_buffer_bytes;
  if (want > 0) {
    rcvbuf_forced_ = setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) == 0;
    if (!rcvbuf_forced_ && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want) != 0) {
      return system_error("set netlink receive buffer");
    }
  }
  int got = 0;
  len = sizeof got;
  if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len) == 0) rcvbuf_effective_ = got;
  return {};
}

Status NetlinkSource::send_request(cn_proc::McastOp op, std::optional<uint32_t> bits,
                                   uint32_t nonce) {
  auto msg = cn_proc::encode_request(op, bits, nonce, port_id_);
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
          ns_link(options_.proc_root, "net") + "; run proctrail on the host");
    }
    return system_error("send subscription to the proc connector");
  }
}

Result<std::optional<uint32_t>> NetlinkSource::wait_ack(uint32_t nonce) {
  const uint64_t deadline =
      monotonic_now_ns() + static_cast<uint64_t>(options_.ack_timeout.count()) * 1'000'000;
  for (;;) {
    // Look for our ack among what has arrived so far.
    for (auto it = early_.begin(); it != early_.end(); ++it) {
      if (const auto* ack = std::get_if<AckData>(&it->data); ack && ack->nonce == nonce + 1) {
        return std::optional<uint32_t>(ack->error);
      }
    }
    uint64_t now = monotonic_now_ns();
    if (now >= deadline) return std::optional<uint32_t>();
    pollfd p{sock_.get(), POLLIN, 0};
    int ms = static_cast<int>((deadline - now + 999'999) / 1'000'000);
    int r = ::poll(&p, 1, ms);
    if (r < 0 && errno != EINTR) return system_error("wait for the proc connector's answer");
    if (r > 0) {
      auto got = drain(early_);
      if (!got) return got.error();
    }
  }
}

Status NetlinkSource::subscribe() {
  const bool narrow = !options_.events.covers_all_kernel_events();
  const uint32_t bits = cn_proc::kernel_event_bits(options_.events);
  if (narrow) {
    // A Linux 6.6+ kernel answers an 8-byte proc_input request; older ones drop it silently.
    // Ask for everything first: the kernel's filter also applies to acks, so only an
    // unfiltered request can be acknowledged to us.
    if (auto s = send_request(cn_proc::McastOp::Listen, cn_proc::kernel_all_events(), nonce_base_);
        !s) {
      return s;
    }
    auto ack = wait_ack(nonce_base_);
    if (!ack) return ack.error();
    if (ack->has_value()) {
      if (**ack != 0)
        return system_error("the proc connector rejected the subscription",
                            static_cast<int>(**ack));
      subscribed_ = true;
      if (auto s = send_request(cn_proc::McastOp::Listen, bits, nonce_base_ + 4); !s) return s;
      kernel_filter_bits_ = bits;
      filter_note_ = "kernel-side event filter active (Linux 6.6 proc_input)";
      return {};
    }
    filter_note_ =
        "the kernel ignored the Linux 6.6 filtered subscription; filtering in user space";
  }
  if (auto s = send_request(cn_proc::McastOp::Listen, std::nullopt, nonce_base_ + 8); !s) return s;
  auto ack = wait_ack(nonce_base_ + 8);
  if (!ack) return ack.error();
  if (!ack->has_value()) {
    return make_error("the kernel did not answer the proc connector subscription within " +
                      std::to_string(options_.ack_timeout.count()) +
                      " ms: it probably lacks CONFIG_PROC_EVENTS");
  }
  if (**ack != 0)
    return system_error("the proc connector rejected the subscription", static_cast<int>(**ack));
  subscribed_ = true;
  if (filter_note_.empty()) filter_note_ = "no kernel-side filter requested (all events)";
  return {};
}

Status NetlinkSource::start() {
  if (auto s = check_namespaces(); !s) return s;
  if (auto s = open_socket(); !s) return s;
  if (auto s = subscribe(); !s) return s;
  watermark_ns_ = monotonic_now_ns() - kDeliverySlackNs;
  return {};
}

void NetlinkSource::unsubscribe() {
  if (!subscribed_ || !sock_.valid()) return;
  subscribed_ = false;
  // Best effort: the socket closes right after, and there is nobody left to tell.
  (void)send_request(cn_proc::McastOp::Ignore, std::nullopt, nonce_base_ + 12);
}

void NetlinkSource::accept(cn_proc::Message&& msg, std::vector<Event>& out) {
  Event& e = msg.event;
  e.wall_ns = clock_.to_wall_ns(e.ts_ns);
  const bool is_ack = e.type() == EventType::Ack;
  if (is_ack) {
    // Acks answer every listener's requests; only ours belong in our stream.
    uint32_t n = std::get<AckData>(e.data).nonce;
    if (n - 1 < nonce_base_ || n - 1 > nonce_base_ + 12) return;
  }
  if (!kernel_filter_bits_) {
    if (uint64_t gap = seq_.observe(e.cpu, msg.seq); gap > 0) {
      stats_.lost += gap;
      Event lost;
      lost.ts_ns = e.ts_ns;
      lost.wall_ns = e.wall_ns;
      lost.cpu = e.cpu;
      lost.data = LostData{gap, "proc connector sequence gap on cpu " + std::to_string(e.cpu)};
      out.push_back(std::move(lost));
    }
  } else if (!is_ack && (cn_proc::kernel_bits_admitting(e.type()) & *kernel_filter_bits_) == 0) {
    ++stats_.filter_leaks;  // the kernel filter was not honoured for this type
  }
  if (!is_ack) ++stats_.received;
  out.push_back(std::move(e));
}

Result<size_t> NetlinkSource::drain(std::vector<Event>& out) {
  size_t total = 0;
  while (total < kMaxDatagramsPerPoll) {
    bufs_->rearm();
    const uint64_t before = monotonic_now_ns();
    int n = recvmmsg(sock_.get(), bufs_->msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        if (before > kDeliverySlackNs && before - kDeliverySlackNs > watermark_ns_) {
          watermark_ns_ = before - kDeliverySlackNs;
        }
        break;
      }
      if (err == ENOBUFS) {
        // The socket overflowed: the kernel dropped messages for us. Say so in the stream;
        // sequence gaps give the count where the kernel does not filter for us.
        ++stats_.loss_reports;
        out.push_back(stream_event(
            LostData{std::nullopt, "netlink receive buffer overflowed (ENOBUFS)"}, clock_));
        continue;
      }
      return system_error("receive from the proc connector", err);
    }
    for (int i = 0; i < n; ++i) {
      const mmsghdr& m = bufs_->msgs[static_cast<size_t>(i)];
      const sockaddr_nl& from = bufs_->addrs[static_cast<size_t>(i)];
      if (m.msg_hdr.msg_namelen != sizeof(sockaddr_nl) || from.nl_family != AF_NETLINK ||
          from.nl_pid != 0) {
        ++stats_.rejected;  // not from the kernel: a forged or misdirected message
        continue;
      }
      if (m.msg_hdr.msg_flags & MSG_TRUNC) {
        ++stats_.decode_errors;
        continue;
      }
      auto msg = cn_proc::decode(
          std::span<const std::byte>(bufs_->data[static_cast<size_t>(i)].data(), m.msg_len));
      if (!msg) {
        ++stats_.decode_errors;
        continue;
      }
      accept(std::move(*msg), out);
    }
    total += static_cast<size_t>(n);
  }
  return total;
}

Status NetlinkSource::poll(std::chrono::milliseconds timeout, std::vector<Event>& out) {
  if (!sock_.valid()) return make_error("netlink source is not started");
  uint64_t now = monotonic_now_ns();
  if (now - last_clock_refresh_ns_ > 1'000'000'000) {
    clock_.refresh();
    last_clock_refresh_ns_ = now;
  }
  if (!early_.empty()) {
    for (auto& e : early_) out.push_back(std::move(e));
    early_.clear();
  }
  pollfd p{sock_.get(), POLLIN, 0};
  int r = ::poll(&p, 1, out.empty() ? static_cast<int>(timeout.count()) : 0);
  if (r < 0) {
    if (errno == EINTR) return {};
    return system_error("poll the proc connector");
  }
  // Drain even on timeout: an empty socket advances the watermark.
  auto got = drain(out);
  if (!got) return got.error();
  return {};
}

std::vector<std::string> NetlinkSource::notes() const {
  std::vector<std::string> n;
  n.push_back("netlink receive buffer: " + std::to_string(rcvbuf_effective_) + " bytes" +
              (rcvbuf_forced_ ? " (SO_RCVBUFFORCE)" : " (SO_RCVBUF, capped by net.core.rmem_max)"));
  if (!filter_note_.empty()) n.push_back(filter_note_);
  n.push_back(kernel_filter_bits_ ? "loss detection: ENOBUFS only (sequence numbers are not "
                                    "contiguous under a kernel filter)"
                                  : "loss detection: ENOBUFS and per-CPU sequence gaps");
  return n;
}

}  // namespace proctrail
