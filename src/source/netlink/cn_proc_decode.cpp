// Decoding one proc connector datagram: every length checked, nothing trusted.
#include "source/netlink/cn_proc.hpp"
#include "source/netlink/cn_proc_layout.hpp"

#include <string>

namespace proctrail::cn_proc {

using namespace layout;

namespace {

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
      ForkData f;
      f.parent_pid = i32(offsetof(ForkEvent, parent_tgid));
      f.parent_tid = i32(offsetof(ForkEvent, parent_pid));
      f.child_pid = i32(offsetof(ForkEvent, child_tgid));
      f.child_tid = i32(offsetof(ForkEvent, child_pid));
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

}  // namespace proctrail::cn_proc
