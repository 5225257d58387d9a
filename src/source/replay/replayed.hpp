// What every source that reads a recording does with an event it decoded: a loss the recording
// holds stays a loss (counted, and in the stream), and the watermark follows the newest time.
#pragma once

#include <algorithm>
#include <vector>

#include "proctrail/source.hpp"

namespace proctrail {

inline void hand_out_replayed(Event e, SourceStats& stats, uint64_t& newest,
                              std::vector<Event>& out) {
  if (const auto* l = std::get_if<LostData>(&e.data)) {
    stats.lost += l->count.value_or(0);
    if (!l->count) ++stats.loss_reports;
  }
  newest = std::max(newest, e.ts_ns);
  out.push_back(std::move(e));
  ++stats.received;
}

}  // namespace proctrail
