// Events as systemd journal entries (--journal, docs/output.md "journald"). Each event is one
// entry in journald's native protocol: a datagram of fields, "NAME=value\n" each, or, for a
// value with a newline in it, "NAME\n", its length as 64 bits little-endian, the value and
// "\n". Values are the exact bytes (the journal is binary-safe; journalctl shows what is not
// text as a blob), so `journalctl PROCTRAIL_EXE=/usr/bin/ssh` matches on the real path.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "output/ecs.hpp"
#include "output/fields.hpp"
#include "proctrail/event.hpp"
#include "proctrail/format.hpp"

namespace proctrail {

// The MESSAGE_ID of each event type's entries: fixed 128-bit ids, so that `journalctl
// MESSAGE_ID=...` finds one kind of event whatever its text.
std::string_view journal_message_id(EventType type);

// Encodes events one by one. The fields are the JSON record's, from the same walk, named
// PROCTRAIL_ and the record's path in capitals ("container.id" is PROCTRAIL_CONTAINER_ID, the
// second ancestor's comm PROCTRAIL_ANCESTRY_1_COMM); a list of strings (argv, env) is one
// field of shell words, which read back as exactly the bytes. Under Schema::Ecs they are the
// ECS document's, named by its path in capitals with '_' for '.' and no '@'
// (PROCESS_EXECUTABLE, PROCESS_PARENT_ENTITY_ID, TIMESTAMP; what ECS has no name for is
// PROCTRAIL_*). Beside them: MESSAGE, the event as one text line (escaped as on a terminal),
// MESSAGE_ID, PRIORITY and SYSLOG_IDENTIFIER.
class JournalEncoder {
 public:
  explicit JournalEncoder(Schema schema = Schema::Proctrail);
  void encode(const Event& e, std::string& out);

 private:
  FieldContext ctx_;
  std::unique_ptr<EcsWalk> ecs_;  // under Schema::Ecs
  std::unique_ptr<Formatter> message_;
  std::string line_;
};

// One field in the native protocol's form, for the encoder and for callers adding their own.
void append_journal_field(std::string& out, std::string_view name, std::string_view value);

}  // namespace proctrail
