#include "proctrail/netlink_source.hpp"

#include "proctrail/namespaces.hpp"
#include "proctrail/privileges.hpp"

#include <linux/connector.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <random>

namespace proctrail {

namespace {

constexpr size_t kBatch = 64;
constexpr size_t kDatagramCapacity = 512;  // the kernel sends 76 bytes; forged ones may be big
constexpr size_t kMaxDatagramsPerCall = 4096;
// Exec readers wake at least this often, so an idle CPU does not hold the watermark back.
constexpr std::chrono::milliseconds kReaderIdleWake{50};
// Exec readers at most; the other CPUs share the last exec socket. This also bounds the socket
// filter of that socket, whose jumps must stay within 255 instructions.
constexpr size_t kMaxExecReaders = 64;
// poll() returns early when readers have queued this many events.
constexpr size_t kInboxHighWater = 8192;

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

NetlinkSource::NetlinkSource(NetlinkOptions options) : options_(std::move(options)) {
  std::random_device rd;
  // Acks go to every listener; a random nonce tells ours apart. The low bits stay free for
  // the requests of one run and the +1 the kernel adds.
  nonce_base_ = rd() & 0x7fff0000u;
}

NetlinkSource::~NetlinkSource() {
  stop_ = true;
  for (auto& c : execs_) {
    if (c->reader.joinable()) c->reader.join();
  }
  for (auto& c : execs_) unsubscribe(*c);
  if (other_) unsubscribe(*other_);
}

int NetlinkSource::fd() const {
  if (!execs_.empty()) return wake_.get();
  return other_ ? other_->sock.get() : -1;
}

SourceStats NetlinkSource::stats() const {
  std::lock_guard lock(mu_);
  SourceStats s;
  if (other_) s += other_->stats;
  for (const auto& c : execs_) s += c->stats;
  return s;
}

Status NetlinkSource::open_channel(Channel& c, cn_proc::Route route, const std::vector<int>& cpus,
                                   std::optional<uint32_t> types) {
  int fd = socket(PF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR);
  if (fd < 0) {
    int err = errno;
    if (err == EPROTONOSUPPORT) {
      return make_error("this kernel has no netlink connector (CONFIG_CONNECTOR is off)");
    }
    return system_error("create netlink connector socket", err);
  }
  c.sock.reset(fd);

  // The filter goes on before the subscription, so the socket never holds a message that is
  // another socket's to read, or of a type nobody asked for.
  if (route != cn_proc::Route::All || types) {
    auto prog = cn_proc::socket_filter(route, cpus, types);
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
          "joining the proc connector's multicast group was refused: it needs CAP_NET_ADMIN "
          "(Linux 6.6 and later also allow unprivileged listeners); run as root");
    }
    return system_error("bind netlink connector socket", err);
  }
  socklen_t len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) c.port_id = addr.nl_pid;

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

Status NetlinkSource::send_request(Channel& c, cn_proc::McastOp op, std::optional<uint32_t> bits,
                                   uint32_t nonce) {
  auto msg = cn_proc::encode_request(op, bits, nonce, c.port_id);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;  // port id 0: the kernel
  for (;;) {
    ssize_t n = sendto(c.sock.get(), msg.data(), msg.size(), 0,
                       reinterpret_cast<sockaddr*>(&kernel), sizeof kernel);
    if (n >= 0) return {};
    if (errno == EINTR) continue;
    if (errno == ECONNREFUSED) {
      return make_error(
          "the kernel refused the subscription: the proc connector serves only the initial "
          "network namespace, and this process is in " +
          namespace_name(options_.proc_root, "net") + "; run proctrail on the host");
    }
    return system_error("send subscription to the proc connector");
  }
}

