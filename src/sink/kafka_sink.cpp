// KafkaSink (kafka_sink.hpp). One thread calls it, the output thread, and librdkafka's
// callbacks (delivery reports, errors, logs) are served by rd_kafka_poll() on that thread, so
// nothing here is shared with librdkafka's own threads but the messages it copied.
//
// Where an event is: in `waiting_` (in order, not yet handed to librdkafka), then in flight
// (handed over, no delivery report yet), then delivered (gone from here). A failure that may
// pass puts it back in `waiting_` in its place; only a report that a broker has it lets it go.
// Handing over is bounded (kMaxInFlight, kMaxInFlightBytes, kMaxHandOut a call), so a backlog
// after an outage drains at a bounded pace and librdkafka's copies stay bounded too.
#include "sink/kafka_sink.hpp"

#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <thread>
#include <unordered_map>

#include "proctrail/format.hpp"
#include "sink/output_file.hpp"
#include "util/clock.hpp"

namespace proctrail {

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxInFlight = 20'000;
constexpr size_t kMaxInFlightBytes = size_t{32} << 20;
constexpr size_t kMaxHandOut = 5'000;  // a call: 50,000 a second at the output's pace
constexpr char kSpoolMagic[] = "proctrail-kafka-spool 1\n";
// SPOOL.held: what a running sink holds, as two counts of fixed width rewritten in place: the
// events it took (and counts of lost ones it is to say) not yet delivered, and of those, how
// many the spool file still has. A stop removes it; a start that finds it knows the run before
// ended without its stop (a kill, a crash) and says the first less the second as lost.
constexpr char kHeldMagic[] = "proctrail-kafka-held 1\n";
constexpr size_t kHeldSize = sizeof kHeldMagic - 1 + 20 + 1 + 20 + 1;

struct Message {
  uint64_t seq = 0;
  std::string key, value;
  uint64_t says_lost = 0;  // a lost record of ours: the count it says
  // Of its weight (its event, or the count it says), the part the spool file on disk still
  // has, which a start after a kill reads again (SPOOL.held).
  uint64_t spool_part = 0;
  uint8_t tries = 0;  // sent again after a refusal of no known kind
};

// A message refused for a reason of no known kind is sent again this many times, then lost.
constexpr uint8_t kMaxTries = 3;

// What a delivery report's error says of another try. librdkafka has already retried what the
// protocol calls retriable, until message.timeout.ms; what reaches a report is an outage that
// outlasted that (or a purge of ours), a refusal no try gets past, or something else.
enum class Refusal { ForGood, Outage, Unknown };
Refusal refusal_of(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_COMPRESSION_TYPE:
      return Refusal::ForGood;
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
    case RD_KAFKA_RESP_ERR__FATAL:  // the producer is rebuilt, and the message sent by it
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
    case RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED:
    // A topic being made again, credentials being renewed: as before, they wait.
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
      return Refusal::Outage;
    default:
      return Refusal::Unknown;
  }
}

// -X settings that make librdkafka open a file, load a library or run a command: with the
// setcap install's capabilities, a plain user could reach what they cannot without proctrail.
bool names_a_file_or_command(const std::string& key) {
  const auto ends_with = [&](std::string_view tail) {
    return key.size() >= tail.size() &&
           key.compare(key.size() - tail.size(), tail.size(), tail) == 0;
  };
  // OpenSSL loads a provider or an engine named by a path as a shared object.
  return ends_with(".location") || ends_with(".paths") || ends_with(".cmd") ||
         ends_with(".keytab") || ends_with(".stores") || key.find("library") != std::string::npos ||
         key.find("provider") != std::string::npos || key.find("engine") != std::string::npos;
}

class KafkaSink final : public Sink {
 public:
  KafkaSink(KafkaOptions options, std::shared_ptr<KafkaCounters> counters)
      : o_(std::move(options)),
        counters_(std::move(counters)),
        formatter_(o_.ecs ? make_ecs_formatter() : make_json_formatter(true)),
        host_(HostIdentity::local()) {}
  ~KafkaSink() override {
    destroy_producer();
    if (held_fd_ >= 0) ::close(held_fd_);  // no stop: the count stays for the next start
  }
  KafkaSink(const KafkaSink&) = delete;
  KafkaSink& operator=(const KafkaSink&) = delete;

