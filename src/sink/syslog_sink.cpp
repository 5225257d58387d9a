// SyslogSink: each event as an RFC 5424 message (output/syslog.hpp) to a syslog daemon over a
// unix datagram socket (/dev/log), UDP or TCP (octet counting, RFC 6587). Sends wait
// (cancellably) while the daemon catches up; one that makes no progress for kStallAfter fails,
// and so does every send after it until the daemon takes messages again, which the monitor's
// failure policy counts and says in a lost message. A TCP connection the daemon closed is
// noticed before a message is written into it (the daemon never writes, so anything to read
// is its end), and made again at most once a second.
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "output/syslog.hpp"
#include "proctrail/sink.hpp"

namespace proctrail {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kStallAfter = std::chrono::seconds(5);
constexpr auto kReconnectEvery = std::chrono::seconds(1);
constexpr int kConnectWaitMs = 5000;
// The most one UDP datagram carries over IPv4; a longer message is cut there (the daemon cuts
// at its own limit anyway: rsyslog's maxMessageSize, 8 KB by default).
constexpr size_t kUdpMax = 65'507;

class SyslogSink final : public Sink {
 public:
  SyslogSink(SyslogAddress address, int facility)
      : address_(std::move(address)), encoder_(facility) {}
  ~SyslogSink() override { disconnect(); }

  Status connect() {
    disconnect();
    last_try_ = Clock::now();
    if (address_.transport == SyslogAddress::Unix) {
      fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (fd_ < 0) return system_error("syslog: socket");
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      if (address_.path.size() >= sizeof addr.sun_path) return make_error("syslog: path too long");
      std::memcpy(addr.sun_path, address_.path.c_str(), address_.path.size() + 1);
      if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return {};
      return failed_connect(errno);
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = address_.transport == SyslogAddress::Tcp ? SOCK_STREAM : SOCK_DGRAM;
    addrinfo* found = nullptr;
    if (int rc = getaddrinfo(address_.host.c_str(), address_.port.c_str(), &hints, &found);
        rc != 0) {
      return make_error("syslog: " + address_.text + ": " + gai_strerror(rc));
    }
    int err = ECONNREFUSED;
    for (addrinfo* a = found; a; a = a->ai_next) {
      fd_ = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
      if (fd_ < 0) {
        err = errno;
        continue;
      }
      if (::connect(fd_, a->ai_addr, a->ai_addrlen) == 0) break;
      err = errno;
      if (err == EINPROGRESS) {
        pollfd p{fd_, POLLOUT, 0};
        socklen_t len = sizeof err;
        if (::poll(&p, 1, kConnectWaitMs) == 1 &&
            getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
          break;
        }
        if (err == EINPROGRESS) err = ETIMEDOUT;
      }
      ::close(fd_);
      fd_ = -1;
    }
    freeaddrinfo(found);
    if (fd_ >= 0) return {};
    return failed_connect(err);
  }

  Status write(std::span<const Event> events) override {
    if (fd_ >= 0 && address_.transport == SyslogAddress::Tcp && peer_closed()) disconnect();
    if (fd_ < 0) {
      if (Clock::now() - last_try_ < kReconnectEvery) return make_error(why_);
      if (Status s = connect(); !s) return s;
    }
    for (const Event& e : events) {
      message_.clear();
      if (address_.transport == SyslogAddress::Tcp) {
        std::string body;
        encoder_.encode(e, body);
        message_ = std::to_string(body.size()) + ' ' + body;  // octet counting
      } else {
        encoder_.encode(e, message_);
        if (address_.transport == SyslogAddress::Udp && message_.size() > kUdpMax) {
          message_.resize(kUdpMax);
        }
      }
      if (Status s = send(message_); !s) return s;
    }
    return {};
  }

  void cancel() override {
    cancel_from_ = Clock::now();
    cancelled_ = true;
  }

 private:
  void disconnect() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  Status failed_connect(int err) {
    disconnect();
    why_ = "cannot reach syslog at " + address_.text + ": " + std::strerror(err);
    return make_error(why_);
  }

  // The daemon has closed its end (or reset it): it never sends, so readable means gone.
  bool peer_closed() {
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) != 1) return false;
    char c;
    const ssize_t n = ::recv(fd_, &c, 1, MSG_DONTWAIT | MSG_PEEK);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
  }

  Status send(const std::string& m) {
    size_t off = 0;
    bool retried = false;
    const auto since = Clock::now();
    while (off < m.size()) {
      const ssize_t n = ::send(fd_, m.data() + off, m.size() - off, MSG_NOSIGNAL);
      if (n >= 0) {
        off += static_cast<size_t>(n);
        stalled_ = false;
        continue;
      }
      const int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN) {
        const auto now = Clock::now();
        if (stalled_ || now - since > kStallAfter ||
            (cancelled_.load() && now - cancel_from_.load() > kStallAfter)) {
          stalled_ = true;
          // A message cut in the middle would garble the stream: start a new one.
          if (off > 0) disconnect();
          why_ = "syslog at " + address_.text + " took nothing for 5 s";
          return make_error(why_);
        }
        pollfd p{fd_, POLLOUT, 0};
        (void)::poll(&p, 1, 100);
        continue;
      }
      if (off == 0 && !retried &&
          (err == ECONNREFUSED || err == EPIPE || err == ECONNRESET || err == ENOTCONN)) {
        // The daemon restarted (or a UDP one was not there for an earlier datagram): again once.
        retried = true;
        if (Status s = connect(); !s) return s;
        continue;
      }
      disconnect();
      why_ = "cannot send to syslog at " + address_.text + ": " + std::strerror(err);
      return make_error(why_);
    }
    return {};
  }

  SyslogAddress address_;
  SyslogEncoder encoder_;
  int fd_ = -1;
  std::string message_;
  std::string why_;
  Clock::time_point last_try_{};
  bool stalled_ = false;
  std::atomic<bool> cancelled_{false};
  std::atomic<Clock::time_point> cancel_from_{};
};

}  // namespace

Result<SyslogAddress> parse_syslog_address(std::string_view text) {
  SyslogAddress a;
  a.text = std::string(text);
  const auto bad = [&] {
    return make_error("--syslog: '" + a.text +
                      "' is not an address (unix:/dev/log or a path, udp:HOST[:PORT], "
                      "tcp:HOST[:PORT]; [ADDR] for IPv6)");
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

Result<std::unique_ptr<Sink>> open_syslog_sink(const SyslogAddress& address, int facility) {
  auto sink = std::make_unique<SyslogSink>(address, facility);
  if (Status s = sink->connect(); !s) return s.error();
  return std::unique_ptr<Sink>(std::move(sink));
}

}  // namespace proctrail