Result<std::optional<uint32_t>> NetlinkSource::wait_ack(Channel& c, uint32_t nonce) {
  const uint64_t deadline =
      monotonic_now_ns() + static_cast<uint64_t>(options_.ack_timeout.count()) * 1'000'000;
  RecvBuffers& bufs = *poll_bufs_;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      for (const auto& [n, err] : acks_) {
        if (n == nonce + 1) return std::optional<uint32_t>(err);
      }
    }
    uint64_t now = monotonic_now_ns();
    if (now >= deadline) return std::optional<uint32_t>();
    pollfd p{c.sock.get(), POLLIN, 0};
    int ms = static_cast<int>((deadline - now + 999'999) / 1'000'000);
    int r = ::poll(&p, 1, ms);
    if (r < 0 && errno != EINTR) return system_error("wait for the proc connector's answer");
    if (r > 0) {
      // Keep what arrives meanwhile: poll() decides what of it belongs to the stream.
      std::vector<Received> got;
      if (auto s = receive(c, bufs, false, nullptr, got, nullptr); !s) return s.error();
      std::lock_guard lock(mu_);
      for (auto& g : got) inbox_.push_back(std::move(g));
    }
  }
}

Status NetlinkSource::subscribe(Channel& c, std::optional<uint32_t> narrow_to, uint32_t nonce) {
  const std::string no_answer =
      "the kernel did not answer the proc connector subscription within " +
      std::to_string(options_.ack_timeout.count()) + " ms: it probably lacks CONFIG_PROC_EVENTS";
  auto answered = [&](std::optional<uint32_t> ack) -> Status {
    if (!ack) return make_error(no_answer);
    if (*ack != 0) {
      return system_error("the proc connector rejected the subscription", static_cast<int>(*ack));
    }
    c.subscribed = true;
    return {};
  };
  const bool try_filter = narrow_to && options_.kernel_filter && proc_input_ok_ != false;
  if (try_filter && proc_input_ok_ == true) {
    // Known to work: subscribe to everything (an ack must get through), then narrow.
    if (auto s = send_request(c, cn_proc::McastOp::Listen, cn_proc::kernel_all_events(), nonce);
        !s) {
      return s;
    }
    auto ack = wait_ack(c, nonce);
    if (!ack) return ack.error();
    if (auto s = answered(*ack); !s) return s;
  } else {
    if (try_filter) {
      // Does this kernel know proc_input (Linux 6.6)? Older ones drop the 8-byte request
      // without a word, so waiting for its answer would cost the whole timeout. The kernel
      // handles requests in the order sent, so the answer to a legacy request sent right after
      // is a barrier: our first request's ack is either ahead of it or never coming.
      if (auto s = send_request(c, cn_proc::McastOp::Listen, cn_proc::kernel_all_events(), nonce);
          !s) {
        return s;
      }
    }
    if (auto s = send_request(c, cn_proc::McastOp::Listen, std::nullopt, nonce + 4); !s) return s;
    auto ack = wait_ack(c, nonce + 4);
    if (!ack) return ack.error();
    if (auto s = answered(*ack); !s) return s;
    if (try_filter) {
      std::lock_guard lock(mu_);
      proc_input_ok_ = std::any_of(acks_.begin(), acks_.end(),
                                   [&](const auto& a) { return a.first == nonce + 1; });
    }
  }
  if (narrow_to && proc_input_ok_ == true && options_.kernel_filter) {
    // Narrowed without waiting: the request takes effect as the kernel receives it.
    c.kernel_bits = *narrow_to;
    return send_request(c, cn_proc::McastOp::Listen, *narrow_to, nonce + 2);
  }
  return {};
}