  Status start() {
    if (Status s = make_producer(); !s) return s;
    if (Status s = check_topic(); !s) {
      // No broker answered, and a run before this one with this spool left its spool or its
      // count: that run reached these brokers, so this is an outage (a service restarted during
      // one), not a mistake. The start goes on and the events wait, as they would have in it.
      if (!brokers_silent_ || !earlier_run_left_a_spool()) return s;
      std::fprintf(stderr,
                   "proctrail: %s; going on, since the run before with --kafka-spool %s reached "
                   "them: the events wait for them\n",
                   s.error().message.c_str(), o_.spool.c_str());
      said_down_ = true;  // and when one takes events, that is said too
      delivered_since_outage_ = false;
    }
    auto killed = read_held();
    if (!killed) return killed.error();
    if (Status s = read_spool(); !s) return s;
    if (*killed > 0) {
      std::fprintf(stderr,
                   "proctrail: kafka: the last run with --kafka-spool %s ended without its stop "
                   "(killed, or crashed) while it held %llu events; they are counted lost\n",
                   o_.spool.c_str(), static_cast<unsigned long long>(*killed));
      owed_ += *killed;
      unsaid_lost_ += *killed;
      lost_why_ = "kafka: the run before ended without its stop (killed, or crashed) with them";
    }
    open_held();
    started_ = true;
    service();
    return {};
  }

  Status write(std::span<const Event> events) override {
    for (const Event& e : events) {
      if (const auto* start = std::get_if<StartData>(&e.data);
          start && !start->host.machine_id.empty()) {
        host_ = start->host;  // a replayed stream's own machine
      }
      line_.clear();
      formatter_->format(e, line_);
      while (!line_.empty() && line_.back() == '\n') line_.pop_back();
      std::string key = host_.hostname;
      if (e.process().known()) key += "/" + format_exec_id(host_, e.process());
      ++owed_;
      enqueue({next_seq_++, std::move(key), line_, 0});
    }
    service();
    return {};
  }

  Status flush() override {
    service();
    return {};
  }
  Status tick() override {
    service();
    return {};
  }
  void cancel() override { cancelled_ = true; }

  // A bounded wait for what is out; what is left goes to the spool.
  Status close() override {
    // The last chance to deliver, unless the stop is a hurried one.
    if (rk_ == nullptr && restart_wanted_ && !cancelled_) start_again(true, true);
    const auto until = Clock::now() + std::chrono::milliseconds(o_.close_timeout_ms);
    while (rk_ != nullptr && (in_flight_ > 0 || !waiting_.empty() || unsaid_lost_ > 0) &&
           !cancelled_ && Clock::now() < until) {
      if (may_say_lost()) say_lost();
      service();
      if (rk_ == nullptr) break;  // failed fatally, and no new producer could start
      rd_kafka_poll(rk_, 50);
    }
    take_back_in_flight();
    abandon_in_flight("kafka: no answer for them when proctrail stopped");
    if (unsaid_lost_ > 0) say_lost();  // into the spool, or at least into the count below
    Status s = write_spool();
    // Spooled, or said below: nothing is held any more (the spool's own write is fsynced first).
    drop_held();
    uint64_t events = 0, earlier = 0;
    for (const Message& m : waiting_) {
      if (m.says_lost > 0) {
        earlier += m.says_lost;
      } else {
        ++events;
      }
    }
    counters_->undelivered_at_end = events;
    counters_->lost_unsaid_at_end = earlier;
    if (!s) {
      // A degrading sink's close error goes nowhere else: said here, and the events are lost.
      counters_->spool_failed = true;
      std::fprintf(stderr, "proctrail: kafka: %s\n", s.error().message.c_str());
    }
    destroy_producer();
    count_waiting();
    return s;
  }

