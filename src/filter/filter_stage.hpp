// FilterStage: applies an EventFilter to the ordered stream, on the output thread.
//
// It keeps what the conditions need to know about processes, learned from the events
// themselves: which processes descend from the --pid roots (new ones join at their fork), and
// which program each process last ran (for the user / comm / argv / exe / cgroup / container
// conditions on its other events). Both are kept by the process table's keys (pid and start,
// Event::process()): the table alone decides pid reuse, and a stranger that got a followed
// pid after a lost exit is not followed. Both are forgotten when the process ends, so memory
// follows the number of live processes.
#pragma once

#include <atomic>
#include <deque>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "filter/pattern.hpp"
#include "proctrail/filter.hpp"
#include "proctrail/result.hpp"

namespace proctrail {

class FilterStage {
 public:
  // `filter` must have passed validate(). With --pid roots, their descendants already running
  // are read from `proc_root` once, here: start the stage after the source, so a process born
  // since is in that read or in the stream. An empty `proc_root` (a recording, not this
  // machine now): the trees are learnt from the stream alone.
  explicit FilterStage(EventFilter filter, const std::string& proc_root = "/proc");

  // Whether e passes; also learns from it (forks, execs, ends), so every event of the stream
  // must come through here, in order.
  bool accept(const Event& e);
  // Whether the caller may see e's process at all (the scope, EventFilter::owner_uid), without
  // the other filters and without learning from it.
  [[nodiscard]] bool in_scope(const Event& e) const;

  // Processes of the --pid trees that are alive as far as the stream has told (0 without
  // --pid). Readable from any thread: the run mode waits for it to reach 0.
  [[nodiscard]] size_t followed() const { return followed_count_.load(); }
  [[nodiscard]] const EventFilter& filter() const { return filter_; }

 private:
  struct Matchers {
    std::unique_ptr<Pattern> comm, argv, exe;
  };
  // The program a process runs, and the verdict of the process conditions on it, reached
  // once per image: its exit and its other events reuse it (a long command line is matched
  // once, not once per event).
  struct Known {
    std::shared_ptr<const ExecDetails> image;
    std::optional<bool> verdict;
  };
  bool in_trees(const Event& e);
  // Whether the event is in the --since/--until window (none given: always).
  [[nodiscard]] bool in_window(const Event& e) const;
  [[nodiscard]] bool is_followed(const ProcessKey& process) const;
  // After a loss the stream may lack forks of the trees: read them again from /proc.
  void refresh_trees();
  bool matches_process(const Event& e);
  bool evaluate(const ExecDetails* d, const ExecFailedData* failed,
                const std::string* exit_comm) const;
  void learn_after(const Event& e, std::optional<bool> exec_verdict);

  EventFilter filter_;
  std::string proc_root_;
  Matchers re_;
  bool follow_trees_ = false;
  bool broken_ = false;  // a pattern did not compile: nothing matches
  // Both by the process table's keys (Event::process()), never by a bare pid.
  std::unordered_set<ProcessKey, ProcessKeyHash> followed_;
  // Followed processes that ended lately, oldest first: a thread's exit can come after its
  // process's end (two threads leaving together), and is still the tree's.
  std::deque<ProcessKey> ended_lately_;
  std::unordered_set<ProcessKey, ProcessKeyHash> ended_lately_set_;
  static constexpr size_t kEndedLately = 1024;
  std::atomic<size_t> followed_count_{0};
  std::unordered_map<ProcessKey, Known, ProcessKeyHash> images_;
};

}  // namespace proctrail