Status NetlinkSource::start() {
  if (auto s = require_initial_namespaces(
          options_.proc_root,
          "the proc connector ignores listeners outside the initial namespaces");
      !s) {
    return s;
  }
  poll_bufs_ = std::make_unique<RecvBuffers>();
  wake_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_.valid()) return system_error("create eventfd");

  const uint32_t wanted = cn_proc::kernel_event_bits(options_.events);
  EventMask exec_mask;
  exec_mask.add(EventType::Exec);
  const uint32_t exec_bit = cn_proc::kernel_event_bits(exec_mask);
  const bool narrow = !options_.events.covers_all_kernel_events();

  std::vector<int> cpus;
  if ((wanted & exec_bit) && options_.max_exec_readers > 0) {
    cpus = allowed_cpus();
    size_t most = std::min(options_.max_exec_readers, kMaxExecReaders);
    if (cpus.size() > most) cpus.resize(most);
  }
  const bool readers = !cpus.empty();

  // Everything but exec goes to `other_`, which is read on poll(); with readers, exec events
  // go to a socket per CPU and one for the CPUs left. When only some types are wanted, the
  // sockets' filters keep just those, on every kernel.
  std::optional<uint32_t> types;
  if (narrow) types = wanted;
  other_ = std::make_unique<Channel>();
  if (auto s = open_channel(*other_, readers ? cn_proc::Route::AllButExec : cn_proc::Route::All, {},
                            types);
      !s) {
    return s;
  }
  if (readers) {
    for (int cpu : cpus) {
      auto c = std::make_unique<Channel>();
      c->cpu = cpu;
      if (auto s = open_channel(*c, cn_proc::Route::ExecOnCpus, {cpu}, std::nullopt); !s) return s;
      execs_.push_back(std::move(c));
    }
    auto rest = std::make_unique<Channel>();
    if (auto s = open_channel(*rest, cn_proc::Route::ExecOffCpus, cpus, std::nullopt); !s) {
      return s;
    }
    execs_.push_back(std::move(rest));
  }

  std::optional<uint32_t> other_bits;
  if (narrow) {
    other_bits = readers ? (wanted & ~exec_bit) : wanted;
    // Exec alone: the kernel reads an empty filter as "everything", so ask `other_` for exec,
    // which its socket filter then drops: it carries nothing.
    if (*other_bits == 0) other_bits = exec_bit;
  }
  uint32_t nonce = nonce_base_;
  if (auto s = subscribe(*other_, other_bits, nonce); !s) return s;
  for (auto& c : execs_) {
    nonce += 8;
    std::optional<uint32_t> bits;
    if (proc_input_ok_ == true) bits = exec_bit;
    if (auto s = subscribe(*c, bits, nonce); !s) return s;
  }
  kernel_filtering_ = proc_input_ok_ == true && options_.kernel_filter && narrow;
  // The sockets together see every message, and so every sequence number, unless some types
  // are filtered out: then only the sockets' drop counters tell what was lost.
  seq_tracking_ = !narrow;
  for (Channel* c : channels()) {
    if (auto d = socket_drops(*c)) {
      c->drops_seen = *d;
    } else {
      drops_counted_ = false;
    }
  }
  started_ns_ = monotonic_now_ns();
  watermark_ns_ = started_ns_ - std::min(started_ns_, kDeliverySlackNs);
  {
    std::lock_guard lock(mu_);
    other_->drained_ns = started_ns_;
    for (auto& c : execs_) c->drained_ns = started_ns_;
  }

  if (!narrow) {
    filter_note_ = "no type filter requested (all events)";
  } else if (kernel_filtering_) {
    filter_note_ =
        "event types filtered in the kernel (Linux 6.6 proc_input) and by socket filters";
  } else {
    filter_note_ =
        options_.kernel_filter
            ? "the kernel ignored the Linux 6.6 filtered subscription; event types "
              "filtered by socket filters"
            : "event types filtered by socket filters (kernel-side filter not asked for)";
  }
  if (readers) {
    for (auto& c : execs_) c->reader = std::thread([this, ch = c.get()] { run_reader(*ch); });
    // Each reader says what priority it got as its first act; -v reports it.
    std::unique_lock lock(mu_);
    inbox_full_.wait(lock, [&] { return reader_priorities_.size() == execs_.size(); });
    std::vector<std::string> kinds = reader_priorities_;
    std::sort(kinds.begin(), kinds.end());
    kinds.erase(std::unique(kinds.begin(), kinds.end()), kinds.end());
    std::string got;
    for (const auto& k : kinds) got += (got.empty() ? "" : "; ") + k;
    reader_note_ = "exec readers: " + std::to_string(cpus.size()) +
                   " pinned to their CPUs and one for other CPUs, at " + got;
  } else {
    reader_note_ = "no exec reader threads: exec events are handled on the polling thread";
    if (handler_factory_) poll_handler_ = handler_factory_();
  }
  return {};
}

