#include "source/netlink/netlink_source.hpp"

#include <algorithm>

#include "util/namespaces.hpp"

namespace proctrail {

namespace {

// Exec readers at most; the other CPUs share the last exec socket. This also bounds the socket
// filter of that socket, whose jumps must stay within 255 instructions.
constexpr size_t kMaxExecReaders = 64;

}  // namespace

using netlink::Channel;
using netlink::Received;

NetlinkSource::NetlinkSource(NetlinkOptions options)
    : options_(std::move(options)), subscriber_(options_.ack_timeout, options_.kernel_filter) {}

NetlinkSource::~NetlinkSource() {
  readers_.reset();  // joins the readers before their channels go
}

int NetlinkSource::fd() const {
  if (readers_) return readers_->wake_fd();
  return other_ ? other_->fd() : -1;
}

SourceStats NetlinkSource::stats() const {
  SourceStats s;
  if (other_) s += other_->stats();
  for (const auto& c : execs_) s += c->stats();
  s.received = received_;
  s.filter_leaks = filter_leaks_;
  s.lost = lost_;
  s.loss_reports = loss_reports_;
  return s;
}

std::vector<Channel*> NetlinkSource::channels() {
  std::vector<Channel*> all;
  if (other_) all.push_back(other_.get());
  for (auto& c : execs_) all.push_back(c.get());
  return all;
}

void NetlinkSource::accept(cn_proc::Message&& msg, const ExecHandler* handler,
                           std::vector<Received>& out) {
  Received r{std::move(msg.event), msg.seq};
  Event& e = r.event;
  if (const auto* ack = std::get_if<AckData>(&e.data)) {
    // Acks answer every listener's requests. Ours carry our nonce; the first goes in the
    // stream. The rest only count for their sequence numbers.
    r.emit = subscriber_.record(*ack) && !acked_.exchange(true);
    out.push_back(std::move(r));
    return;
  }
  // Only what was asked for goes on (a kernel without the 6.6 filter sends everything); the
  // sequence number still counts.
  r.emit = options_.events.accepts(e);
  if (!r.emit) {
    if (started_ns_ != 0 && e.ts_ns >= started_ns_) ++filter_leaks_;
    out.push_back(std::move(r));
    return;
  }
  if (handler && *handler && e.type() == EventType::Exec) (*handler)(e);
  ++received_;
  out.push_back(std::move(r));
}

Status NetlinkSource::start() {
  if (auto s = require_initial_namespaces(
          options_.proc_root,
          "the proc connector ignores listeners outside the initial namespaces");
      !s) {
    return s;
  }
  poll_bufs_ = std::make_unique<netlink::RecvBuffers>();
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
  Channel::Config base;
  base.receive_buffer_bytes = options_.receive_buffer_bytes;
  base.force_receive_buffer = options_.force_receive_buffer;
  base.proc_root = options_.proc_root;
  Channel::Config other = base;
  other.route = readers ? cn_proc::Route::AllButExec : cn_proc::Route::All;
  if (narrow) other.types = wanted;
  auto opened = Channel::open(other);
  if (!opened) return opened.error();
  other_ = std::move(*opened);
  if (readers) {
    for (int cpu : cpus) {
      Channel::Config c = base;
      c.route = cn_proc::Route::ExecOnCpus;
      c.cpus = {cpu};
      c.cpu = cpu;
      auto ch = Channel::open(c);
      if (!ch) return ch.error();
      execs_.push_back(std::move(*ch));
    }
    Channel::Config rest = base;
    rest.route = cn_proc::Route::ExecOffCpus;
    rest.cpus = cpus;
    auto ch = Channel::open(rest);
    if (!ch) return ch.error();
    execs_.push_back(std::move(*ch));
  }

  // Messages that arrive during the handshake go to the stream, through the readers' inbox
  // path: the early ones are simply taken on the first poll().
  std::vector<Received> early;
  const Channel::OnMessage keep_early = [&](cn_proc::Message&& m) {
    accept(std::move(m), nullptr, early);
  };
  std::optional<uint32_t> other_bits;
  if (narrow) {
    other_bits = readers ? (wanted & ~exec_bit) : wanted;
    // Exec alone: the kernel reads an empty filter as "everything", so ask `other_` for exec,
    // which its socket filter then drops: it carries nothing.
    if (*other_bits == 0) other_bits = exec_bit;
  }
  if (auto s = subscriber_.subscribe(*other_, other_bits, *poll_bufs_, keep_early); !s) return s;
  for (auto& c : execs_) {
    std::optional<uint32_t> bits;
    if (subscriber_.kernel_filters() == true) bits = exec_bit;
    if (auto s = subscriber_.subscribe(*c, bits, *poll_bufs_, keep_early); !s) return s;
  }
  kernel_filtering_ = subscriber_.kernel_filters() == true && options_.kernel_filter && narrow;
  // The sockets together see every message, and so every sequence number, unless some types
  // are filtered out: then only the sockets' drop counters tell what was lost.
  seq_tracking_ = !narrow;
  for (Channel* c : channels()) {
    auto d = c->drops();
    drops_seen_.push_back(d.value_or(0));
    if (!d) drops_counted_ = false;
  }
  started_ns_ = monotonic_now_ns();
  watermark_ns_ = started_ns_ - std::min(started_ns_, kDeliverySlackNs);
  other_drained_ns_ = started_ns_;

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
    readers_ = std::make_unique<netlink::ExecReaders>(
        [this](cn_proc::Message&& m, const ExecHandler* h, std::vector<Received>& out) {
          accept(std::move(m), h, out);
        });
    std::vector<Channel*> exec_channels;
    for (auto& c : execs_) exec_channels.push_back(c.get());
    if (auto s = readers_->start(exec_channels, handler_factory_, options_.reader_priority,
                                 options_.reader_capabilities);
        !s) {
      return s;
    }
    reader_note_ = "exec readers: " + std::to_string(cpus.size()) +
                   " pinned to their CPUs and one for other CPUs, at " + readers_->priorities();
  } else {
    reader_note_ = "no exec reader threads: exec events are handled on the polling thread";
    if (handler_factory_) poll_handler_ = handler_factory_();
  }
  early_ = std::move(early);
  return {};
}

