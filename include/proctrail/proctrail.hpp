// proctrail: every process the machine starts, with its true command line, parent, user, cwd,
// container, exit status and lifetime. One include for the whole public API; docs/library.md
// says how to use it.
#pragma once

#include "proctrail/event.hpp"    // the event model
#include "proctrail/filter.hpp"   // what to see
#include "proctrail/format.hpp"   // text, JSON and seed formatters
#include "proctrail/monitor.hpp"  // the entry point: Monitor
#include "proctrail/options.hpp"  // MonitorOptions
#include "proctrail/result.hpp"   // Result<T>, Status, Error
#include "proctrail/sink.hpp"     // where events go
#include "proctrail/source.hpp"   // the contract of event sources
