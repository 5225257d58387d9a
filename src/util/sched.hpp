// Thread scheduling: priority and CPU placement for the threads that race processes to /proc.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proctrail/options.hpp"  // Priority

namespace proctrail {

std::optional<Priority> parse_priority(std::string_view name);

// Raises the calling thread's scheduling priority: SCHED_FIFO when permitted, else a negative
// nice value, else nothing. Returns what was done, for -v.
std::string raise_thread_priority(Priority wanted);

// CPUs this process may run on (sched_getaffinity).
std::vector<int> allowed_cpus();

// Pins the calling thread to one CPU. False when the kernel refuses (offline CPU, cpuset).
bool pin_thread_to_cpu(int cpu);

}  // namespace proctrail