 private:
  static void on_delivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* m, void* opaque) {
    static_cast<KafkaSink*>(opaque)->delivered(m);
  }
  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    auto* self = static_cast<KafkaSink*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      char why[512];
      (void)rd_kafka_fatal_error(rk, why, sizeof why);
      self->fatal_ = why;
      return;
    }
    self->last_error_ = reason;
    // At start, the error that refuses the start says it.
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && !self->said_down_ && self->started_) {
      self->said_down_ = true;
      self->delivered_since_outage_ = false;
      std::fprintf(stderr,
                   "proctrail: kafka: no broker of %s can be reached; events wait (up to "
                   "--kafka-buffer) and are sent when one is back\n",
                   self->o_.brokers.c_str());
    }
  }
  // librdkafka's own log lines (a broker refused a connection ...), served by rd_kafka_poll on
  // the output thread (log.queue): the last one is kept for the messages; the state that
  // matters is said by on_error and the counts.
  static void on_log(const rd_kafka_t* rk, int level, const char* /*fac*/, const char* buf) {
    auto* self = static_cast<KafkaSink*>(rd_kafka_opaque(rk));
    if (self != nullptr && level <= 4) self->last_error_ = buf;
  }

  Status make_producer() {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char err[512];
    const auto set = [&](const std::string& key, const std::string& value) -> Status {
      if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) !=
          RD_KAFKA_CONF_OK) {
        return make_error("-X " + key + "=" + value + ": " + err);
      }
      return {};
    };
    // Ours first, the user's after them: -X may change any of these.
    Status s = set("bootstrap.servers", o_.brokers);
    if (s) s = set("client.id", "proctrail");
    // Retries keep each partition's order, and a broker never takes one message twice.
    if (s) s = set("enable.idempotence", "true");
    if (s) s = set("queue.buffering.max.messages", std::to_string(2 * kMaxInFlight));
    if (s) s = set("queue.buffering.max.kbytes", std::to_string(2 * kMaxInFlightBytes / 1024));
    if (s) s = set("linger.ms", "20");
    // librdkafka's log lines through rd_kafka_poll(), on this thread, like everything else.
    if (s) s = set("log.queue", "true");
    // A broker that comes back is found within a second (librdkafka's default backs off to
    // 10 s, longer than the wait at a stop).
    if (s) s = set("reconnect.backoff.max.ms", "1000");
    for (const auto& [key, value] : o_.config) {
      if (!s) break;
      if (o_.plain_user && names_a_file_or_command(key)) {
        s = make_error("-X " + key +
                       ": only root may name a file, library or command for librdkafka to use "
                       "(give a key or certificate itself with ssl.key.pem, ssl.certificate.pem, "
                       "ssl.ca.pem)");
        break;
      }
      s = set(key, value);
    }
    if (!s) {
      rd_kafka_conf_destroy(conf);
      return s;
    }
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_dr_msg_cb(conf, &KafkaSink::on_delivery);
    rd_kafka_conf_set_error_cb(conf, &KafkaSink::on_error);
    rd_kafka_conf_set_log_cb(conf, &KafkaSink::on_log);
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (rk_ == nullptr) {
      rd_kafka_conf_destroy(conf);
      return make_error(std::string("kafka: ") + err);
    }
    (void)rd_kafka_set_log_queue(rk_, nullptr);  // the main queue, which poll serves
    return {};
  }

  void destroy_producer() {
    if (rk_ == nullptr) return;
    rd_kafka_destroy(rk_);
    rk_ = nullptr;
  }

  // A spool, or the count of a killed run, is there: a run before this one started with these
  // brokers and this spool.
  [[nodiscard]] bool earlier_run_left_a_spool() const {
    if (o_.spool.empty()) return false;
    struct stat st {};
    return ::lstat(o_.spool.c_str(), &st) == 0 || ::lstat((o_.spool + ".held").c_str(), &st) == 0;
  }

  // The brokers answer, and know the topic.
  Status check_topic() {
    rd_kafka_topic_t* topic = rd_kafka_topic_new(rk_, o_.topic.c_str(), nullptr);
    if (topic == nullptr) {
      return make_error("--kafka-topic '" + o_.topic +
                        "': " + rd_kafka_err2str(rd_kafka_last_error()));
    }
    const rd_kafka_metadata_t* md = nullptr;
    // Asked twice: the first answer may come before a topic created on first use exists.
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    const auto until = Clock::now() + std::chrono::milliseconds(o_.start_timeout_ms);
    for (int attempt = 0;; ++attempt) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
      err = rd_kafka_metadata(rk_, 0, topic, &md,
                              static_cast<int>(std::max<int64_t>(left.count(), 1)));
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) break;
      rd_kafka_resp_err_t topic_err =
          md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
      if (topic_err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      rd_kafka_metadata_destroy(md);
      md = nullptr;
      if ((topic_err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE && attempt > 0) ||
          Clock::now() >= until) {
        err = topic_err;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    rd_kafka_topic_destroy(topic);
    if (md != nullptr) rd_kafka_metadata_destroy(md);
    rd_kafka_poll(rk_, 0);  // the log lines queued meanwhile: why no broker answered
    if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
      return make_error("kafka: topic '" + o_.topic + "' does not exist at " + o_.brokers +
                        " (create it, or let the brokers create topics on first use)");
    }
    if (err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__TIMED_OUT) {
      brokers_silent_ = true;
      return make_error("kafka: no broker at " + o_.brokers + " answered within " +
                        std::to_string(o_.start_timeout_ms / 1000) + " s" +
                        (last_error_.empty() ? "" : " (" + last_error_ + ")"));
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return make_error("kafka: topic '" + o_.topic + "' at " + o_.brokers + ": " +
                        rd_kafka_err2str(err));
    }
    return {};
  }

  // Counts a message that will never be delivered: an event, or the count a lost record of
  // ours said, which is then to be said again.
  void lose(const Message& m, std::string why) {
    unsaid_from_spool_ += spool_part(m);
    if (m.says_lost > 0) {
      unsaid_lost_ += m.says_lost;
      // A lost record was lost itself: its count waits for a delivery to be said again, or a
      // broker that refuses everything would be sent a new one for each refusal.
      if (m.seq == lost_record_seq_) lost_record_seq_ = 0;
      delivered_since_outage_ = false;
    } else {
      ++unsaid_lost_;
    }
    lost_why_ = std::move(why);
    forget_spooled(m.seq);
  }

  // --kafka-buffer holds what waits and what is in flight. Beyond it the oldest waiting go;
  // when all of it is in flight (a quarter at most), the new one does.
  void enqueue(Message m) {
    const size_t size = m.key.size() + m.value.size();
    const auto why = [&] {
      return "kafka could not deliver them before --kafka-buffer was full" +
             (last_error_.empty() ? std::string() : " (" + last_error_ + ")");
    };
    if (in_flight_bytes_ + size > o_.buffer_bytes) {
      // Bigger than the room there can be: it goes, and nothing waiting goes for it.
      if (m.says_lost == 0) counters_->dropped++;
      lose(m, why());
      return;
    }
    while (!waiting_.empty() && waiting_bytes_ + in_flight_bytes_ + size > o_.buffer_bytes) {
      Message& old = waiting_.front();
      waiting_bytes_ -= old.key.size() + old.value.size();
      if (old.says_lost == 0) counters_->dropped++;
      lose(old, why());
      waiting_.pop_front();
    }
    waiting_bytes_ += size;
    waiting_.push_back(std::move(m));
  }

  // A message handed back by librdkafka, in its place by sequence.
  void put_back(Message m) {
    waiting_bytes_ += m.key.size() + m.value.size();
    auto at = std::lower_bound(waiting_.begin(), waiting_.end(), m.seq,
                               [](const Message& w, uint64_t seq) { return w.seq < seq; });
    waiting_.insert(at, std::move(m));
  }

  void delivered(const rd_kafka_message_t* m) {
    const auto seq = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(m->_private));
    --in_flight_;
    in_flight_bytes_ -= m->len + m->key_len;
    uint64_t says = 0, in_spool = 0;
    if (auto it = lost_in_flight_.find(seq); it != lost_in_flight_.end()) {
      says = it->second;
      lost_in_flight_.erase(it);
    }
    if (auto it = spool_in_flight_.find(seq); it != spool_in_flight_.end()) {
      in_spool = it->second;
      spool_in_flight_.erase(it);
    }
    uint8_t tries = 0;
    if (auto it = tries_in_flight_.find(seq); it != tries_in_flight_.end()) {
      tries = it->second;
      tries_in_flight_.erase(it);
    }
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      counters_->delivered++;
      if (seq == lost_record_seq_) lost_record_seq_ = 0;
      // Settled: an event, or the count a lost record said (and of it, the spool's part).
      owed_ -= std::min<uint64_t>(owed_, says > 0 ? says : 1);
      owed_from_spool_ -= std::min(owed_from_spool_, in_spool);
      forget_spooled(seq);
      if (said_down_) {
        said_down_ = false;
        std::fprintf(stderr, "proctrail: kafka: the brokers take events again\n");
      }
      delivered_since_outage_ = true;
      return;
    }
    const Refusal why = refusal_of(m->err);
    if (why == Refusal::ForGood || (why == Refusal::Unknown && tries >= kMaxTries)) {
      if (says == 0) counters_->failed++;
      Message gone;
      gone.seq = seq;
      gone.says_lost = says;
      gone.spool_part = in_spool;
      lose(gone, std::string("kafka refused them: ") + rd_kafka_err2str(m->err));
      return;
    }
    counters_->retried++;
    Message back;
    back.seq = seq;
    back.tries = why == Refusal::Unknown ? static_cast<uint8_t>(tries + 1) : tries;
    back.key.assign(static_cast<const char*>(m->key), m->key_len);
    back.value.assign(static_cast<const char*>(m->payload), m->len);
    back.says_lost = says;
    back.spool_part = in_spool;
    put_back(std::move(back));
  }

  // A message of the spool is through (delivered, or lost and counted): when all are, the
  // spool has done its work, and what of it is still owed (a count not yet said) is owed by
  // this run alone.
  void forget_spooled(uint64_t seq) {
    if (seq > spool_last_seq_ || spool_left_ == 0) return;
    if (--spool_left_ == 0) {
      spool_on_disk_ = false;
      owed_from_spool_ = 0;
      unsaid_from_spool_ = 0;
      mark_held();  // before the spool goes: a kill in between must not count its part twice
      ::unlink(o_.spool.c_str());
    }
  }

  // The part of m's weight a start after a kill would read again from the spool file.
  [[nodiscard]] uint64_t spool_part(const Message& m) const {
    return spool_on_disk_ ? m.spool_part : 0;
  }

  // The count of what was lost, as a lost record at the end of the line.
  void say_lost() {
    Event lost;
    lost.ts_ns = monotonic_now_ns();
    lost.wall_ns = static_cast<int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count());
    lost.data = LostData{unsaid_lost_, lost_why_};
    line_.clear();
    formatter_->format(lost, line_);
    while (!line_.empty() && line_.back() == '\n') line_.pop_back();
    Message m{next_seq_++, host_.hostname, line_, unsaid_lost_};
    m.spool_part = std::exchange(unsaid_from_spool_, 0);
    unsaid_lost_ = 0;
    lost_record_seq_ = m.seq;
    enqueue(std::move(m));
  }

  // One lost record out at a time, once the brokers take events.
  [[nodiscard]] bool may_say_lost() const {
    return unsaid_lost_ > 0 && delivered_since_outage_ && lost_record_seq_ == 0;
  }

  void service() {
    if (rk_ == nullptr) start_again(false);
    if (rk_ == nullptr) {
      count_waiting();
      mark_held();
      return;
    }
    rd_kafka_poll(rk_, 0);
    if (!fatal_.empty()) rebuild();
    if (rk_ == nullptr) return;
    if (may_say_lost()) say_lost();
    hand_out();
    count_waiting();
    mark_held();
  }

  void hand_out() {
    const size_t most_bytes = std::min(kMaxInFlightBytes, o_.buffer_bytes / 4);
    for (size_t n = 0; n < kMaxHandOut && !waiting_.empty() && in_flight_ < kMaxInFlight &&
                       in_flight_bytes_ < most_bytes;
         ++n) {
      Message& m = waiting_.front();
      const rd_kafka_resp_err_t err = rd_kafka_producev(
          rk_, RD_KAFKA_V_TOPIC(o_.topic.c_str()), RD_KAFKA_V_KEY(m.key.data(), m.key.size()),
          RD_KAFKA_V_VALUE(m.value.data(), m.value.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<uintptr_t>(m.seq))),
          RD_KAFKA_V_END);
      // Full, or failed for good (a fatal error: the producer is rebuilt on the next call, and
      // this one waits for it).
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL || err == RD_KAFKA_RESP_ERR__FATAL) break;
      const size_t size = m.key.size() + m.value.size();
      waiting_bytes_ -= size;
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        // Refused before it left (too large for message.max.bytes, say): lost, and said.
        if (m.says_lost == 0) counters_->failed++;
        lose(m, std::string("kafka refused them: ") + rd_kafka_err2str(err));
        waiting_.pop_front();
        continue;
      }
      ++in_flight_;
      in_flight_bytes_ += size;
      if (m.says_lost > 0) lost_in_flight_[m.seq] = m.says_lost;
      if (m.tries > 0) tries_in_flight_[m.seq] = m.tries;
      if (spool_part(m) > 0) spool_in_flight_[m.seq] = m.spool_part;
      counters_->produced++;
      waiting_.pop_front();
    }
  }

  // Everything librdkafka holds comes back into line (delivery reports with a purge error).
  void take_back_in_flight() {
    if (rk_ == nullptr || in_flight_ == 0) return;
    (void)rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    for (int i = 0; i < 200 && in_flight_ > 0; ++i) rd_kafka_poll(rk_, 10);
  }

  // A fatal error leaves a producer that sends nothing more: a new one, with every message
  // the old one held back in line.
  void rebuild() {
    std::fprintf(stderr, "proctrail: kafka: the producer failed (%s); starting a new one\n",
                 fatal_.c_str());
    const std::string fatal_why = fatal_;
    fatal_.clear();
    take_back_in_flight();
    destroy_producer();
    abandon_in_flight("kafka: the producer failed with them (" + fatal_why + ")");
    restart_wait_ = std::chrono::seconds(1);
    start_again(true);
  }

  // A new producer after a fatal error: now, or when the wait after a failed start is over.
  // One that cannot start (librdkafka could not make its threads, say) is tried again a
  // second later, then two, up to 30; the events wait in the buffer meanwhile.
  void start_again(bool now, bool last = false) {
    if (!restart_wanted_ && !now) return;
    if (!now && Clock::now() < restart_at_) return;
    if (Status s = make_producer(); !s) {
      last_error_ = s.error().message;
      restart_wanted_ = true;
      restart_at_ = Clock::now() + restart_wait_;
      if (last) {
        std::fprintf(stderr, "proctrail: kafka: cannot start a new producer (%s)\n",
                     s.error().message.c_str());
        return;
      }
      std::fprintf(stderr,
                   "proctrail: kafka: cannot start a new producer (%s); trying again in %lld s\n",
                   s.error().message.c_str(), static_cast<long long>(restart_wait_.count()));
      restart_wait_ = std::min(restart_wait_ * 2, std::chrono::seconds(30));
      return;
    }
    if (restart_wanted_) {
      std::fprintf(stderr, "proctrail: kafka: a new producer started\n");
    }
    restart_wanted_ = false;
    counters_->rebuilt++;
  }

  // What librdkafka did not hand back (take_back_in_flight waits 2 s at most): lost, counted
  // as the events they were (a lost record of ours, as the count it said).
  void abandon_in_flight(const std::string& why) {
    if (in_flight_ == 0) return;
    uint64_t events = in_flight_ - lost_in_flight_.size();
    counters_->failed += events;
    for (const auto& [seq, says] : lost_in_flight_) events += says;
    unsaid_lost_ += events;
    for (const auto& [seq, part] : spool_in_flight_) unsaid_from_spool_ += part;
    lost_why_ = why;
    if (lost_in_flight_.count(lost_record_seq_) > 0) lost_record_seq_ = 0;  // gone too
    lost_in_flight_.clear();
    tries_in_flight_.clear();
    spool_in_flight_.clear();
    in_flight_ = 0;
    in_flight_bytes_ = 0;
  }

  void count_waiting() { counters_->waiting = waiting_.size() + in_flight_; }

  // The spool: the magic line, then each message as "<key bytes> <value bytes> <lost count>\n"
  // followed by the key, the value and "\n".
  Status read_spool() {
    if (o_.spool.empty()) return {};
    const int fd = ::open(o_.spool.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return {};
      return system_error("kafka spool " + o_.spool);
    }
    struct stat st {};
    std::string data;
    Status s;
    if (fstat(fd, &st) != 0) {
      s = system_error("kafka spool " + o_.spool);
    } else if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
      s = make_error("kafka spool " + o_.spool +
                     ": not a file of this user's (refused: it is sent to the brokers)");
    } else {
      data.resize(static_cast<size_t>(st.st_size));
      size_t got = 0;
      while (got < data.size()) {
        const ssize_t n = ::read(fd, data.data() + got, data.size() - got);
        if (n <= 0) break;
        got += static_cast<size_t>(n);
      }
      data.resize(got);
    }
    ::close(fd);
    if (!s) return s;
    const auto damaged = [&](size_t at) {
      return make_error("kafka spool " + o_.spool + ": not a proctrail spool, or damaged at byte " +
                        std::to_string(at) + " (move it aside to start without it)");
    };
    if (data.rfind(kSpoolMagic, 0) != 0) return damaged(0);
    std::vector<Message> read;
    size_t at = sizeof kSpoolMagic - 1;
    while (at < data.size()) {
      uint64_t k = 0, v = 0, lost = 0;
      const size_t eol = data.find('\n', at);
      if (eol == std::string::npos) return damaged(at);
      // "<key bytes> <value bytes> <lost count>", three numbers and two single spaces.
      const char* p = data.data() + at;
      const char* end = data.data() + eol;
      bool ok = true;
      for (uint64_t* n : {&k, &v, &lost}) {
        auto r = std::from_chars(p, end, *n);
        ok = ok && r.ec == std::errc() && r.ptr != p;
        p = r.ptr;
        if (n != &lost) {
          ok = ok && p < end && *p == ' ';
          ++p;
        }
      }
      if (!ok || p != end || k > data.size() || v > data.size() ||
          eol + 1 + k + v + 1 > data.size() || data[eol + 1 + k + v] != '\n') {
        return damaged(at);
      }
      Message m;
      m.key = data.substr(eol + 1, k);
      m.value = data.substr(eol + 1 + k, v);
      m.says_lost = lost;
      read.push_back(std::move(m));
      at = eol + 1 + k + v + 1;
    }
    for (Message& m : read) {
      m.seq = next_seq_++;
      m.spool_part = m.says_lost > 0 ? m.says_lost : 1;
      owed_ += m.spool_part;
      owed_from_spool_ += m.spool_part;
      waiting_bytes_ += m.key.size() + m.value.size();
      waiting_.push_back(std::move(m));
    }
    spool_last_seq_ = next_seq_ - 1;
    spool_left_ = read.size();
    spool_on_disk_ = !read.empty();
    counters_->from_spool = read.size();
    if (read.empty()) ::unlink(o_.spool.c_str());
    return {};
  }

  // What is left, oldest first, up to --kafka-spool-size (beyond it the oldest go, counted in
  // a lost record that is spooled too). Written beside it and renamed over it: a crash while
  // writing leaves the old spool whole.
  Status write_spool() {
    if (o_.spool.empty()) return {};
    if (waiting_.empty()) {
      if (spool_left_ > 0) ::unlink(o_.spool.c_str());
      return {};
    }
    size_t total = 0;
    for (const Message& m : waiting_) total += m.key.size() + m.value.size() + 64;
    while (total > o_.spool_bytes && waiting_.size() > 1) {
      const Message& old = waiting_.front();
      total -= old.key.size() + old.value.size() + 64;
      if (old.says_lost == 0) counters_->dropped++;
      lose(old, "kafka could not deliver them, and the spool (--kafka-spool-size) was full");
      waiting_.pop_front();
    }
    if (unsaid_lost_ > 0) say_lost();
    const std::string temp = o_.spool + ".new";
    auto fd = open_output(temp, O_TRUNC, "write kafka spool");
    if (!fd) return fd.error();
    std::string out = kSpoolMagic;
    for (const Message& m : waiting_) {
      out += std::to_string(m.key.size()) + ' ' + std::to_string(m.value.size()) + ' ' +
             std::to_string(m.says_lost) + '\n' + m.key + m.value + '\n';
    }
    size_t off = 0;
    while (off < out.size()) {
      const ssize_t n = ::write(*fd, out.data() + off, out.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    const bool ok = off == out.size() && ::fsync(*fd) == 0;
    ::close(*fd);
    if (!ok || ::rename(temp.c_str(), o_.spool.c_str()) != 0) {
      auto err = system_error("write kafka spool " + o_.spool);
      ::unlink(temp.c_str());
      return err;
    }
    counters_->spooled = waiting_.size();
    return {};
  }

  [[nodiscard]] std::string held_path() const { return o_.spool + ".held"; }

  // What the run before this one held when it ended without its stop, less what its spool
  // still has (read again by read_spool): 0 when it stopped, or there is no spool.
  Result<uint64_t> read_held() {
    if (o_.spool.empty()) return uint64_t{0};
    const std::string path = held_path();
    // Not blocking: a FIFO laid there must not hold the start.
    const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
      if (errno == ENOENT) return uint64_t{0};
      return system_error("kafka spool " + path);
    }
    struct stat st {};
    char buf[kHeldSize + 1] = {};
    ssize_t n = -1;
    const bool own = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid();
    if (own) n = ::read(fd, buf, sizeof buf);
    ::close(fd);
    if (!own) {
      return make_error("kafka spool " + path +
                        ": not a file of this user's (refused: it says what to count lost; move "
                        "it aside to start without it)");
    }
    // Empty: a run made it and was killed before it wrote its first count (open_held never
    // empties one that has a count).
    if (n == 0) return uint64_t{0};
    uint64_t held = 0, in_spool = 0;
    const char* p = buf + sizeof kHeldMagic - 1;
    const char* end = buf + kHeldSize;
    bool ok = n == static_cast<ssize_t>(kHeldSize) &&
              std::memcmp(buf, kHeldMagic, sizeof kHeldMagic - 1) == 0 &&
              buf[kHeldSize - 1] == '\n';
    if (ok) {
      auto r = std::from_chars(p, end, held);
      ok = r.ec == std::errc() && r.ptr == p + 20 && *r.ptr == ' ';
      if (ok) {
        p = r.ptr + 1;
        r = std::from_chars(p, end, in_spool);
        ok = r.ec == std::errc() && r.ptr == p + 20;
      }
    }
    if (!ok) {
      return make_error("kafka spool " + path +
                        ": not proctrail's count of what a run held, or damaged (move it aside "
                        "to start without it)");
    }
    // The spool this start reads again has its part; without a spool, it has none.
    if (::access(o_.spool.c_str(), F_OK) != 0) in_spool = 0;
    return held - std::min(held, in_spool);
  }

  // This run's count, over the one read_held() took in (a kill before the first write leaves
  // that one whole). One that cannot be kept costs the count a kill would say, not the start:
  // it is said here.
  void open_held() {
    if (o_.spool.empty()) return;
    auto fd = open_output(held_path(), 0, "write kafka spool's count");
    if (!fd) {
      std::fprintf(stderr,
                   "proctrail: kafka: %s; if proctrail is killed, what waits for the brokers "
                   "is lost uncounted\n",
                   fd.error().message.c_str());
      return;
    }
    held_fd_ = *fd;
    marked_ = {~uint64_t{0}, 0};
    mark_held();
    if (::ftruncate(held_fd_, kHeldSize) != 0) {
      // Only a longer file left by something else is cut here: read_held() would refuse it.
    }
  }

  // Rewrites SPOOL.held in place when what is held changed: one small write per batch. Not
  // fsynced: it is for a process that is killed, and the kernel keeps the write.
  void mark_held() {
    if (held_fd_ < 0 || (marked_.first == owed_ && marked_.second == owed_from_spool_)) return;
    char buf[kHeldSize + 1];
    const int n = std::snprintf(buf, sizeof buf, "%s%020llu %020llu\n", kHeldMagic,
                                static_cast<unsigned long long>(owed_),
                                static_cast<unsigned long long>(owed_from_spool_));
    if (n == static_cast<int>(kHeldSize) &&
        ::pwrite(held_fd_, buf, kHeldSize, 0) == static_cast<ssize_t>(kHeldSize)) {
      marked_ = {owed_, owed_from_spool_};
    } else if (!said_held_failed_) {
      said_held_failed_ = true;  // tried again each batch, said once
      std::fprintf(stderr,
                   "proctrail: kafka: cannot write %s (%s); if proctrail is killed, what waits "
                   "for the brokers may be lost uncounted\n",
                   held_path().c_str(), std::strerror(errno));
    }
  }

  void drop_held() {
    if (held_fd_ < 0) return;
    ::close(held_fd_);
    held_fd_ = -1;
    ::unlink(held_path().c_str());
  }

  KafkaOptions o_;
  std::shared_ptr<KafkaCounters> counters_;
  std::unique_ptr<Formatter> formatter_;
  HostIdentity host_;
  rd_kafka_t* rk_ = nullptr;
  std::deque<Message> waiting_;
  size_t waiting_bytes_ = 0;
  size_t in_flight_ = 0, in_flight_bytes_ = 0;
  std::unordered_map<uint64_t, uint64_t> lost_in_flight_;   // seq -> the count it says
  std::unordered_map<uint64_t, uint8_t> tries_in_flight_;   // seq -> Message::tries, when not 0
  std::unordered_map<uint64_t, uint64_t> spool_in_flight_;  // seq -> Message::spool_part, not 0
  uint64_t next_seq_ = 1;
  uint64_t spool_last_seq_ = 0;  // the spool's messages are 1 .. this
  size_t spool_left_ = 0;        // of them, not yet delivered or lost
  uint64_t unsaid_lost_ = 0;
  std::string lost_why_;
  // Events taken (and counts of lost ones to say) not yet delivered, of them those the spool
  // file still has, and what SPOOL.held says now (mark_held).
  uint64_t owed_ = 0, owed_from_spool_ = 0;
  uint64_t unsaid_from_spool_ = 0;  // of unsaid_lost_, the part the spool file still has
  bool spool_on_disk_ = false;      // the spool this run read is still there
  std::pair<uint64_t, uint64_t> marked_{~uint64_t{0}, 0};
  int held_fd_ = -1;
  bool said_held_failed_ = false;
  std::string last_error_, fatal_;
  // A producer to start again (start_again), when, and the wait after the next failure.
  bool restart_wanted_ = false;
  Clock::time_point restart_at_{};
  std::chrono::seconds restart_wait_{1};
  bool said_down_ = false;
  bool brokers_silent_ = false;  // at start, no broker answered (not a refusal)
  bool started_ = false;
  bool delivered_since_outage_ = true;
  // The lost record this run said that waits or is in flight (0: none); one spooled by an
  // earlier run is not held against it.
  uint64_t lost_record_seq_ = 0;
  std::atomic<bool> cancelled_{false};
  std::string line_;
};

}  // namespace

Result<std::pair<std::string, std::string>> parse_kafka_setting(std::string_view text) {
  const size_t eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return make_error("-X: '" + std::string(text) + "' is not key=value (e.g. -X acks=all)");
  }
  return std::pair{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
}

Result<std::unique_ptr<Sink>> open_kafka_sink(const KafkaOptions& options,
                                              std::shared_ptr<KafkaCounters> counters) {
  auto sink = std::make_unique<KafkaSink>(options, std::move(counters));
  if (Status s = sink->start(); !s) return s.error();
  return std::unique_ptr<Sink>(std::move(sink));
}

}  // namespace proctrail
