#include "policy.hpp"

#include <grp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <fstream>
#include <vector>

namespace proctrail::cli {

namespace {

bool member_of(gid_t group) {
  if (getgid() == group || getegid() == group) return true;
  int n = getgroups(0, nullptr);
  if (n <= 0) return false;
  std::vector<gid_t> groups(static_cast<size_t>(n));
  n = getgroups(n, groups.data());
  for (int i = 0; i < n; ++i) {
    if (groups[static_cast<size_t>(i)] == group) return true;
  }
  return false;
}

// net.core.rmem_max: the largest receive buffer the kernel gives without CAP_NET_ADMIN.
size_t rmem_max() {
  std::ifstream in("/proc/sys/net/core/rmem_max");
  size_t v = 0;
  return in >> v ? v : 212992;
}

}  // namespace

Caller identify_caller() {
  Caller c;
  c.uid = getuid();
  c.root = c.uid == 0;
  if (const group* g = getgrnam(PROCTRAIL_GROUP)) c.in_monitor_group = member_of(g->gr_gid);
  return c;
}

Status apply_caller_rules(const Caller& caller, Options& o) {
  const bool everyone = caller.root || caller.in_monitor_group;
  if (o.scope == Scope::All && !everyone) {
    return make_error("--scope all: every user's processes are for root and members of group '" +
                      std::string(PROCTRAIL_GROUP) + "' (see PRIVILEGES in proctrail(8))");
  }
  if (o.scope == Scope::Own || (o.scope == Scope::Default && !everyone)) {
    o.monitor.filter.owner_uid = caller.uid;
  }
  if (caller.root) return {};
  MonitorOptions& m = o.monitor;
  if (o.exec_failed_asked) {
    return make_error(
        "-e exec-failed: failed execs are watched only for root: watching them slows every "
        "system call on the machine");
  }
  m.allow_exec_failed = false;  // --failed goes on without them, and says so
  if (o.ringbuf_given && m.ring_buffer_bytes > kMaxRingBufferBytes) {
    return make_error("--ringbuf: at most 8M for a user other than root (it pins that much "
                      "kernel memory)");
  }
  const size_t limit = rmem_max();
  if (o.rcvbuf_given && static_cast<size_t>(m.receive_buffer_bytes) > limit) {
    return make_error("--rcvbuf: at most " + std::to_string(limit) +
                      " (net.core.rmem_max) for a user other than root");
  }
  m.force_buffers = false;
  return {};
}

Result<UniqueFd> claim_instance_slot(uint32_t uid) {
  for (int slot = 0; slot < kMaxInstances; ++slot) {
    UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return system_error("socket");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    // An abstract name: no file to leave behind or to tamper with; gone when the process is.
    const std::string name = "proctrail/instance/" + std::to_string(uid) + "/" + std::to_string(slot);
    name.copy(addr.sun_path + 1, sizeof addr.sun_path - 2);
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0) return fd;
    if (errno != EADDRINUSE) return system_error("claim an instance slot");
  }
  return make_error(std::to_string(kMaxInstances) +
                    " instances already run as this user (a user other than root may run at "
                    "most " +
                    std::to_string(kMaxInstances) + " at once)");
}

}  // namespace proctrail::cli
