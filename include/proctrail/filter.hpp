// What a user wants to see, and the filter stage that applies it.
//
// A filter is applied on the output side, to events that are already in order, verified and
// enriched, so it can look at anything an event carries. The monitor also derives from it
// what the backend must deliver (more than the filter passes: the process table needs forks
// and exits to know each process), and pushes into the kernel what the kernel can check.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proctrail/event.hpp"

namespace proctrail {

// A set of event types, as selected with --events.
class EventMask {
 public:
  EventMask() = default;
  static EventMask all();
  // "fork,exec,exit,uid,gid,sid,ptrace,comm,coredump,all" plus "nonzero-exit" (exits with a
  // non-zero status only). Unknown names are an error naming the bad word.
  static std::optional<EventMask> parse(std::string_view list, std::string* error);

  void add(EventType t) { bits_ |= bit(t); }
  [[nodiscard]] bool has(EventType t) const { return (bits_ & bit(t)) != 0; }
  [[nodiscard]] bool nonzero_exit_only() const { return nonzero_exit_only_; }
  void set_nonzero_exit_only(bool v) { nonzero_exit_only_ = v; }
  [[nodiscard]] bool covers_all_kernel_events() const;
  [[nodiscard]] bool empty() const { return bits_ == 0; }
  EventMask operator|(const EventMask& o) const;
  bool operator==(const EventMask&) const = default;

  // Whether an event of a kernel type passes this selection (exits with nonzero_exit_only:
  // only those with a non-zero status). Records about the stream itself (ack, lost, resync,
  // start, unknown) always pass.
  [[nodiscard]] bool accepts(const Event& e) const;

 private:
  static constexpr uint32_t bit(EventType t) { return 1u << static_cast<unsigned>(t); }
  uint32_t bits_ = 0;
  bool nonzero_exit_only_ = false;
};

// The user's selection, applied as its own stage. Records about the stream itself (lost,
// resync, start) always pass; acks only when asked for (the seed format prints them).
struct EventFilter {
  EventMask types = EventMask::all();
  bool acks = false;

  [[nodiscard]] bool accepts(const Event& e) const;
};

}  // namespace proctrail
