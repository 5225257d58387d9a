// Process trees from /proc: those of the given processes that are running, and all their
// descendants running now, from one pass over /proc/PID/stat. For the -p filter, which then follows
// the trees through fork events (the filter stage, and the eBPF programs when they narrow in the
// kernel).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace proctrail::procfs {

std::vector<int32_t> tree_now(const std::vector<int32_t>& roots,
                              const std::string& proc_root = "/proc");

}  // namespace proctrail::procfs
