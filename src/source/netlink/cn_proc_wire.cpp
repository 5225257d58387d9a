// The only file that includes <linux/cn_proc.h>.
//
// The build headers may be older than the running kernel (Debian 12 ships 6.1 uapi headers):
// the 6.6 additions (struct proc_input, PROC_EVENT_NONZERO_EXIT) are defined here when CMake
// found them missing, and whether the kernel honours them is probed at run time.
#include "proctrail/cn_proc_wire.hpp"

#include <arpa/inet.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/filter.h>
#include <linux/netlink.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace proctrail::cn_proc {

namespace {

// Up to Linux 6.5 the event enum and payload structs are nested in struct proc_event (so C++
// scopes them there); from 6.6 the enum is at file scope. Naming them through the members'
// types works with both.
using What = decltype(proc_event::what);
using Payload = decltype(proc_event::event_data);
using ForkEvent = decltype(Payload::fork);
using ExecEvent = decltype(Payload::exec);
using IdEvent = decltype(Payload::id);
using SidEvent = decltype(Payload::sid);
using PtraceEvent = decltype(Payload::ptrace);
using CommEvent = decltype(Payload::comm);
using CoredumpEvent = decltype(Payload::coredump);
using ExitEvent = decltype(Payload::exit);
constexpr uint32_t PROC_EVENT_NONE = What::PROC_EVENT_NONE;
constexpr uint32_t PROC_EVENT_FORK = What::PROC_EVENT_FORK;
constexpr uint32_t PROC_EVENT_EXEC = What::PROC_EVENT_EXEC;
constexpr uint32_t PROC_EVENT_UID = What::PROC_EVENT_UID;
constexpr uint32_t PROC_EVENT_GID = What::PROC_EVENT_GID;
constexpr uint32_t PROC_EVENT_SID = What::PROC_EVENT_SID;
constexpr uint32_t PROC_EVENT_PTRACE = What::PROC_EVENT_PTRACE;
constexpr uint32_t PROC_EVENT_COMM = What::PROC_EVENT_COMM;
constexpr uint32_t PROC_EVENT_COREDUMP = What::PROC_EVENT_COREDUMP;
constexpr uint32_t PROC_EVENT_EXIT = What::PROC_EVENT_EXIT;

#ifdef PROCTRAIL_HAVE_PROC_INPUT
constexpr uint32_t kNonzeroExit = What::PROC_EVENT_NONZERO_EXIT;
using ProcInput = struct proc_input;
#else
constexpr uint32_t kNonzeroExit = 0x20000000u;  // PROC_EVENT_NONZERO_EXIT, Linux 6.6
struct ProcInput {                              // struct proc_input, Linux 6.6
  uint32_t mcast_op;
  uint32_t event_type;
};
#endif
static_assert(sizeof(ProcInput) == 8);

constexpr uint32_t kAllEvents =
    PROC_EVENT_FORK | PROC_EVENT_EXEC | PROC_EVENT_UID | PROC_EVENT_GID | PROC_EVENT_SID |
    PROC_EVENT_PTRACE | PROC_EVENT_COMM | kNonzeroExit | PROC_EVENT_COREDUMP | PROC_EVENT_EXIT;

// Layout facts every offset below relies on.
constexpr size_t kNlHdr = sizeof(nlmsghdr);
constexpr size_t kCnHdr = sizeof(cn_msg);
constexpr size_t kEvHdr = offsetof(proc_event, event_data);
static_assert(kNlHdr == 16 && kCnHdr == 20 && kEvHdr == 16);
static_assert(sizeof(proc_event) == 40);
static_assert(kMessageSize == kNlHdr + kCnHdr + sizeof(proc_event));
static_assert(offsetof(proc_event, timestamp_ns) == 8);

// Unaligned little helpers: the proc_event sits at offset 36, not 8-aligned.
template <class T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
void store(std::byte* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

// Payload bytes each known event type needs after the 16-byte proc_event header.
size_t payload_size(uint32_t what) {
  switch (what) {
    case PROC_EVENT_NONE:
      return sizeof(uint32_t);  // ack.err
    case PROC_EVENT_FORK:
      return sizeof(ForkEvent);
    case PROC_EVENT_EXEC:
      return sizeof(ExecEvent);
    case PROC_EVENT_UID:
    case PROC_EVENT_GID:
      return sizeof(IdEvent);
    case PROC_EVENT_SID:
      return sizeof(SidEvent);
    case PROC_EVENT_PTRACE:
      return sizeof(PtraceEvent);
    case PROC_EVENT_COMM:
      return sizeof(CommEvent);
    case PROC_EVENT_COREDUMP:
      return sizeof(CoredumpEvent);
    case PROC_EVENT_EXIT:
      return sizeof(ExitEvent);
    default:
      return 0;
  }
}

Error bad(std::string what) {
  return make_error(std::move(what));
}

}  // namespace

Result<Message> decode(std::span<const std::byte> d) {
  if (d.size() < kNlHdr) {
    return bad("datagram of " + std::to_string(d.size()) +
               " bytes is shorter than a netlink header");
  }
  const auto nl_len = load<uint32_t>(d.data() + offsetof(nlmsghdr, nlmsg_len));
  const auto nl_type = load<uint16_t>(d.data() + offsetof(nlmsghdr, nlmsg_type));
  if (nl_len < kNlHdr + kCnHdr) {
    return bad("netlink length " + std::to_string(nl_len) +
               " leaves no room for a connector header");
  }
  if (nl_len > d.size()) {
    return bad("netlink length " + std::to_string(nl_len) + " exceeds the " +
               std::to_string(d.size()) + " bytes received");
  }
  if (d.size() - nl_len >= NLMSG_ALIGNTO) {
    return bad("datagram has " + std::to_string(d.size() - nl_len) +
               " bytes after its message (the proc connector sends one per datagram)");
  }
  if (nl_type != NLMSG_DONE) {
    return bad("netlink message type " + std::to_string(nl_type) + " is not NLMSG_DONE");
  }

  const std::byte* cn = d.data() + kNlHdr;
  const auto idx = load<uint32_t>(cn + offsetof(cn_msg, id.idx));
  const auto val = load<uint32_t>(cn + offsetof(cn_msg, id.val));
  if (idx != CN_IDX_PROC || val != CN_VAL_PROC) {
    return bad("connector id {" + std::to_string(idx) + "," + std::to_string(val) +
               "} is not the proc connector's");
  }
  const auto cn_len = load<uint16_t>(cn + offsetof(cn_msg, len));
  if (cn_len != nl_len - kNlHdr - kCnHdr) {
    return bad("connector length " + std::to_string(cn_len) + " disagrees with netlink length " +
               std::to_string(nl_len));
  }
  if (cn_len > kMaxPayload)
    return bad("connector payload of " + std::to_string(cn_len) + " bytes is oversized");
  if (cn_len < kEvHdr)
    return bad("connector payload of " + std::to_string(cn_len) +
               " bytes is shorter than an event header");

  Message m;
  m.seq = load<uint32_t>(cn + offsetof(cn_msg, seq));
  m.ack = load<uint32_t>(cn + offsetof(cn_msg, ack));

  const std::byte* ev = cn + kCnHdr;
  const auto what = load<uint32_t>(ev + offsetof(proc_event, what));
  const size_t need = payload_size(what);
  if (cn_len < kEvHdr + need) {
    return bad("event type " + std::to_string(what) + " needs " + std::to_string(kEvHdr + need) +
               " bytes, got " + std::to_string(cn_len));
  }
  Event& e = m.event;
  e.cpu = static_cast<int32_t>(load<uint32_t>(ev + offsetof(proc_event, cpu)));
  e.ts_ns = load<uint64_t>(ev + offsetof(proc_event, timestamp_ns));
  const std::byte* p = ev + kEvHdr;
  auto i32 = [p](size_t off) { return load<int32_t>(p + off); };
  auto u32 = [p](size_t off) { return load<uint32_t>(p + off); };

  switch (what) {
    case PROC_EVENT_NONE:
      e.data = AckData{u32(0), m.ack};
      break;
    case PROC_EVENT_FORK: {
      ForkData f{i32(offsetof(ForkEvent, parent_tgid)), i32(offsetof(ForkEvent, parent_pid)),
                 i32(offsetof(ForkEvent, child_tgid)), i32(offsetof(ForkEvent, child_pid))};
      // A new process is the parent's doing. A new thread belongs to the process that gains
      // it; the kernel's "parent" of a thread is that process's parent, not its creator.
      e.pid = f.is_thread() ? f.child_pid : f.parent_pid;
      e.tid = f.is_thread() ? f.child_tid : f.parent_tid;
      e.data = f;
      break;
    }
    case PROC_EVENT_EXEC:
      e.pid = i32(offsetof(ExecEvent, process_tgid));
      e.tid = i32(offsetof(ExecEvent, process_pid));
      e.data = ExecData{};
      break;
    case PROC_EVENT_UID:
    case PROC_EVENT_GID: {
      e.pid = i32(offsetof(IdEvent, process_tgid));
      e.tid = i32(offsetof(IdEvent, process_pid));
      uint32_t r = u32(offsetof(IdEvent, r)), eff = u32(offsetof(IdEvent, e));
      if (what == PROC_EVENT_UID) {
        e.data = UidData{r, eff};
      } else {
        e.data = GidData{r, eff};
      }
      break;
    }
    case PROC_EVENT_SID:
      e.pid = i32(offsetof(SidEvent, process_tgid));
      e.tid = i32(offsetof(SidEvent, process_pid));
      e.data = SidData{};
      break;
    case PROC_EVENT_PTRACE:
      e.pid = i32(offsetof(PtraceEvent, process_tgid));
      e.tid = i32(offsetof(PtraceEvent, process_pid));
      e.data = PtraceData{i32(offsetof(PtraceEvent, tracer_tgid)),
                          i32(offsetof(PtraceEvent, tracer_pid))};
      break;
    case PROC_EVENT_COMM: {
      e.pid = i32(offsetof(CommEvent, process_tgid));
      e.tid = i32(offsetof(CommEvent, process_pid));
      const char* c = reinterpret_cast<const char*>(p + offsetof(CommEvent, comm));
      constexpr size_t cap = sizeof(CommEvent::comm);
      // The kernel NUL-terminates; a message that does not is still decoded, bounded.
      e.data = CommData{std::string(c, strnlen(c, cap))};
      break;
    }
    case PROC_EVENT_COREDUMP:
      e.pid = i32(offsetof(CoredumpEvent, process_tgid));
      e.tid = i32(offsetof(CoredumpEvent, process_pid));
      e.data = CoredumpData{i32(offsetof(CoredumpEvent, parent_tgid)),
                            i32(offsetof(CoredumpEvent, parent_pid))};
      break;
    case PROC_EVENT_EXIT: {
      e.pid = i32(offsetof(ExitEvent, process_tgid));
      e.tid = i32(offsetof(ExitEvent, process_pid));
      ExitData x;
      x.raw_status = u32(offsetof(ExitEvent, exit_code));
      x.exit_signal = i32(offsetof(ExitEvent, exit_signal));
      x.parent_pid = i32(offsetof(ExitEvent, parent_tgid));
      x.parent_tid = i32(offsetof(ExitEvent, parent_pid));
      e.data = std::move(x);
      break;
    }
    default:
      e.data = UnknownData{what};
      break;
  }
  return m;
}

uint32_t kernel_all_events() {
  return kAllEvents;
}

uint32_t kernel_bits_admitting(EventType type) {
  if (type == EventType::Exit) return PROC_EVENT_EXIT | kNonzeroExit;
  if (type == EventType::Ack || type == EventType::Unknown) return kAllEvents;
  EventMask one;
  one.add(type);
  return kernel_event_bits(one);
}

uint32_t kernel_event_bits(const EventMask& mask) {
  uint32_t bits = 0;
  if (mask.has(EventType::Fork)) bits |= PROC_EVENT_FORK;
  if (mask.has(EventType::Exec)) bits |= PROC_EVENT_EXEC;
  if (mask.has(EventType::Uid)) bits |= PROC_EVENT_UID;
  if (mask.has(EventType::Gid)) bits |= PROC_EVENT_GID;
  if (mask.has(EventType::Sid)) bits |= PROC_EVENT_SID;
  if (mask.has(EventType::Ptrace)) bits |= PROC_EVENT_PTRACE;
  if (mask.has(EventType::Comm)) bits |= PROC_EVENT_COMM;
  if (mask.has(EventType::Coredump)) bits |= PROC_EVENT_COREDUMP;
  if (mask.has(EventType::Exit)) bits |= mask.nonzero_exit_only() ? kNonzeroExit : PROC_EVENT_EXIT;
  return bits;
}

namespace {

// A classic BPF program ending in two returns, "keep" and "drop", that jumps can name.
class FilterBuilder {
 public:
  enum class To { Next, Keep, Drop };

