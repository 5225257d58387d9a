// The proc connector's layout as <linux/cn_proc.h> gives it, for the cn_proc_*.cpp files only:
// the one place that header is included.
//
// The build headers may be older than the running kernel (Debian 12 ships 6.1 uapi headers):
// the 6.6 additions (struct proc_input, PROC_EVENT_NONZERO_EXIT) are defined here when CMake
// found them missing, and whether the kernel honours them is probed at run time.
#pragma once

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace proctrail::cn_proc::layout {

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
inline constexpr uint32_t PROC_EVENT_NONE = What::PROC_EVENT_NONE;
inline constexpr uint32_t PROC_EVENT_FORK = What::PROC_EVENT_FORK;
inline constexpr uint32_t PROC_EVENT_EXEC = What::PROC_EVENT_EXEC;
inline constexpr uint32_t PROC_EVENT_UID = What::PROC_EVENT_UID;
inline constexpr uint32_t PROC_EVENT_GID = What::PROC_EVENT_GID;
inline constexpr uint32_t PROC_EVENT_SID = What::PROC_EVENT_SID;
inline constexpr uint32_t PROC_EVENT_PTRACE = What::PROC_EVENT_PTRACE;
inline constexpr uint32_t PROC_EVENT_COMM = What::PROC_EVENT_COMM;
inline constexpr uint32_t PROC_EVENT_COREDUMP = What::PROC_EVENT_COREDUMP;
inline constexpr uint32_t PROC_EVENT_EXIT = What::PROC_EVENT_EXIT;

#ifdef PROCTRAIL_HAVE_PROC_INPUT
inline constexpr uint32_t kNonzeroExit = What::PROC_EVENT_NONZERO_EXIT;
using ProcInput = struct proc_input;
#else
inline constexpr uint32_t kNonzeroExit = 0x20000000u;  // PROC_EVENT_NONZERO_EXIT, Linux 6.6
struct ProcInput {                                     // struct proc_input, Linux 6.6
  uint32_t mcast_op;
  uint32_t event_type;
};
#endif
static_assert(sizeof(ProcInput) == 8);

inline constexpr uint32_t kAllEvents =
    PROC_EVENT_FORK | PROC_EVENT_EXEC | PROC_EVENT_UID | PROC_EVENT_GID | PROC_EVENT_SID |
    PROC_EVENT_PTRACE | PROC_EVENT_COMM | kNonzeroExit | PROC_EVENT_COREDUMP | PROC_EVENT_EXIT;

// Layout facts every offset below relies on.
inline constexpr size_t kNlHdr = sizeof(nlmsghdr);
inline constexpr size_t kCnHdr = sizeof(cn_msg);
inline constexpr size_t kEvHdr = offsetof(proc_event, event_data);
static_assert(kNlHdr == 16 && kCnHdr == 20 && kEvHdr == 16);
static_assert(sizeof(proc_event) == 40);
static_assert(kMessageSize == kNlHdr + kCnHdr + sizeof(proc_event));
static_assert(offsetof(proc_event, timestamp_ns) == 8);

// Unaligned little helpers: the proc_event sits at offset 36, not 8-aligned.
template <class T>
inline T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
inline void store(std::byte* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

}  // namespace proctrail::cn_proc::layout