std::vector<NetlinkSource::Channel*> NetlinkSource::channels() {
  std::vector<Channel*> all;
  if (other_) all.push_back(other_.get());
  for (auto& c : execs_) all.push_back(c.get());
  return all;
}

std::optional<uint64_t> NetlinkSource::socket_drops(const Channel& c) {
  // SO_MEMINFO gives the socket's memory counters, the messages it had to drop among them
  // (netlink counts one for every message that found its buffer full).
  uint32_t mem[SK_MEMINFO_VARS] = {};
  socklen_t len = sizeof mem;
  if (getsockopt(c.sock.get(), SOL_SOCKET, SO_MEMINFO, mem, &len) != 0 ||
      len <= SK_MEMINFO_DROPS * sizeof(uint32_t)) {
    return std::nullopt;
  }
  return mem[SK_MEMINFO_DROPS];
}

void NetlinkSource::unsubscribe(Channel& c) {
  if (!c.subscribed || !c.sock.valid()) return;
  c.subscribed = false;
  // Best effort: the socket closes right after, and there is nobody left to tell.
  (void)send_request(c, cn_proc::McastOp::Ignore, std::nullopt, nonce_base_ + 0xff00);
}

void NetlinkSource::set_receive_timeout(Channel& c, std::chrono::milliseconds t) {
  if (t == c.receive_timeout) return;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  if (setsockopt(c.sock.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0) c.receive_timeout = t;
}

void NetlinkSource::accept(Channel& c, cn_proc::Message&& msg, const ExecHandler* handler,
                           std::vector<Received>& out, SourceStats& stats) {
  Received r{std::move(msg.event), msg.seq};
  Event& e = r.event;
  e.wall_ns = c.clock.to_wall_ns(e.ts_ns);
  if (const auto* ack = std::get_if<AckData>(&e.data)) {
    // Acks answer every listener's requests. Ours carry our nonce; the first goes in the
    // stream. The rest only count for their sequence numbers.
    bool ours = ack->nonce - 1 - nonce_base_ < 0x10000;
    if (ours) {
      std::lock_guard lock(mu_);
      acks_.emplace_back(ack->nonce, ack->error);
    }
    r.emit = ours && &c == other_.get() && !acked_;
    if (r.emit) acked_ = true;
    out.push_back(std::move(r));
    return;
  }
  // Only what was asked for goes on (a kernel without the 6.6 filter sends everything); the
  // sequence number still counts.
  r.emit = options_.events.accepts(e);
  if (!r.emit) {
    if (started_ns_ != 0 && e.ts_ns >= started_ns_) ++stats.filter_leaks;
    out.push_back(std::move(r));
    return;
  }
  if (handler && *handler && e.type() == EventType::Exec) (*handler)(e);
  ++stats.received;
  out.push_back(std::move(r));
}

Status NetlinkSource::receive(Channel& c, RecvBuffers& bufs, bool block, const ExecHandler* handler,
                              std::vector<Received>& out, uint64_t* drained_at) {
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
    int n = recvmmsg(c.sock.get(), bufs.msgs.data(), kBatch, flags, nullptr);
    const uint64_t after = monotonic_now_ns();
    if (n < 0) {
      int err = errno;
      if (err == EINTR) break;  // a signal: let the caller look at its stop flag
      if (err == EAGAIN || err == EWOULDBLOCK) {
        drained = after;
        break;
      }
      if (err == ENOBUFS) {
        // The socket overflowed: the kernel dropped messages for us and counted them. poll()
        // reports how many; the error only says it happened.
        overflow = true;
        continue;
      }
      status = system_error("receive from the proc connector", err);
      break;
    }
    c.clock.refresh_if_older(after);
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
      accept(c, std::move(*msg), handler, out, delta);
    }
    total += static_cast<size_t>(n);
    if (static_cast<size_t>(n) < kBatch) {
      drained = after;  // the call stopped because the queue was empty
      break;
    }
  }
  if (drained_at) *drained_at = drained;
  std::lock_guard lock(mu_);
  c.stats += delta;
  if (overflow) c.overflowed = true;
  return status;
}

