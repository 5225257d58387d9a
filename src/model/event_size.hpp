// What an event holds in memory, roughly. Queues between the stages bound their contents by
// it as well as by count: an event's size is set by the monitored process (a command line of
// 128K, an environment), so a bound by count alone lets one user fill the monitor's memory.
#pragma once

#include <cstddef>

#include "proctrail/event.hpp"

namespace proctrail {

size_t approx_bytes(const Event& e);

}  // namespace proctrail
