// JournalSink: each event as an entry of the systemd journal, sent to journald's socket in its
// native protocol (output/journal.hpp). An entry too big for one datagram goes as a sealed
// memfd, as journald takes them. Sends wait (cancellably) while journald catches up; one that
// has taken nothing for kStallAfter fails, and so does every send after it until journald
// takes records again: the monitor's failure policy counts them and says so in the journal.
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "output/journal.hpp"
#include "proctrail/sink.hpp"

namespace proctrail {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kStallAfter = std::chrono::seconds(5);

class JournalSink final : public Sink {
 public:
  JournalSink(std::string path, Schema schema) : path_(std::move(path)), encoder_(schema) {}
  ~JournalSink() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status connect() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) return system_error("journal: socket");
    // The default send buffer (net.core.wmem_default, 208 KiB as shipped): a bigger one would
    // not shorten waits in a storm, where journald's receive queue is the limit, and entries
    // beyond it go as a memfd, which journald prefers for big ones.
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof addr.sun_path) return make_error("journal: socket path too long");
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return {};
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (err == ENOENT || err == ECONNREFUSED) {
      return make_error("no systemd journal to write to: " + path_ +
                        (err == ENOENT ? " does not exist" : " takes no connection") +
                        " (is systemd-journald running?)");
    }
    errno = err;
    return system_error("journal: connect to " + path_);
  }

  Status write(std::span<const Event> events) override {
    for (const Event& e : events) {
      entry_.clear();
      encoder_.encode(e, entry_);
      if (Status s = send(entry_); !s) return s;
    }
    return {};
  }

  void cancel() override {
    cancel_from_ = Clock::now();
    cancelled_ = true;
  }

 private:
  Status send(const std::string& entry) {
    bool reconnected = false;
    const auto since = Clock::now();
    for (;;) {
      if (fd_ < 0) {
        if (Status s = connect(); !s) return s;
        reconnected = true;
      }
      if (::send(fd_, entry.data(), entry.size(), MSG_NOSIGNAL) >= 0) {
        stalled_ = false;
        return {};
      }
      const int err = errno;
      if (err == EINTR) continue;
      if (err == EMSGSIZE || err == ENOBUFS) return send_as_memfd(entry);
      if (err == EAGAIN) {
        // journald has not caught up: wait, unless it stopped taking records a while ago.
        if (stalled_) return make_error("systemd-journald is not taking records");
        pollfd p{fd_, POLLOUT, 0};
        (void)::poll(&p, 1, 100);
        const auto now = Clock::now();
        if (now - since > kStallAfter ||
            (cancelled_.load() && now - cancel_from_.load() > kStallAfter)) {
          stalled_ = true;
          return make_error("systemd-journald took no record for 5 s");
        }
        continue;
      }
      if ((err == ECONNREFUSED || err == ENOTCONN || err == ENOENT) && !reconnected) {
        // journald restarted: its socket is a new one.
        ::close(fd_);
        fd_ = -1;
        continue;
      }
      errno = err;
      return system_error("journal: send to " + path_);
    }
  }

  // A record beyond a datagram's size: its bytes in a sealed memory file, the descriptor sent.
  Status send_as_memfd(const std::string& entry) {
    const int mfd = memfd_create("proctrail-journal", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0) return system_error("journal: memfd_create");
    size_t off = 0;
    while (off < entry.size()) {
      const ssize_t n = ::write(mfd, entry.data() + off, entry.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        auto err = system_error("journal: write memfd");
        ::close(mfd);
        return err;
      }
      off += static_cast<size_t>(n);
    }
    if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
      auto err = system_error("journal: seal memfd");
      ::close(mfd);
      return err;
    }
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &mfd, sizeof(int));
    const auto since = Clock::now();
    for (;;) {
      if (::sendmsg(fd_, &msg, MSG_NOSIGNAL) >= 0) break;
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        // As for a datagram: wait while journald catches up, not once it has stopped.
        if (stalled_ || Clock::now() - since > kStallAfter) {
          stalled_ = true;
          ::close(mfd);
          return make_error("systemd-journald is not taking records");
        }
        pollfd p{fd_, POLLOUT, 0};
        (void)::poll(&p, 1, 100);
        continue;
      }
      auto err = system_error("journal: send a " + std::to_string(entry.size()) + "-byte record");
      ::close(mfd);
      return err;
    }
    ::close(mfd);
    stalled_ = false;
    return {};
  }

  std::string path_;
  int fd_ = -1;
  JournalEncoder encoder_;
  std::string entry_;
  bool stalled_ = false;
  std::atomic<bool> cancelled_{false};
  std::atomic<Clock::time_point> cancel_from_{};
};

}  // namespace

Result<std::unique_ptr<Sink>> open_journal_sink(const std::string& socket_path, Schema schema) {
  auto sink = std::make_unique<JournalSink>(socket_path, schema);
  if (Status s = sink->connect(); !s) return s.error();
  return std::unique_ptr<Sink>(std::move(sink));
}

}  // namespace proctrail
