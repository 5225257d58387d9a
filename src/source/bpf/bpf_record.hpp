// The eBPF programs' ring buffer records (bpf/proctrail_events.h) as events: a pure function,
// like the proc connector decoder, so malformed records can be built in tests and fuzzed.
#pragma once

#include <cstddef>
#include <span>

#include "proctrail/event.hpp"
#include "proctrail/result.hpp"

namespace proctrail::bpf {

// Decodes one record. Every length is checked against the record's size: an inconsistent
// record is an error, never a read out of bounds. wall_ns is left 0 and the cgroup path
// unset (cgroup_id is set): the caller knows the clocks and the cgroup tree.
Result<Event> decode_record(std::span<const std::byte> record);

}  // namespace proctrail::bpf