void NetlinkSource::run_reader(Channel& c) {
  if (c.cpu >= 0) pin_thread_to_cpu(c.cpu);  // unpinned, it still works, only later
  std::string priority = raise_thread_priority(options_.reader_priority);
  // From here on a reader only receives on its subscribed socket and reads /proc, which for
  // another user's process takes CAP_SYS_PTRACE: it keeps that alone.
  (void)drop_capabilities({cap::kSysPtrace});
  {
    std::lock_guard lock(mu_);
    reader_priorities_.push_back(std::move(priority));
  }
  inbox_full_.notify_all();
  ExecHandler handler = handler_factory_ ? handler_factory_() : ExecHandler{};
  auto bufs = std::make_unique<RecvBuffers>();
  set_receive_timeout(c, kReaderIdleWake);
  std::vector<Received> got;
  while (!stop_) {
    got.clear();
    uint64_t drained = 0;
    Status s = receive(c, *bufs, true, &handler, got, &drained);
    // The events and the time the socket was found empty are published together: poll()
    // must never see a watermark that covers events it has not been handed.
    std::lock_guard lock(mu_);
    if (!s) {
      if (!reader_error_) reader_error_ = s.error();
      inbox_full_.notify_one();
      return;
    }
    if (drained > c.drained_ns) c.drained_ns = drained;
    if (got.empty()) continue;
    const bool was_empty = inbox_.empty();
    for (auto& g : got) inbox_.push_back(std::move(g));
    if (was_empty) {
      uint64_t one = 1;
      (void)!write(wake_.get(), &one, sizeof one);  // for embedders polling fd()
    }
    if (inbox_.size() >= kInboxHighWater) inbox_full_.notify_one();
  }
}

Status NetlinkSource::poll(std::chrono::milliseconds timeout, std::vector<Event>& out) {
  if (!other_ || !other_->sock.valid()) return make_error("netlink source is not started");
  std::vector<Received> got;
  const bool readers = !execs_.empty();
  if (readers) {
    // Exec events were handled by the readers already; nothing here is urgent, so this
    // thread wakes on time, not per event.
    std::unique_lock lock(mu_);
    inbox_full_.wait_for(lock, timeout,
                         [this] { return inbox_.size() >= kInboxHighWater || reader_error_; });
    if (reader_error_) return *reader_error_;
  } else if (timeout.count() > 0) {
    set_receive_timeout(*other_, timeout);
  }
  uint64_t other_drained = 0;
  if (auto s = receive(*other_, *poll_bufs_, !readers && timeout.count() > 0,
                       poll_handler_ ? &poll_handler_ : nullptr, got, &other_drained);
      !s) {
    return s;
  }
  uint64_t drained;
  {
    std::lock_guard lock(mu_);
    if (other_drained > other_->drained_ns) other_->drained_ns = other_drained;
    for (auto& r : inbox_) got.push_back(std::move(r));
    inbox_.clear();
    if (readers) {
      uint64_t drain_wake;
      (void)!read(wake_.get(), &drain_wake, sizeof drain_wake);  // empty again, under the lock
    }
    drained = other_->drained_ns;
    for (const auto& c : execs_) drained = std::min(drained, c->drained_ns);
  }
  if (drained > kDeliverySlackNs && drained - kDeliverySlackNs > watermark_ns_) {
    watermark_ns_ = drained - kDeliverySlackNs;
  }

  std::vector<SeqGapFinder::Gap> gaps;
  for (auto& r : got) {
    // Before every socket was subscribed the view is partial: the stream starts after.
    if (r.has_seq && r.event.ts_ns < started_ns_ && r.emit && r.event.type() != EventType::Ack) {
      continue;
    }
    if (seq_tracking_ && r.has_seq && r.event.ts_ns >= started_ns_) {
      gaps_.add(r.event.cpu, r.seq, r.event.ts_ns);
    }
    if (r.emit) out.push_back(std::move(r.event));
  }
  if (seq_tracking_) gaps_.settle(watermark_ns_, gaps);
  account_losses(gaps, out);
  clock_.refresh_if_older(monotonic_now_ns());
  return {};
}

