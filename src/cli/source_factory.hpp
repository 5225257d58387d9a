// Chooses and starts the event source for the CLI's --backend.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "options.hpp"
#include "proctrail/enricher.hpp"
#include "proctrail/result.hpp"
#include "proctrail/source.hpp"

namespace proctrail::cli {

struct ChosenSource {
  std::unique_ptr<EventSource> source;
  std::string reason;  // why this backend: for -v and the JSON start record
  // Priority for the pipeline's receive thread: raised when it runs the exec handlers.
  Priority receive_priority = Priority::Normal;
};

// The event types the kernel must deliver: the user's selection, plus what the process table
// needs when enrichment is on.
EventMask kernel_events(const Options& o, bool enrich);

// Builds and starts the source, with the enricher's exec handlers when there is one. With
// --backend auto, a backend that fails to start is reported under -v and the next one tried.
Result<ChosenSource> make_source(const Options& o, Enricher* enricher,
                                 const std::function<void(std::string_view)>& verbose);

}  // namespace proctrail::cli
