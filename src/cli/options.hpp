// Command-line options of the proctrail tool: what the library's MonitorOptions take, plus
// where and how to write.
#pragma once

#include "record.hpp"
#include <optional>
#include <string>
#include <vector>

#include "proctrail/format.hpp"
#include "proctrail/monitor.hpp"

namespace proctrail::cli {

// Whose processes to show: --scope (default: all for root and the monitor group, else own).
enum class Scope { Default, Own, All };

struct Options {
  MonitorOptions monitor;
  OutputFormat format = OutputFormat::Text;
  std::string output;        // empty: standard output
  std::string also_json;     // --also-json: every event, unfiltered, as JSON lines
  std::string record;        // --record: every event, unfiltered, into a SQLite recording
  bool journal = false;      // --journal: the filtered events to the systemd journal too
  std::string syslog;        // --syslog: the filtered events to a syslog daemon too
  int syslog_facility = 10;  // --syslog-facility (authpriv)
  // --kafka BROKERS: the filtered events to a Kafka topic too (src/sink/kafka_sink.hpp).
  std::string kafka_brokers, kafka_topic;
  std::vector<std::pair<std::string, std::string>> kafka_settings;  // -X key=value
  size_t kafka_buffer = size_t{64} << 20;                           // --kafka-buffer
  std::string kafka_spool;                                          // --kafka-spool FILE
  size_t kafka_spool_size = size_t{256} << 20;                      // --kafka-spool-size
  RecordRetention record_retention;  // --record-max-size, --record-max-age
  // "proctrail replay FILE": events from a recording (SQLite or JSON Lines) instead of this
  // machine.
  bool replay = false;
  bool host_fields = false;  // JSON: host in every record
  bool ecs = false;          // --schema ecs: the output's JSON under ECS names
  std::string replay_file;
  bool verbose = false;
  bool stats = false;
  bool header = true;
  bool utc = false;
  bool relative = false;
  bool tree = false;
  bool tree_failures_only = false;  // --tree --failed
  bool color = false;               // decided from --color, the output and NO_COLOR
  bool summary = false;
  double duration_s = 0;  // -D: stop after this long; 0: no limit
  FileRotation rotation;
  size_t user_rate_limit = 0;  // bytes per second per user other than root; 0: none
  // Run mode: the command after "--", and whom it runs as.
  std::vector<std::string> command;
  std::optional<uint32_t> command_uid, command_gid;
  std::string command_user;  // for initgroups; empty: keep the groups
  Scope scope = Scope::Default;
  // What was asked for explicitly, for the rules on callers who are not root (policy.hpp).
  bool exec_failed_asked = false;
  bool rcvbuf_given = false, ringbuf_given = false;
};

struct ParseOutcome {
  std::optional<Options> options;  // set when the tool should run
  int exit_code = 0;               // otherwise: exit with this (0 after --help / --version)
};

// The library's errors name its fields (filter.pids, proc_fields ...): the same message with
// the command line's options in their place, for the tool's user.
std::string in_cli_words(std::string message);

// A time as replay's --since and --until and report read it, in CLOCK_REALTIME nanoseconds:
// -10m (s, m, h, d) before now, RFC 3339, local "YYYY-MM-DD HH:MM[:SS]" or a date. nullopt
// when it is none of these.
std::optional<int64_t> parse_time(const std::string& text);

// Parses argv. Help and version go to stdout; a usage error is one line on stderr.
ParseOutcome parse_options(int argc, char** argv);

}  // namespace proctrail::cli
