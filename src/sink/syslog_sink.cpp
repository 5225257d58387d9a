// SyslogSink: each event as an RFC 5424 message (output/syslog.hpp) to a syslog daemon over a
// unix datagram socket, UDP or TCP (octet counting, RFC 6587). Nothing here may hold the output
// thread, which serves every sink, for long: the address is resolved once, at start; a
// connection is made again without waiting (at most once a second, and checked on the writes
// after it); a send waits while the daemon catches up, but one that makes no progress for
// kStallAfter fails, and after that the sends wait at most kStalledWait each until a whole
// batch goes through again. What could not be sent is the failure policy's to count and say. A
// TCP connection the daemon closed is noticed before each batch is written into it and at each
// tick (the daemon never writes, so anything to read is its end). What the sink had sent on it and
// the daemon never acknowledged is lost with it: the kernel says how many bytes that is
// (SIOCOUTQ), and the messages they belong to are counted (take_lost_earlier). What a daemon
// acknowledged and never read is beyond what plain TCP syslog can know.
#include <fcntl.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <utility>
#include <variant>
#include <vector>

#include "output/syslog.hpp"
#include "proctrail/sink.hpp"

namespace proctrail {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kStallAfter = std::chrono::seconds(5);
constexpr int kStalledWaitMs = 100;
constexpr auto kReconnectEvery = std::chrono::seconds(1);
constexpr int kFirstConnectWaitMs = 5000;
// The most one datagram carries here (UDP over IPv4; a unix one takes this much with the
// default buffers): a longer message is cut. Daemons cut at their own limit anyway.
constexpr size_t kDatagramMax = 65'507;

// Where to connect: resolved once, when the sink is opened.
struct Peer {
  int family = 0, type = 0, protocol = 0;
  sockaddr_storage addr{};
  socklen_t len = 0;
};

class SyslogSink final : public Sink {
 public:
  SyslogSink(SyslogAddress address, std::vector<Peer> peers, int facility, Schema schema)
      : address_(std::move(address)), peers_(std::move(peers)), encoder_(facility, schema) {}
  ~SyslogSink() override { disconnect(); }

  // The first connection, at start: waited for (up to 5 s), and its failure is the caller's.
  Status open() {
    Status s;
    for (size_t i = 0; i < peers_.size(); ++i) {
      s = start_connect();
      if (s && connecting_) {
        pollfd p{fd_, POLLOUT, 0};
        (void)::poll(&p, 1, kFirstConnectWaitMs);
        s = finish_connect();
      }
      if (s) return s;
    }
    return s;
  }

  Status write(std::span<const Event> events) override {
    call_ = ++calls_;
    Status s = write_all(events);
    call_ = 0;
    // The messages of this call that went with a dead connection: the failure policy counts the
    // whole call when it fails; when it succeeds (on a new connection), they are counted here.
    if (s) lost_earlier_ += std::exchange(lost_now_, 0);
    lost_now_ = 0;
    return s;
  }

  // A dead connection found between batches, and what it lost, become an error here: the policy
  // then asks take_lost_earlier() and the next batch says the count.
  Status tick() override {
    ended_by_peer();
    if (lost_earlier_ == 0) return {};
    return make_error("syslog at " + address_.text + " closed the connection with " +
                      std::to_string(lost_earlier_) + " message(s) it never acknowledged");
  }
  Status close() override {
    Status s = tick();
    disconnect();
    return s;
  }
  uint64_t take_lost_earlier() override { return std::exchange(lost_earlier_, 0); }

 private:
  // A message sent on this connection and not yet known to have reached the daemon: where it
  // ends in the connection's bytes, the write() call it belongs to, and how many events it is.
  struct Unacknowledged {
    uint64_t end;
    uint64_t call;
    uint64_t events;
  };

  Status write_all(std::span<const Event> events) {
    ended_by_peer();
    acknowledged();
    if (Status s = ready(); !s) return s;
    bool waited = false;
    for (const Event& e : events) {
      message_.clear();
      if (address_.transport == SyslogAddress::Tcp) {
        body_.clear();
        encoder_.encode(e, body_);
        message_ = std::to_string(body_.size()) + ' ' + body_;  // octet counting
      } else {
        encoder_.encode(e, message_);
        if (message_.size() > kDatagramMax) message_.resize(kDatagramMax);
      }
      if (Status s = send(message_, waited); !s) return s;
      if (address_.transport == SyslogAddress::Tcp) {
        sent_ += message_.size();
        // A lost record that never arrives is not said again: its count is not of events this
        // sink was given. It is the first message on a new connection, which would have to die
        // at once.
        const bool lost_record = std::holds_alternative<LostData>(e.data);
        unacknowledged_.push_back({sent_, call_, lost_record ? 0u : 1u});
      }
    }
    if (!waited) stalled_ = false;  // a whole batch without waiting: the daemon keeps up
    return {};
  }

  void disconnect() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    connecting_ = false;
    sent_ = 0;
    unacknowledged_.clear();
  }

