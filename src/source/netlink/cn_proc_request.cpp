// Subscription requests and the event-type bits of the kernel-side filter.
#include "source/netlink/cn_proc.hpp"
#include "source/netlink/cn_proc_layout.hpp"

namespace proctrail::cn_proc {

using namespace layout;

uint32_t kernel_all_events() {
  return kAllEvents;
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
}  // namespace proctrail::cn_proc