void NetlinkSource::account_losses(const std::vector<SeqGapFinder::Gap>& gaps,
                                   std::vector<Event>& out) {
  // Read after this poll's messages were taken: a message lost before any of them was dropped
  // before they were sent, so the counters include every drop behind a settled gap.
  const uint64_t now = monotonic_now_ns();
  auto lost = [&](std::optional<uint64_t> count, std::string why, int32_t cpu, uint64_t ts) {
    Event e;
    e.ts_ns = ts;
    e.wall_ns = clock_.to_wall_ns(ts);
    e.cpu = cpu;
    e.data = LostData{count, std::move(why)};
    out.push_back(std::move(e));
  };
  uint64_t counted = 0, unknown = 0;
  for (Channel* c : channels()) {
    bool overflowed;
    {
      std::lock_guard lock(mu_);
      overflowed = c->overflowed;
      c->overflowed = false;
    }
    const std::string where = c->cpu >= 0 ? "the exec socket of cpu " + std::to_string(c->cpu)
                                          : (c == other_.get() ? std::string("the main socket")
                                                               : "the exec socket of other cpus");
    std::optional<uint64_t> drops = drops_counted_ ? socket_drops(*c) : std::nullopt;
    if (drops && *drops > c->drops_seen) {
      // Counted where the stream is now: the lost messages may be any of those up to here.
      const uint64_t n = *drops - c->drops_seen;
      c->drops_seen = *drops;
      counted += n;
      lost(n, "netlink receive buffer full (ENOBUFS) on " + where, -1, now);
    } else if (overflowed && !drops_counted_) {
      ++unknown;
      lost(std::nullopt, "netlink receive buffer full (ENOBUFS) on " + where, -1, now);
    }
  }
  drops_total_ += counted;
  // Sequence gaps count every lost message, those the sockets dropped included; what the
  // drop counters do not explain, the kernel sent to no socket at all.
  for (const auto& g : gaps) gaps_total_ += g.count;
  uint64_t unexplained = 0;
  if (gaps_total_ > drops_total_ + gaps_reported_) {
    unexplained = gaps_total_ - drops_total_ - gaps_reported_;
    gaps_reported_ += unexplained;
    lost(unexplained, "proc connector sequence gap: messages no socket received", -1,
         watermark_ns_);
  }
  if (counted || unknown || unexplained) {
    std::lock_guard lock(mu_);
    other_->stats.lost += counted + unexplained;
    other_->stats.loss_reports += unknown;
  }
}

std::vector<std::string> NetlinkSource::notes() const {
  std::vector<std::string> n;
  n.push_back("netlink receive buffer: " + std::to_string(rcvbuf_effective_) + " bytes per socket" +
              (rcvbuf_forced_ ? " (SO_RCVBUFFORCE)" : " (SO_RCVBUF, capped by net.core.rmem_max)"));
  n.push_back(filter_note_);
  n.push_back(reader_note_);
  std::string loss = "loss detection: ";
  loss += drops_counted_
              ? "each socket's drop counter (exact counts)"
              : "ENOBUFS only (this kernel gives no drop counts: lost records without a count)";
  if (seq_tracking_) loss += ", and per-CPU sequence gaps for messages no socket received";
  n.push_back(loss);
  return n;
}

}  // namespace proctrail
