// Who runs proctrail decides what it shows and what it may cost the machine (proctrail(8),
// PRIVILEGES).
//
// Root sees every user's processes. So may a member of the monitor group (PROCTRAIL_GROUP,
// "proctrail" unless the build names another): membership is the admin's explicit opt-in, and
// the setcap install lets only that group run the binary. Anyone else sees only processes
// whose real and effective uid are theirs (what /proc shows them of the machine when it is
// mounted with hidepid), whatever capabilities the binary has. And a caller who is not root
// may not make one instance cost the whole machine more than stated limits.
#pragma once

#include <cstdint>
#include <string>

#include "options.hpp"
#include "proctrail/result.hpp"
#include "util/unique_fd.hpp"

namespace proctrail::cli {

struct Caller {
  uint32_t uid = 0;
  bool root = false;              // real uid 0 (root, or sudo)
  bool in_monitor_group = false;  // real, effective or supplementary group
};
Caller identify_caller();

// A caller who is not root: instances at once, and the largest buffers.
inline constexpr int kMaxInstances = 4;
inline constexpr size_t kMaxRingBufferBytes = 8 << 20;

// Applies the rules to parsed options: the scope (an error when "all" is not the caller's),
// and for a caller who is not root the limits on cost. Errors are one line.
Status apply_caller_rules(const Caller& caller, Options& o);

// For a caller who is not root: holds one of kMaxInstances slots (abstract unix sockets named
// after the uid, freed by the kernel when the process ends) for as long as the fd is open.
Result<UniqueFd> claim_instance_slot(uint32_t uid);

}  // namespace proctrail::cli