  // How many of the bytes sent on this connection the daemon has acknowledged: all but what
  // the kernel still holds for it (SIOCOUTQ); 0 if the kernel cannot say.
  [[nodiscard]] uint64_t acknowledged_bytes() const {
    int waiting = 0;
    if (::ioctl(fd_, SIOCOUTQ, &waiting) != 0 || waiting < 0) return 0;
    return sent_ - std::min<uint64_t>(sent_, static_cast<uint64_t>(waiting));
  }

  // Forgets the messages the daemon has acknowledged: one ioctl a batch keeps the list as short
  // as what the socket holds.
  void acknowledged() {
    if (fd_ < 0 || connecting_ || unacknowledged_.empty()) return;
    const uint64_t acked = acknowledged_bytes();
    while (!unacknowledged_.empty() && unacknowledged_.front().end <= acked) {
      unacknowledged_.pop_front();
    }
  }

  // The connection died under the sink (the daemon closed or reset it): what it never
  // acknowledged is lost, counted with the write() call it belongs to (outside write(), a tick
  // or the close, with no call under way, every message is an earlier call's), and it goes.
  void lost_with_connection() {
    const uint64_t acked = acknowledged_bytes();
    for (const Unacknowledged& m : unacknowledged_) {
      if (m.end > acked) (m.call == call_ ? lost_now_ : lost_earlier_) += m.events;
    }
    disconnect();
  }

  // A TCP connection the daemon ended is noticed, and what it lost counted.
  void ended_by_peer() {
    if (fd_ < 0 || connecting_ || address_.transport != SyslogAddress::Tcp || !peer_closed()) {
      return;
    }
    lost_with_connection();
    why_ = "syslog at " + address_.text + " closed the connection";
  }

  Status fail(const std::string& why) {
    why_ = why;
    return make_error(why_);
  }

  // A connection to use: the one there is, or one made again (at most once a second).
  Status ready() {
    if (fd_ >= 0 && !connecting_) return {};
    if (fd_ < 0) {
      if (Clock::now() - last_try_ < kReconnectEvery) return make_error(why_);
      if (Status s = start_connect(); !s) return s;
    }
    if (connecting_) {
      pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, 0) != 1) return fail("still connecting to syslog at " + address_.text);
      return finish_connect();
    }
    return {};
  }

  // Starts a connection to the next address, without waiting for it.
  Status start_connect() {
    disconnect();
    last_try_ = Clock::now();
    const Peer& peer = peers_[next_++ % peers_.size()];
    fd_ = ::socket(peer.family, peer.type | SOCK_CLOEXEC | SOCK_NONBLOCK, peer.protocol);
    if (fd_ < 0) return fail(std::string("syslog: socket: ") + std::strerror(errno));
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&peer.addr), peer.len) == 0) return {};
    if (errno == EINPROGRESS) {
      connecting_ = true;
      return {};
    }
    return failed_connect(errno);
  }

  Status finish_connect() {
    int err = 0;
    socklen_t len = sizeof err;
    if (!connecting_) return fd_ >= 0 ? Status{} : make_error(why_);
    if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    pollfd p{fd_, POLLOUT, 0};
    if (err == 0 && ::poll(&p, 1, 0) != 1) err = ETIMEDOUT;
    if (err != 0) return failed_connect(err);
    connecting_ = false;
    return {};
  }

  Status failed_connect(int err) {
    disconnect();
    return fail("cannot reach syslog at " + address_.text + ": " + std::strerror(err));
  }

  // The daemon has closed its end (or reset it): it never sends, so readable means gone.
  bool peer_closed() {
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) != 1) return false;
    char c;
    const ssize_t n = ::recv(fd_, &c, 1, MSG_DONTWAIT | MSG_PEEK);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
  }

  Status send(const std::string& m, bool& waited) {
    size_t off = 0;
    bool retried = false;
    auto progress = Clock::now();
    while (off < m.size()) {
      const ssize_t n = ::send(fd_, m.data() + off, m.size() - off, MSG_NOSIGNAL);
      if (n >= 0) {
        off += static_cast<size_t>(n);
        progress = Clock::now();
        continue;
      }
      const int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN) {
        waited = true;
        if (!stalled_ && Clock::now() - progress > kStallAfter) stalled_ = true;
        pollfd p{fd_, POLLOUT, 0};
        if (stalled_ && ::poll(&p, 1, kStalledWaitMs) != 1) {
          // A message cut in the middle would garble the stream: start a new one. What the
          // stalled daemon has not acknowledged is not counted: the kernel still sends it after
          // the close, and the daemon may yet read it.
          if (off > 0) {
            disconnect();
            last_try_ = Clock::now();
          }
          return fail("syslog at " + address_.text + " is not taking messages");
        }
        if (!stalled_) (void)::poll(&p, 1, 100);
        continue;
      }
      if (off == 0 && !retried && err == ECONNREFUSED && address_.transport == SyslogAddress::Udp) {
        // The refusal of an earlier datagram (ICMP): this one was not sent; once more.
        retried = true;
        continue;
      }
      if (address_.transport == SyslogAddress::Tcp && (err == EPIPE || err == ECONNRESET)) {
        lost_with_connection();
      }
      if (off == 0 && !retried && address_.transport != SyslogAddress::Udp &&
          (err == ECONNREFUSED || err == EPIPE || err == ECONNRESET || err == ENOTCONN) &&
          Clock::now() - last_try_ >= kReconnectEvery) {
        // The daemon restarted: a new connection, if it can be had at once.
        retried = true;
        if (Status s = start_connect(); !s) return s;
        if (connecting_) {
          pollfd p{fd_, POLLOUT, 0};
          if (::poll(&p, 1, 0) != 1) return fail("reconnecting to syslog at " + address_.text);
          if (Status s = finish_connect(); !s) return s;
        }
        continue;
      }
      disconnect();
      return fail("cannot send to syslog at " + address_.text + ": " + std::strerror(err));
    }
    return {};
  }

  SyslogAddress address_;
  std::vector<Peer> peers_;
  size_t next_ = 0;
  SyslogEncoder encoder_;
  int fd_ = -1;
  bool connecting_ = false;
  std::string message_, body_;
  std::string why_ = "not connected";
  Clock::time_point last_try_{};
  bool stalled_ = false;
  // TCP: bytes sent on this connection, the messages in them not known to have arrived, and the
  // events that dead connections lost, of the write() under way and of earlier ones.
  uint64_t sent_ = 0;
  std::deque<Unacknowledged> unacknowledged_;
  uint64_t calls_ = 0;
  uint64_t call_ = 0;  // the write() under way (from 1), 0 outside write()
  uint64_t lost_now_ = 0, lost_earlier_ = 0;
};

