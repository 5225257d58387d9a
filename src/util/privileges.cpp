#include "util/privileges.hpp"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>

namespace proctrail {

namespace {

struct Caps {
  uint64_t effective = 0, permitted = 0, inheritable = 0;
};

Result<Caps> get_caps() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return system_error("capget");
  Caps c;
  c.effective = data[0].effective | (uint64_t{data[1].effective} << 32);
  c.permitted = data[0].permitted | (uint64_t{data[1].permitted} << 32);
  c.inheritable = data[0].inheritable | (uint64_t{data[1].inheritable} << 32);
  return c;
}

Status set_caps(const Caps& c) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  data[0].effective = static_cast<uint32_t>(c.effective);
  data[1].effective = static_cast<uint32_t>(c.effective >> 32);
  data[0].permitted = static_cast<uint32_t>(c.permitted);
  data[1].permitted = static_cast<uint32_t>(c.permitted >> 32);
  data[0].inheritable = static_cast<uint32_t>(c.inheritable);
  data[1].inheritable = static_cast<uint32_t>(c.inheritable >> 32);
  if (syscall(SYS_capset, &header, data) != 0) return system_error("capset");
  return {};
}

int last_capability() {
  std::ifstream in("/proc/sys/kernel/cap_last_cap");
  int last = CAP_LAST_CAP;
  in >> last;
  return last > 0 && last < 64 ? last : CAP_LAST_CAP;
}

const char* capability_name(int c) {
  switch (c) {
    case cap::kNetAdmin:
      return "CAP_NET_ADMIN";
    case cap::kSysPtrace:
      return "CAP_SYS_PTRACE";
    case cap::kSysAdmin:
      return "CAP_SYS_ADMIN";
    case cap::kBpf:
      return "CAP_BPF";
    default:
      return nullptr;
  }
}

}  // namespace

Status drop_capabilities(const std::vector<int>& keep) {
  uint64_t mask = 0;
  for (int c : keep) mask |= uint64_t{1} << c;
  auto now = get_caps();
  if (!now) return now.error();
  // The bounding set first: dropping from it needs CAP_SETPCAP, which goes next.
  if (now->effective & (uint64_t{1} << CAP_SETPCAP)) {
    for (int c = 0; c <= last_capability(); ++c) {
      if (!(mask & (uint64_t{1} << c))) (void)prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
    }
  }
  (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  Caps want;
  want.permitted = now->permitted & mask;
  want.effective = now->effective & mask;
  if (want.permitted != now->permitted || want.effective != now->effective ||
      now->inheritable != 0) {
    if (auto s = set_caps(want); !s) return s;
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return system_error("set no_new_privs");
  return {};
}

bool has_capability(int c) {
  auto now = get_caps();
  return now && (now->effective & (uint64_t{1} << c)) != 0;
}

std::string effective_capabilities() {
  auto now = get_caps();
  if (!now) return "unknown (" + now.error().message + ")";
  std::string out;
  for (int c = 0; c < 64; ++c) {
    if (!(now->effective & (uint64_t{1} << c))) continue;
    if (!out.empty()) out += ", ";
    const char* name = capability_name(c);
    out += name ? std::string(name) : "capability " + std::to_string(c);
  }
  return out.empty() ? "none" : out;
}

}  // namespace proctrail
