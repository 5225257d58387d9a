// --kafka: each event as one JSON message to a Kafka topic, through librdkafka (docs/output.md,
// "Kafka"). Built into the proctrail tool, not into the installed library, so the library
// does not depend on librdkafka.
//
// Delivery is at least once. An event waits in a bounded buffer until librdkafka's delivery
// report says a broker has it; a send that failed for a reason that may pass (a broker down,
// a timeout) is sent again. Beyond the buffer the oldest waiting events are dropped and
// counted, and once a broker takes events again a lost record with that count goes to the
// topic. At the end (SIGINT, SIGTERM, the command done) the sink waits a bounded time for
// what is still out; what is left goes to the spool file, which the next start sends first.
// A run killed before its stop cannot spool: it keeps the count of what it holds beside the
// spool (SPOOL.held), and the next start says that count in a lost record.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "proctrail/sink.hpp"

namespace proctrail {

struct KafkaOptions {
  std::string brokers;  // bootstrap.servers
  std::string topic;
  // -X key=value, in order, handed to librdkafka after proctrail's own defaults.
  std::vector<std::pair<std::string, std::string>> config;
  bool ecs = false;                 // values under ECS names, not proctrail's
  size_t buffer_bytes = 64u << 20;  // --kafka-buffer: events waiting, at most
  std::string spool;                // --kafka-spool FILE: what a stop could not deliver
  size_t spool_bytes = 256u << 20;  // --kafka-spool-size
  int start_timeout_ms = 10'000;    // for the brokers to answer at start
  int close_timeout_ms = 10'000;    // for what is still out at the end
  bool plain_user = false;          // refuse -X settings that name files or libraries
};

// What the sink did, for --stats and the words at the end; read from any thread.
struct KafkaCounters {
  std::atomic<uint64_t> produced{0};    // messages handed to librdkafka (a resend counts again)
  std::atomic<uint64_t> delivered{0};   // delivery reports that a broker has it
  std::atomic<uint64_t> failed{0};      // refused for good (too large, not allowed): lost
  std::atomic<uint64_t> retried{0};     // sent again after a failure that may pass
  std::atomic<uint64_t> dropped{0};     // the oldest waiting, beyond --kafka-buffer: lost
  std::atomic<uint64_t> waiting{0};     // not yet delivered, now
  std::atomic<uint64_t> from_spool{0};  // read from the spool at start
  std::atomic<uint64_t> spooled{0};     // written to the spool at the end
  std::atomic<uint64_t> rebuilt{0};     // producers rebuilt after a fatal error
  std::atomic<uint64_t> undelivered_at_end{0};  // events not delivered at the end, spooled or not
  std::atomic<uint64_t> lost_unsaid_at_end{0};  // a count of events lost earlier, not delivered
  std::atomic<bool> spool_failed{false};        // the spool could not be written at the end
};

// "key=value" for -X; the error names what is wrong.
Result<std::pair<std::string, std::string>> parse_kafka_setting(std::string_view text);

// Connects to the brokers and checks the topic (an error at start if neither answers within
// start_timeout_ms, unless no broker answers and a run before left the spool or its count: an
// outage, which is said and waited out); sends the spool, if any, first.
Result<std::unique_ptr<Sink>> open_kafka_sink(const KafkaOptions& options,
                                              std::shared_ptr<KafkaCounters> counters);

}  // namespace proctrail