Result<std::vector<Peer>> resolve(const SyslogAddress& a) {
  std::vector<Peer> peers;
  if (a.transport == SyslogAddress::Unix) {
    Peer p;
    p.family = AF_UNIX;
    p.type = SOCK_DGRAM;
    auto* un = reinterpret_cast<sockaddr_un*>(&p.addr);
    un->sun_family = AF_UNIX;
    if (a.path.size() >= sizeof un->sun_path) {
      return make_error("--syslog: " + a.path + ": the path is too long for a socket");
    }
    std::memcpy(un->sun_path, a.path.c_str(), a.path.size() + 1);
    p.len = sizeof(sockaddr_un);
    peers.push_back(p);
    return peers;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = a.transport == SyslogAddress::Tcp ? SOCK_STREAM : SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(a.host.c_str(), a.port.c_str(), &hints, &found); rc != 0) {
    return make_error("cannot reach syslog at " + a.text + ": " + gai_strerror(rc));
  }
  for (addrinfo* i = found; i; i = i->ai_next) {
    Peer p;
    p.family = i->ai_family;
    p.type = i->ai_socktype;
    p.protocol = i->ai_protocol;
    std::memcpy(&p.addr, i->ai_addr, i->ai_addrlen);
    p.len = i->ai_addrlen;
    peers.push_back(p);
  }
  freeaddrinfo(found);
  if (peers.empty()) return make_error("cannot reach syslog at " + a.text + ": no address");
  return peers;
}

}  // namespace

Result<SyslogAddress> parse_syslog_address(std::string_view text) {
  SyslogAddress a;
  a.text = std::string(text);
  const auto bad = [&] {
    return make_error("--syslog: '" + a.text +
                      "' is not an address (tcp:HOST[:PORT], udp:HOST[:PORT], unix:PATH or a "
                      "path; [ADDR] for IPv6)");
  };
  std::string_view rest = text;
  if (!rest.empty() && rest[0] == '/') {
    a.transport = SyslogAddress::Unix;
    a.path = std::string(rest);
    return a;
  }
  if (rest.rfind("unix:", 0) == 0) {
    a.transport = SyslogAddress::Unix;
    a.path = std::string(rest.substr(5));
    if (a.path.empty()) return bad();
    return a;
  }
  if (rest.rfind("udp:", 0) == 0) {
    a.transport = SyslogAddress::Udp;
  } else if (rest.rfind("tcp:", 0) == 0) {
    a.transport = SyslogAddress::Tcp;
  } else {
    return bad();
  }
  rest.remove_prefix(4);
  a.port = "514";
  if (!rest.empty() && rest[0] == '[') {
    const size_t end = rest.find(']');
    if (end == std::string_view::npos || end == 1) return bad();
    a.host = std::string(rest.substr(1, end - 1));
    rest.remove_prefix(end + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return bad();
      a.port = std::string(rest.substr(1));
    }
  } else {
    const size_t colon = rest.rfind(':');
    a.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) a.port = std::string(rest.substr(colon + 1));
  }
  if (a.host.empty() || a.host.find(':') != std::string::npos || a.port.empty() ||
      a.port.size() > 5 || a.port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(a.port) == 0 || std::stoi(a.port) > 65535) {
    return bad();
  }
  return a;
}

Result<std::unique_ptr<Sink>> open_syslog_sink(const SyslogAddress& address, int facility,
                                               Schema schema) {
  auto peers = resolve(address);
  if (!peers) return peers.error();
  auto sink = std::make_unique<SyslogSink>(address, std::move(*peers), facility, schema);
  if (Status s = sink->open(); !s) return s.error();
  return std::unique_ptr<Sink>(std::move(sink));
}

}  // namespace proctrail