  void load_word(uint32_t offset) { p_.push_back({BPF_LD | BPF_W | BPF_ABS, 0, 0, offset}); }
  void jump_if_equal(uint32_t k, To if_true, To if_false) {
    fixups_.push_back({p_.size(), if_true, if_false});
    p_.push_back({BPF_JMP | BPF_JEQ | BPF_K, 0, 0, k});
  }
  void ret(bool keep) { p_.push_back({BPF_RET | BPF_K, 0, 0, keep ? kKeep : 0u}); }

  std::vector<FilterInsn> finish() {
    const size_t keep = p_.size(), drop = keep + 1;
    ret(true);
    ret(false);
    auto offset = [&](size_t from, To to) -> uint8_t {
      if (to == To::Next) return 0;
      size_t jump = (to == To::Keep ? keep : drop) - from - 1;
      // Classic BPF jumps are 8 bits; callers keep programs short (64 CPUs at most).
      if (jump > 255) std::abort();
      return static_cast<uint8_t>(jump);
    };
    for (const auto& f : fixups_) {
      p_[f.at].jt = offset(f.at, f.if_true);
      p_[f.at].jf = offset(f.at, f.if_false);
    }
    return std::move(p_);
  }

 private:
  static constexpr uint32_t kKeep = 0xffffffffu;
  struct Fixup {
    size_t at;
    To if_true, if_false;
  };
  std::vector<FilterInsn> p_;
  std::vector<Fixup> fixups_;
};

}  // namespace

std::vector<FilterInsn> socket_filter(Route route, std::span<const int> cpus,
                                      std::optional<uint32_t> types) {
  static_assert(sizeof(FilterInsn) == sizeof(sock_filter));
  static_assert(offsetof(FilterInsn, k) == offsetof(sock_filter, k));
  // Absolute loads read from the start of the netlink message, in network byte order: the
  // constants are compared as htonl(value).
  constexpr uint32_t kWhatAt = kNlHdr + kCnHdr + offsetof(proc_event, what);
  constexpr uint32_t kCpuAt = kNlHdr + kCnHdr + offsetof(proc_event, cpu);
  using To = FilterBuilder::To;
  FilterBuilder b;
  b.load_word(kWhatAt);
  b.jump_if_equal(htonl(PROC_EVENT_NONE), To::Keep, To::Next);
  if (route == Route::All || route == Route::AllButExec) {
    if (!types) {
      if (route == Route::AllButExec) b.jump_if_equal(htonl(PROC_EVENT_EXEC), To::Drop, To::Keep);
      return b.finish();
    }
    // The kernel filter's "non-zero exit" is a kind of exit, not a message type.
    uint32_t kinds = *types;
    if (kinds & kNonzeroExit) kinds = (kinds & ~kNonzeroExit) | PROC_EVENT_EXIT;
    if (route == Route::AllButExec) kinds &= ~PROC_EVENT_EXEC;
    // One comparison per kept type; anything else, unknown types included, is dropped.
    for (uint32_t bit = 1; bit != 0; bit <<= 1) {
      if (kinds & bit) b.jump_if_equal(htonl(bit), To::Keep, To::Next);
    }
    b.ret(false);
    return b.finish();
  }
  const bool on = route == Route::ExecOnCpus;
  b.jump_if_equal(htonl(PROC_EVENT_EXEC), To::Next, To::Drop);
  b.load_word(kCpuAt);
  for (int cpu : cpus) {
    b.jump_if_equal(htonl(static_cast<uint32_t>(cpu)), on ? To::Keep : To::Drop, To::Next);
  }
  b.ret(!on);  // no listed CPU matched
  return b.finish();
}

std::vector<std::byte> encode_request(McastOp op, std::optional<uint32_t> event_bits,
                                      uint32_t ack_nonce, uint32_t port_id) {
  const size_t payload = event_bits ? sizeof(ProcInput) : sizeof(uint32_t);
  std::vector<std::byte> out(kNlHdr + kCnHdr + payload);
  std::byte* b = out.data();
  store<uint32_t>(b + offsetof(nlmsghdr, nlmsg_len), static_cast<uint32_t>(out.size()));
  store<uint16_t>(b + offsetof(nlmsghdr, nlmsg_type), NLMSG_DONE);
  store<uint32_t>(b + offsetof(nlmsghdr, nlmsg_pid), port_id);
  std::byte* cn = b + kNlHdr;
  store<uint32_t>(cn + offsetof(cn_msg, id.idx), CN_IDX_PROC);
  store<uint32_t>(cn + offsetof(cn_msg, id.val), CN_VAL_PROC);
  store<uint32_t>(cn + offsetof(cn_msg, ack), ack_nonce);
  store<uint16_t>(cn + offsetof(cn_msg, len), static_cast<uint16_t>(payload));
  std::byte* p = cn + kCnHdr;
  store<uint32_t>(p, static_cast<uint32_t>(op));
  if (event_bits) store<uint32_t>(p + offsetof(ProcInput, event_type), *event_bits);
  return out;
}

std::vector<std::byte> encode_event(const Event& e, uint32_t seq, uint32_t ack) {
  std::vector<std::byte> out(kMessageSize);
  std::byte* b = out.data();
  store<uint32_t>(b + offsetof(nlmsghdr, nlmsg_len), kMessageSize);
  store<uint16_t>(b + offsetof(nlmsghdr, nlmsg_type), NLMSG_DONE);
  std::byte* cn = b + kNlHdr;
  store<uint32_t>(cn + offsetof(cn_msg, id.idx), CN_IDX_PROC);
  store<uint32_t>(cn + offsetof(cn_msg, id.val), CN_VAL_PROC);
  store<uint32_t>(cn + offsetof(cn_msg, seq), seq);
  store<uint32_t>(cn + offsetof(cn_msg, ack), ack);
  store<uint16_t>(cn + offsetof(cn_msg, len), sizeof(proc_event));
  std::byte* ev = cn + kCnHdr;
  store<uint32_t>(ev + offsetof(proc_event, cpu), static_cast<uint32_t>(e.cpu));
  store<uint64_t>(ev + offsetof(proc_event, timestamp_ns), e.ts_ns);
  std::byte* p = ev + kEvHdr;
  auto put = [p](size_t off, auto v) { store(p + off, v); };
  uint32_t what = PROC_EVENT_NONE;
  // The subject pair (tgid, pid) sits first in every per-process payload.
  auto subject = [&] {
    put(0, e.tid);
    put(4, e.pid);
  };
  std::visit(
      [&](const auto& d) {
        using T = std::decay_t<decltype(d)>;
        if constexpr (std::is_same_v<T, AckData>) {
          put(0, d.error);
        } else if constexpr (std::is_same_v<T, ForkData>) {
          what = PROC_EVENT_FORK;
          put(offsetof(ForkEvent, parent_pid), d.parent_tid);
          put(offsetof(ForkEvent, parent_tgid), d.parent_pid);
          put(offsetof(ForkEvent, child_pid), d.child_tid);
          put(offsetof(ForkEvent, child_tgid), d.child_pid);
        } else if constexpr (std::is_same_v<T, ExecData>) {
          what = PROC_EVENT_EXEC;
          subject();
        } else if constexpr (std::is_same_v<T, UidData> || std::is_same_v<T, GidData>) {
          what = std::is_same_v<T, UidData> ? PROC_EVENT_UID : PROC_EVENT_GID;
          subject();
          if constexpr (std::is_same_v<T, UidData>) {
            put(offsetof(IdEvent, r), d.ruid);
            put(offsetof(IdEvent, e), d.euid);
          } else {
            put(offsetof(IdEvent, r), d.rgid);
            put(offsetof(IdEvent, e), d.egid);
          }
        } else if constexpr (std::is_same_v<T, SidData>) {
          what = PROC_EVENT_SID;
          subject();
        } else if constexpr (std::is_same_v<T, PtraceData>) {
          what = PROC_EVENT_PTRACE;
          subject();
          put(offsetof(PtraceEvent, tracer_pid), d.tracer_tid);
          put(offsetof(PtraceEvent, tracer_tgid), d.tracer_pid);
        } else if constexpr (std::is_same_v<T, CommData>) {
          what = PROC_EVENT_COMM;
          subject();
          std::memcpy(p + offsetof(CommEvent, comm), d.comm.data(),
                      std::min(d.comm.size(), sizeof(CommEvent::comm)));
        } else if constexpr (std::is_same_v<T, CoredumpData>) {
          what = PROC_EVENT_COREDUMP;
          subject();
          put(offsetof(CoredumpEvent, parent_pid), d.parent_tid);
          put(offsetof(CoredumpEvent, parent_tgid), d.parent_pid);
        } else if constexpr (std::is_same_v<T, ExitData>) {
          what = PROC_EVENT_EXIT;
          subject();
          put(offsetof(ExitEvent, exit_code), d.raw_status);
          put(offsetof(ExitEvent, exit_signal), d.exit_signal);
          put(offsetof(ExitEvent, parent_pid), d.parent_tid);
          put(offsetof(ExitEvent, parent_tgid), d.parent_pid);
        } else if constexpr (std::is_same_v<T, UnknownData>) {
          what = d.what;
          subject();
        }
        // Lost, Resync and Start are not kernel messages: they encode as an ack-shaped NONE.
      },
      e.data);
  store<uint32_t>(ev + offsetof(proc_event, what), what);
  return out;
}

}  // namespace proctrail::cn_proc