Status NetlinkSource::poll(std::chrono::milliseconds timeout, std::vector<Event>& out) {
  if (!other_) return make_error("netlink source is not started");
  std::vector<Received> got = std::move(early_);
  early_.clear();
  uint64_t drained = UINT64_MAX;
  if (readers_) {
    if (auto s = readers_->take(timeout, got, &drained); !s) return s;
  } else if (timeout.count() > 0) {
    other_->set_receive_timeout(timeout);
  }
  uint64_t other_drained = 0;
  const ExecHandler* handler = poll_handler_ ? &poll_handler_ : nullptr;
  const Channel::OnMessage on_message = [&](cn_proc::Message&& m) {
    accept(std::move(m), handler, got);
  };
  if (auto s = other_->receive(*poll_bufs_, !readers_ && timeout.count() > 0, on_message,
                               &other_drained);
      !s) {
    return s;
  }
  if (other_drained > other_drained_ns_) other_drained_ns_ = other_drained;
  drained = std::min(drained, other_drained_ns_);
  if (drained > kDeliverySlackNs && drained - kDeliverySlackNs > watermark_ns_) {
    watermark_ns_ = drained - kDeliverySlackNs;
  }

  std::vector<SeqGapFinder::Gap> gaps;
  for (auto& r : got) {
    // Before every socket was subscribed the view is partial: the stream starts after.
    if (r.event.ts_ns < started_ns_ && r.emit && r.event.type() != EventType::Ack) continue;
    if (seq_tracking_ && r.event.ts_ns >= started_ns_) {
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
  auto lost = [&](std::optional<uint64_t> count, std::string why, uint64_t ts) {
    Event e;
    e.ts_ns = ts;
    e.wall_ns = clock_.to_wall_ns(ts);
    e.data = LostData{count, std::move(why)};
    out.push_back(std::move(e));
  };
  auto all = channels();
  for (size_t i = 0; i < all.size(); ++i) {
    Channel& c = *all[i];
    const bool overflowed = c.take_overflow();
    const std::string where = c.cpu() >= 0 ? "the exec socket of cpu " + std::to_string(c.cpu())
                              : &c == other_.get() ? std::string("the main socket")
                                                   : "the exec socket of other cpus";
    std::optional<uint64_t> drops = drops_counted_ ? c.drops() : std::nullopt;
    if (drops && *drops > drops_seen_[i]) {
      // Counted where the stream is now: the lost messages may be any of those up to here.
      const uint64_t n = *drops - drops_seen_[i];
      drops_seen_[i] = *drops;
      drops_total_ += n;
      lost_ += n;
      lost(n, "netlink receive buffer full (ENOBUFS) on " + where, now);
    } else if (overflowed && !drops_counted_) {
      ++loss_reports_;
      lost(std::nullopt, "netlink receive buffer full (ENOBUFS) on " + where, now);
    }
  }
  // Sequence gaps count every lost message, those the sockets dropped included; what the drop
  // counters do not explain, the kernel sent to no socket at all.
  for (const auto& g : gaps) gaps_total_ += g.count;
  if (gaps_total_ > drops_total_ + gaps_reported_) {
    const uint64_t unexplained = gaps_total_ - drops_total_ - gaps_reported_;
    gaps_reported_ += unexplained;
    lost_ += unexplained;
    lost(unexplained, "proc connector sequence gap: messages no socket received", watermark_ns_);
  }
}

std::vector<std::string> NetlinkSource::notes() const {
  std::vector<std::string> n;
  if (other_) {
    n.push_back("netlink receive buffer: " + std::to_string(other_->receive_buffer()) +
                " bytes per socket" +
                (other_->receive_buffer_forced() ? " (SO_RCVBUFFORCE)"
                                                 : " (SO_RCVBUF, capped by net.core.rmem_max)"));
  }
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
