// Process trees from /proc: those of the given processes that are running, and all their
// descendants running now, from one pass over /proc/PID/stat. For the -p filter, which then follows
// the trees through fork events (the filter stage, and the eBPF programs when they narrow in the
// kernel).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proctrail/event.hpp"

namespace proctrail::procfs {

std::vector<int32_t> tree_now(const std::vector<int32_t>& roots,
                              const std::string& proc_root = "/proc");
// The same processes, each with its start (a process key, exec ordinal 0).
std::vector<ProcessKey> tree_keys_now(const std::vector<int32_t>& roots,
                                      const std::string& proc_root = "/proc");

}  // namespace proctrail::procfs
