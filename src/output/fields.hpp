// One walk over an event's fields, with the schema's names, types and order
// (docs/event.schema.json). Every structured encoding is a FieldVisitor that writes what it is
// shown: JSON lines, and the record, journald and syslog encodings after it. So a field is named
// and put in one place, and the schema test checks that place against the schema file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proctrail/event.hpp"

namespace proctrail {

// The version of the schema the walk writes; the start record carries it.
inline constexpr int kSchemaVersion = 2;

class FieldVisitor {
 public:
  virtual ~FieldVisitor() = default;
  virtual void number(std::string_view name, int64_t v) = 0;
  virtual void count(std::string_view name, uint64_t v) = 0;
  virtual void flag(std::string_view name, bool v) = 0;
  // Our own vocabulary (event and field names, errno and signal names): plain ASCII.
  virtual void word(std::string_view name, std::string_view v) = 0;
  virtual void words(std::string_view name, const std::vector<std::string>& v) = 0;
  // Bytes a process controls: may be anything, valid UTF-8 or not.
  virtual void text(std::string_view name, std::string_view v) = 0;
  virtual void texts(std::string_view name, const Strings& v) = 0;
  // A list a process controls, as one text (ECS's process.command_line): as long as the list,
  // so an encoder that holds lists back to the end of a record holds this back too.
  virtual void joined_text(std::string_view name, std::string_view v) { text(name, v); }
  // A wall-clock instant (CLOCK_REALTIME nanoseconds).
  virtual void time(std::string_view name, int64_t wall_ns) = 0;
  // Known not to be known: a figure not watched, a count the kernel did not give.
  virtual void none(std::string_view name) = 0;
  virtual void open(std::string_view name) = 0;  // an object's fields follow, up to close()
  virtual void close() = 0;
  virtual void open_list(std::string_view name) = 0;  // objects follow, each from item()
  virtual void item() = 0;
  virtual void close_list() = 0;
};

// What the walk needs beyond the event: the stream's host (the first half of each exec_id)
// and how far CLOCK_BOOTTIME is ahead of CLOCK_MONOTONIC (for a process's start as wall time).
struct FieldContext {
  HostIdentity host;
  int64_t boottime_offset_ns = 0;
  // Each record carries the host (--host-fields), not only the start record.
  bool host_in_every_record = false;
};

void visit_fields(const Event& e, const FieldContext& ctx, FieldVisitor& v);

// e's JSON line as the JSON formatter writes it, without its newline, appended to out. When
// `also` is given, the same walk visits it too: a sink that keeps the line and some of its
// fields (the record) walks the event once. ctx is used as it is (learn_from is the caller's).
void append_json_line(const Event& e, const FieldContext& ctx, std::string& out,
                      FieldVisitor* also = nullptr);

// The event's syslog severity, which journald's PRIORITY and a syslog PRI take: 6 (info); 5
// (notice) for a process that ended with a failure (non-zero status, a signal) and a failed
// exec; 4 (warning) for a loss.
int event_severity(const Event& e);

// What a start record tells a reader of the stream that follows it: its host and clocks.
void learn_from(const Event& e, FieldContext& ctx);

}  // namespace proctrail
