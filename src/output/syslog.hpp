// Events as RFC 5424 syslog messages (--syslog, docs/output.md "syslog"):
//
//   <PRI>1 TIMESTAMP HOSTNAME proctrail PROCID MSGID [proctrail@32473 name="value" ...] MSG
//
// PRI is the facility and the event's severity, TIMESTAMP the event's own time (UTC, to the
// microsecond, as RFC 5424 allows), PROCID proctrail's pid, MSGID the event type. The
// structured data holds every field of the JSON record, by its path ("exec_id",
// "container.id", "ancestry.0.comm"), the lists of strings last; MSG is the event as a text
// line. Under Schema::Ecs the ECS document's fields by their ECS paths ("process.executable")
// are an element of their own, [ecs@32473 ...], and what ECS has no name for (the document's
// proctrail object) follows in [proctrail@32473 ...] under proctrail's names, so that no
// SD-NAME is longer than the 32 characters RFC 5424 allows. What a process
// controls is written as it is when it is printable UTF-8, else as a shell word ($'...'), so
// that no control character reaches a log file or a terminal raw; lists (argv, env) are shell
// words. The framing (octet counting on TCP) is the transport's.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "output/ecs.hpp"
#include "output/fields.hpp"
#include "proctrail/event.hpp"
#include "proctrail/format.hpp"

namespace proctrail {

// The SD-ID of proctrail's structured data: 32473 is the enterprise number RFC 5612 reserves
// for examples and documentation; proctrail has none of its own.
inline constexpr std::string_view kSyslogSdId = "proctrail@32473";
inline constexpr std::string_view kSyslogEcsSdId = "ecs@32473";

// The most bytes of one value a process controls (a path, a command line as shell words) in a
// message, and of its text line: a syslog message is a notice, and daemons cut long ones (rsyslog
// at 8 KB by default); the JSON output, the journal and the record keep every byte.
inline constexpr size_t kSyslogValueMax = 2048;

// A facility by its name (kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron,
// authpriv, ftp, local0 ... local7), as logger(1) and syslog.conf name them.
std::optional<int> syslog_facility_named(std::string_view name);

class SyslogEncoder {
 public:
  explicit SyslogEncoder(int facility, Schema schema = Schema::Proctrail);
  // Appends one message, without framing or a trailing newline.
  void encode(const Event& e, std::string& out);

 private:
  int facility_;
  std::string procid_;
  FieldContext ctx_;
  std::unique_ptr<EcsWalk> ecs_;  // under Schema::Ecs
  std::unique_ptr<Formatter> message_;
  std::string line_;
};

}  // namespace proctrail
