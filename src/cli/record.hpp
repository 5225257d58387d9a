// --record FILE: every event kept in a SQLite database, and `proctrail replay FILE` reading
// one back. The schema is docs/record.md; each event is stored as the JSON line proctrail
// writes (schema 2), so the record and the JSON stream are one schema with one decoder, and
// the tables a question needs (processes, losses, runs) are projections of those lines.
#pragma once

#include <memory>
#include <string>

#include "proctrail/result.hpp"
#include "proctrail/sink.hpp"
#include "proctrail/source.hpp"

namespace proctrail::cli {

// The version of the record's tables (docs/record.md), kept in its meta table.
// 1: the tables; 2: the views. A version 1 recording is read as it is, and migrated when a
// run is added to it.
inline constexpr int kRecordSchemaVersion = 2;
inline constexpr int kOldestReadable = 1;

// How much history a recording keeps (0: no bound). Beyond max_bytes the oldest events of the
// user with the most events in the record go first; events older than max_age_ns go.
struct RecordRetention {
  uint64_t max_bytes = 0;
  int64_t max_age_ns = 0;
};

// Opens FILE for recording: created for the caller alone (0600, never through a link), or an
// existing recording of this schema, which the run is added to. Anything else is an error.
Result<std::unique_ptr<Sink>> open_record_sink(const std::string& path,
                                               RecordRetention retention = {});

// Whether FILE starts like a SQLite database (replay then reads it as a recording).
bool is_sqlite_file(const std::string& path);

// A recording read back, event by event in the order it was written.
Result<std::unique_ptr<EventSource>> open_record_source(const std::string& path);

}  // namespace proctrail::cli
