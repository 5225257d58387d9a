// Building the datagrams the kernel would send: for tests, fuzz seeds and the benchmarks.
#include "source/netlink/cn_proc.hpp"
#include "source/netlink/cn_proc_layout.hpp"

namespace proctrail::cn_proc {

using namespace layout;

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
