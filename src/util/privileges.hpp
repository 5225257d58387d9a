// Least privilege: once set-up is done, a thread keeps only the capabilities it still uses.
//
// Linux capabilities and no_new_privs belong to each thread, not to the process: every thread
// that should give them up has to call drop_capabilities() itself. Threads created afterwards
// inherit what their creator kept.
#pragma once

#include <vector>
#include <string>

#include "proctrail/result.hpp"

namespace proctrail {

// Capability numbers (linux/capability.h), named here so callers need not include it.
namespace cap {
inline constexpr int kDacReadSearch = 2;  // /proc/PID/environ of another user (--env)
inline constexpr int kNetAdmin = 12;      // unsubscribing from the proc connector
inline constexpr int kSysPtrace = 19;  // /proc/PID/exe, cwd, environ, stat's image fields
inline constexpr int kSysAdmin = 21;
inline constexpr int kBpf = 39;  // reading the eBPF maps and program counters
}  // namespace cap

// Keeps only `keep` (those the thread has) in the calling thread's effective and permitted
// sets; empties its inheritable and ambient sets and, where permitted, its bounding set; sets
// no_new_privs. Without any capabilities it only sets no_new_privs.
Status drop_capabilities(const std::vector<int>& keep);

// Whether the calling thread has capability c in its effective set.
bool has_capability(int c);

// "CAP_NET_ADMIN, CAP_SYS_PTRACE" for the calling thread's effective set ("none" when empty).
std::string effective_capabilities();

}  // namespace proctrail
