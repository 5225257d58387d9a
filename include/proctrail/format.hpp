// Formatters turn events into text. They append whole lines to a string and do no I/O, so
// they can be tested against exact expected output and benchmarked without a file.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "proctrail/event.hpp"
#include "proctrail/result.hpp"

namespace proctrail {

class Formatter {
 public:
  virtual ~Formatter() = default;
  // Appends zero or more complete lines describing e.
  virtual void format(const Event& e, std::string& out) = 0;
  // Appends a header line, if the format has one.
  virtual void header(std::string& /*out*/) {}
};

enum class OutputFormat { Text, Json, Seed };
// The names a structured output gives the fields: proctrail's own (docs/event.schema.json) or
// the Elastic Common Schema's (docs/output.md, "ECS").
enum class Schema { Proctrail, Ecs };
std::optional<OutputFormat> parse_output_format(std::string_view name);

struct TextOptions {
  bool utc = false;       // times in UTC instead of the local zone
  bool relative = false;  // seconds since the first event (the start record) instead
  bool color = false;     // ANSI colours: only for a terminal that wants them
  // Each exec indented under its parent, its end on a line of its own with status and
  // duration; forks and other events only shape the tree (like extrace). Lost, start, resync,
  // failed-exec and summary records are shown as they come.
  bool tree = false;
  // With tree: only failures (processes that end with a non-zero status or a signal, failed
  // execs), each under the commands that led to it, drawn when the failure comes.
  bool tree_failures_only = false;
  // One event per line without its time or column padding: "exec 1234  ls -l  [ppid=...]",
  // the message of a record whose own fields carry the time (journald, syslog).
  bool message = false;
};

// Aligned columns for people: time, event, pid, details.
std::unique_ptr<Formatter> make_text_formatter(TextOptions options = {});
// One JSON object per line; fields documented in docs/event.schema.json. With
// host_in_every_record, each record carries the host (not only the start record).
std::unique_ptr<Formatter> make_json_formatter(bool host_in_every_record = false);
// One Elastic Common Schema document per line (process.*, event.*, host.*, user.*,
// container.*; what ECS has no name for under proctrail.*), the host in each (docs/output.md).
// For shipping: JsonDecoder reads proctrail's own records, not these.
std::unique_ptr<Formatter> make_ecs_formatter();

// Reads JSON lines proctrail wrote back into events: encoding a decoded line gives the same
// bytes. A start record tells it the host and clocks of the records after it (so read a stream
// from its start). An error names the line number: "line 12: 'pid' is missing".
class JsonDecoder {
 public:
  JsonDecoder();
  ~JsonDecoder();
  JsonDecoder(JsonDecoder&&) noexcept;
  JsonDecoder& operator=(JsonDecoder&&) noexcept;
  // The next line, without its newline.
  Result<Event> decode(std::string_view line);
  // Lines read so far.
  [[nodiscard]] size_t lines() const;
  // Counts a line that is not decoded (an empty one), so later errors name the right line.
  void skip_line();
  // The stream's host, as its start record (or first exec_id) said.
  [[nodiscard]] const HostIdentity& host() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};
// The exact lines of the proc connector sample program this project started from.
std::unique_ptr<Formatter> make_seed_formatter();

std::unique_ptr<Formatter> make_formatter(OutputFormat format, TextOptions text = {});

// "1.234 ms", "56 µs", "2.5 s": a duration for people.
std::string human_duration(uint64_t ns);

// RFC 3339 UTC time with nanoseconds: 2026-11-27T01:55:33.123456789Z.
void append_rfc3339(std::string& out, int64_t wall_ns);

}  // namespace proctrail
