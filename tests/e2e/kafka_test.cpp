// --kafka against a real Kafka protocol endpoint without a JVM: librdkafka's mock cluster
// (tests/programs/kafka_mock.cpp, three brokers on 127.0.0.1 ports), read back with kcat as a
// consumer elsewhere would. Every event proctrail wrote to its JSON file must arrive as one
// message, byte for byte (both are written with the host in every record), in the order of
// the file within each process's key, or be counted in a lost record that kafka itself sends.
#include <fcntl.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "harness.hpp"
#include "skip.hpp"

namespace proctrail::e2e {
namespace {

using nlohmann::json;

constexpr char kKcat[] = "/usr/bin/kcat";
constexpr char kTopic[] = "trail";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The mock cluster, driven through the helper's standard input.
class Cluster {
 public:
  explicit Cluster(int partitions = 4) {
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      close(in[1]);
      close(out[0]);
      execl(KAFKA_MOCK_BIN, KAFKA_MOCK_BIN, "3", kTopic, std::to_string(partitions).c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to_ = fdopen(in[1], "w");
    from_ = fdopen(out[0], "r");
    const std::string first = line();
    if (first.rfind("bootstrap ", 0) == 0) bootstrap_ = first.substr(10);
  }
  ~Cluster() {
    if (to_ != nullptr) fclose(to_);
    if (from_ != nullptr) fclose(from_);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
  }
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  [[nodiscard]] const std::string& bootstrap() const { return bootstrap_; }
  // "ok", or what went wrong.
  std::string command(const std::string& c) {
    fprintf(to_, "%s\n", c.c_str());
    fflush(to_);
    return line();
  }

  // Every message of the topic: key, partition, offset, value.
  struct Message {
    std::string key, value;
    int partition = -1;
    long offset = -1;
  };
  [[nodiscard]] std::vector<Message> messages() const {
    auto r = run({kKcat, "-C", "-b", bootstrap_, "-t", kTopic, "-o", "beginning", "-e", "-q", "-f",
                  "%k\\t%p\\t%o\\t%s\\n"},
                 60000);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<Message> out;
    std::istringstream in(r.out);
    std::string l;
    while (std::getline(in, l)) {
      Message m;
      const size_t a = l.find('\t'), b = l.find('\t', a + 1), c = l.find('\t', b + 1);
      if (c == std::string::npos) {
        ADD_FAILURE() << "not key, partition, offset, value: " << l;
        continue;
      }
      m.key = l.substr(0, a);
      m.partition = std::stoi(l.substr(a + 1, b - a - 1));
      m.offset = std::stol(l.substr(b + 1, c - b - 1));
      m.value = l.substr(c + 1);
      out.push_back(std::move(m));
    }
    return out;
  }

 private:
  std::string line() {
    char buf[4096];
    if (from_ == nullptr || fgets(buf, sizeof buf, from_) == nullptr) return "";
    std::string s = buf;
    if (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }
  pid_t pid_ = -1;
  FILE* to_ = nullptr;
  FILE* from_ = nullptr;
  std::string bootstrap_;
};

// The workloads wait on FIFOs. Each side waits at most a minute (stretched under emulation),
// so a proctrail that died early fails the test instead of hanging it.
bool read_fifo(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  bool got = false;
  for (int i = 0; i < 600 * time_scale() && !got; ++i) {
    pollfd p{fd, POLLIN, 0};
    char c;
    if (poll(&p, 1, 100) > 0 && (p.revents & POLLIN) != 0) got = read(fd, &c, 1) == 1;
  }
  close(fd);
  return got;
}
bool write_fifo(const std::string& path) {
  for (int i = 0; i < 600 * time_scale(); ++i) {
    const int fd = open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) {
      const bool ok = write(fd, "go\n", 3) == 3;
      close(fd);
      return ok;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

size_t count_lines(const std::string& text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

bool is_kafkas_lost(const json& m) {
  return m["type"] == "lost" && m["reason"].get<std::string>().rfind("kafka", 0) == 0;
}

// What the consumer got against the JSON file: every record once (or counted lost by kafka),
// nothing else, and each key's messages in one partition in the file's order.
void expect_delivered(const std::vector<std::string>& lines,
                      const std::vector<Cluster::Message>& got, uint64_t* lost_out = nullptr) {
  std::map<std::string, size_t> position;  // a line's place in the file
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(position.count(lines[i]), 0u) << "the same record twice in the file: " << lines[i];
    position[lines[i]] = i;
  }
  std::map<std::string, size_t> seen;
  std::map<std::string, std::pair<int, size_t>> last_of_key;  // partition, file position
  std::map<std::string, std::string> key_of_process;
  std::set<std::pair<int, long>> read;  // partition, offset: what the consumer has printed
  uint64_t lost = 0;
  for (const auto& m : got) {
    // The consumer printing one offset twice (it may fetch again) is not a second message.
    if (!read.emplace(m.partition, m.offset).second) continue;
    const json v = json::parse(m.value, nullptr, false);
    ASSERT_FALSE(v.is_discarded()) << "not JSON: " << m.value;
    if (is_kafkas_lost(v)) {
      lost += v["count"].get<uint64_t>();
      continue;
    }
    auto at = position.find(m.value);
    ASSERT_NE(at, position.end()) << "a message that is no record of the file: " << m.value;
    // At least once: a producer rebuilt, or a purge, may send again what the broker already
    // had. A repeat keeps its key's partition, but only a first arrival is held to the order.
    const bool again = seen[m.value]++ > 0;
    if (v.contains("exec_id")) {
      const std::string host = v["host"]["hostname"].get<std::string>();
      EXPECT_EQ(m.key.rfind(host + "/", 0), 0u) << m.key;
      // Every image of a process (its exec_id up to the ordinal) under one key.
      const std::string id = v["exec_id"];
      auto [k, first] = key_of_process.try_emplace(id.substr(0, id.rfind('-')), m.key);
      EXPECT_EQ(k->second, m.key) << "one process under two keys: " << m.value;
    }
    auto [it, fresh] = last_of_key.try_emplace(m.key, m.partition, at->second);
    if (!fresh) {
      EXPECT_EQ(it->second.first, m.partition) << "key " << m.key << " in two partitions";
      if (!again) {
        EXPECT_LE(it->second.second, at->second) << "key " << m.key << " out of order: " << m.value;
      }
      it->second.second = std::max(it->second.second, at->second);
    }
  }
  EXPECT_EQ(seen.size() + lost, lines.size())
      << "every record arrived or was counted lost (" << seen.size() << " arrived, " << lost
      << " lost, of " << lines.size() << ")";
  if (lost_out != nullptr) *lost_out = lost;
}

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> out;
  std::istringstream in(slurp(path));
  std::string l;
  while (std::getline(in, l)) {
    if (!l.empty()) out.push_back(l);
  }
  (void)parse_records(slurp(path));  // and each in the schema
  return out;
}

// The outage of the storm tests: once the workload says ready1, the brokers go down and it is
// let go on (go1); once it says ready2, the brokers come back, 10 s after they went or then if
// that is later, and have 3 s to take the backlog.
void brokers_down_for_ten_seconds(Cluster& cluster, const std::string& dir) {
  ASSERT_TRUE(read_fifo(dir + "/ready1")) << "the workload never got there";
  settle(1000);  // the first events delivered
  EXPECT_EQ(cluster.command("down"), "ok");
  const auto down_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(write_fifo(dir + "/go1")) << "the workload is gone";
  ASSERT_TRUE(read_fifo(dir + "/ready2")) << "the workload never got there";
  std::this_thread::sleep_until(down_at + std::chrono::seconds(10));
  EXPECT_EQ(cluster.command("up"), "ok");
  settle(3000);  // the backlog delivered (a stop waits 5 s at most)
}

// The checker above, on message lists made by hand: a run of records a rebuilt producer sent
// again (at least once allows it), or an offset the consumer read twice, is no disorder; a
// record whose first arrival comes after a later record of its key is.
TEST(KafkaChecker, ARepeatIsNoDisorderButALateFirstArrivalIs) {
  const std::vector<std::string> lines = {R"({"type":"x","n":0})", R"({"type":"x","n":1})",
                                          R"({"type":"x","n":2})"};
  using M = Cluster::Message;
  const std::vector<M> resent = {{"k", lines[0], 0, 0}, {"k", lines[1], 0, 1},
                                 {"k", lines[2], 0, 2}, {"k", lines[1], 0, 3},
                                 {"k", lines[2], 0, 4}, {"k", lines[2], 0, 4}};
  expect_delivered(lines, resent);
  const std::vector<M> late = {{"k", lines[0], 0, 0}, {"k", lines[2], 0, 1}, {"k", lines[1], 0, 2}};
  EXPECT_NONFATAL_FAILURE(expect_delivered(lines, late), "out of order");
  const std::vector<M> moved = {
      {"k", lines[0], 0, 0}, {"k", lines[1], 0, 1}, {"k", lines[1], 1, 0}, {"k", lines[2], 0, 2}};
  EXPECT_NONFATAL_FAILURE(expect_delivered(lines, moved), "in two partitions");
}

class KafkaTest : public ::testing::Test {
 protected:
  void SetUp() override {
#if defined(__SANITIZE_THREAD__)
    PT_SKIP("tsan-librdkafka-threads")
        << "librdkafka starts its threads with C11 thrd_create, which this ThreadSanitizer does "
           "not intercept: any program using librdkafka crashes at once under it";
#endif
    if (access(kKcat, X_OK) != 0) PT_SKIP("no-kcat") << kKcat << " is not installed";
    dir_ = "/tmp/pt-kafka-" + std::to_string(getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure() && !dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::string dir_;
};

// A plain run: every event of a workload of 100 processes arrives, keyed by process, in order.
TEST_F(KafkaTest, EveryEventArrivesKeyedByProcessInOrder) {
  Cluster cluster;
  ASSERT_FALSE(cluster.bootstrap().empty()) << "the mock cluster did not start";
  const std::string events = dir_ + "/events.jsonl";
  auto r = run({proctrail_path(), "--kafka", cluster.bootstrap(), "--kafka-topic", kTopic, "-f",
                "json", "--host-fields", "-o", events, "--stats", "--", "sh", "-c",
                "for i in $(seq 100); do /bin/true kafka-marker-$i; done; exit 4"},
               60000);
  ASSERT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("proctrail: stats: kafka produced"), std::string::npos) << r.err;
  const auto lines = lines_of(events);
  const auto got = cluster.messages();
  uint64_t lost = 0;
  expect_delivered(lines, got, &lost);
  EXPECT_EQ(lost, 0u);
  size_t markers = 0;
  for (const auto& m : got) markers += m.value.find("kafka-marker-") != std::string::npos;
  EXPECT_GE(markers, 100u) << "each /bin/true's exec (and its exit) arrived";
}

// --summary says what Kafka did, as --stats does: the final summary's counts, which cannot be
// more than --stats gives at the very end.
TEST_F(KafkaTest, TheSummarySaysWhatKafkaDid) {
  Cluster cluster;
  ASSERT_FALSE(cluster.bootstrap().empty()) << "the mock cluster did not start";
  const std::string events = dir_ + "/events.jsonl";
  auto r = run({proctrail_path(), "--kafka", cluster.bootstrap(), "--kafka-topic", kTopic, "-f",
                "json", "-o", events, "--summary", "--stats", "--", "sh", "-c",
                "for i in $(seq 20); do /bin/true kafka-summary-$i; done"},
               60000);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = lines_of(events);
  ASSERT_FALSE(lines.empty());
  const json summary = json::parse(lines.back());
  ASSERT_EQ(summary["type"], "summary") << lines.back();
  ASSERT_TRUE(summary.contains("exporters")) << lines.back();
  ASSERT_EQ(summary["exporters"].size(), 1u) << lines.back();
  const json& k = summary["exporters"][0];
  EXPECT_EQ(k["name"], "kafka");
  // 20 execs and 20 exits at least, each produced by the time the summary is made.
  EXPECT_GE(k["produced"].get<uint64_t>(), 40u) << k.dump();
  EXPECT_LE(k["delivered"].get<uint64_t>(), k["produced"].get<uint64_t>()) << k.dump();
  EXPECT_EQ(k["failed"], 0) << k.dump();
  EXPECT_EQ(k["dropped"], 0) << k.dump();
  EXPECT_EQ(k["sent_again"], 0) << k.dump();
  // Nothing failed or dropped: what was produced is delivered or still waiting.
  EXPECT_GE(k["delivered"].get<uint64_t>() + k["waiting"].get<uint64_t>(), 40u) << k.dump();
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(r.err, m, std::regex(R"(stats: kafka produced (\d+), delivered (\d+))")))
      << r.err;
  EXPECT_LE(k["produced"].get<uint64_t>(), std::stoull(m[1])) << r.err;
  EXPECT_LE(k["delivered"].get<uint64_t>(), std::stoull(m[2])) << r.err;
}

// All three brokers down for 10 s in the middle of a storm, a partition's leader moved while
// they are back: nothing is lost (the buffer holds the outage), the file and the topic agree.
TEST_F(KafkaTest, BrokersDownForTenSecondsMidStormLoseNothing) {
  Cluster cluster;
  ASSERT_FALSE(cluster.bootstrap().empty()) << "the mock cluster did not start";
  for (const char* fifo : {"ready1", "go1", "ready2", "go2"}) {
    ASSERT_EQ(mkfifo((dir_ + "/" + fifo).c_str(), 0600), 0);
  }
  const std::string events = dir_ + "/events.jsonl";
  const long storm = storm_size(300);
  const std::string workload =
      "for i in $(seq 50); do /bin/true before-$i; done; echo > \"$1/ready1\"; read x < "
      "\"$1/go1\"; for i in $(seq " +
      std::to_string(storm) +
      "); do /bin/true during-$i; done; echo > \"$1/ready2\"; read x < \"$1/go2\"; "
      "for i in $(seq 50); do /bin/true after-$i; done";
  CommandResult result;
  std::jthread monitor([&] {  // joined on any way out
    result = run(
        {proctrail_path(), "--kafka", cluster.bootstrap(), "--kafka-topic", kTopic, "-f", "json",
         "--host-fields", "-o", events, "--stats", "--", "sh", "-c", workload, "sh", dir_},
        120000);
  });
  brokers_down_for_ten_seconds(cluster, dir_);
  if (HasFatalFailure()) return;
  EXPECT_EQ(cluster.command("leader 0 2"), "ok");
  EXPECT_EQ(cluster.command("leader 1 3"), "ok");
  ASSERT_TRUE(write_fifo(dir_ + "/go2")) << "the workload is gone";
  monitor.join();
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("proctrail: kafka: no broker of"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("proctrail: kafka: the brokers take events again"), std::string::npos)
      << result.err;
  const auto lines = lines_of(events);
  uint64_t lost = 0;
  expect_delivered(lines, cluster.messages(), &lost);
  EXPECT_EQ(lost, 0u) << "64M of buffer holds ten seconds of this storm";
}

// The same outage with a buffer of 64K: the oldest waiting events are dropped, and once the
// brokers are back one lost record from kafka says exactly how many.
TEST_F(KafkaTest, ASmallBufferDropsTheOldestAndSaysHowMany) {
  Cluster cluster;
  ASSERT_FALSE(cluster.bootstrap().empty()) << "the mock cluster did not start";
  for (const char* fifo : {"ready1", "go1", "ready2", "go2"}) {
    ASSERT_EQ(mkfifo((dir_ + "/" + fifo).c_str(), 0600), 0);
  }
  const std::string events = dir_ + "/events.jsonl";
  // Each exec record carries a 2 KB argument: 200 of them are six times the buffer.
  const std::string workload =
      "/bin/true first; echo > \"$1/ready1\"; read x < \"$1/go1\"; big=$(head -c 2000 "
      "/dev/zero | tr '\\0' y); for i in $(seq 200); do /bin/true $big-$i; done; echo > "
      "\"$1/ready2\"; read x < \"$1/go2\"; /bin/true last";
  CommandResult result;
  std::jthread monitor([&] {  // joined on any way out
    result = run({proctrail_path(), "--kafka", cluster.bootstrap(), "--kafka-topic", kTopic,
                  "--kafka-buffer", "64K", "-f", "json", "--host-fields", "-o", events, "--stats",
                  "--", "sh", "-c", workload, "sh", dir_},
                 120000);
  });
  ASSERT_TRUE(read_fifo(dir_ + "/ready1")) << "the workload never got there";
  settle(1000);
  EXPECT_EQ(cluster.command("down"), "ok");
  ASSERT_TRUE(write_fifo(dir_ + "/go1")) << "the workload is gone";
  ASSERT_TRUE(read_fifo(dir_ + "/ready2")) << "the workload never got there";
  settle(2000);  // the storm's events through the output, into the buffer
  EXPECT_EQ(cluster.command("up"), "ok");
  settle(1000);
  ASSERT_TRUE(write_fifo(dir_ + "/go2")) << "the workload is gone";
  monitor.join();
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto lines = lines_of(events);
  const auto got = cluster.messages();
  uint64_t lost = 0;
  expect_delivered(lines, got, &lost);
  EXPECT_GE(lost, 100u) << "most of 400 records of 2 KB do not fit in 64K";
  size_t lost_records = 0;
  bool mid_storm = false, last_of_storm = false;
  for (const auto& m : got) {
    const json v = json::parse(m.value);
    lost_records += is_kafkas_lost(v);
    if (v["type"] != "exec" || v["argv"].size() != 2) continue;
    const std::string arg = v["argv"][1];
    mid_storm = mid_storm || (arg.size() > 3 && arg.substr(arg.size() - 3) == "-50");
    last_of_storm = last_of_storm || (arg.size() > 4 && arg.substr(arg.size() - 4) == "-200");
  }
  EXPECT_EQ(lost_records, 1u) << "one outage, one count";
  EXPECT_TRUE(last_of_storm) << "the newest are kept";
  // (The first few went to librdkafka before the outage was known, and stay in its hands.)
  EXPECT_FALSE(mid_storm) << "the oldest waiting are dropped";
  EXPECT_NE(result.err.find("dropped " + std::to_string(lost) + ","), std::string::npos)
      << result.err;
}

// Brokers down when proctrail stops: what it could not deliver goes to the spool, and the next
// run (the brokers back) sends it first. Both runs' records arrive.
TEST_F(KafkaTest, WhatAStopCouldNotDeliverIsSpooledAndSentByTheNextStart) {
  Cluster cluster;
  ASSERT_FALSE(cluster.bootstrap().empty()) << "the mock cluster did not start";
  ASSERT_EQ(mkfifo((dir_ + "/ready").c_str(), 0600), 0);
  ASSERT_EQ(mkfifo((dir_ + "/go").c_str(), 0600), 0);
  const std::string spool = dir_ + "/spool";
  const std::string first = dir_ + "/first.jsonl", second = dir_ + "/second.jsonl";
  CommandResult result;
  std::jthread monitor([&] {  // joined on any way out
    result =
        run({proctrail_path(), "--kafka", cluster.bootstrap(), "--kafka-topic", kTopic,
             "--kafka-spool", spool, "-f", "json", "--host-fields", "-o", first, "--", "sh", "-c",
             "/bin/true one; echo > \"$1/ready\"; read x < \"$1/go\"; for i in $(seq 20); "
             "do /bin/true spooled-$i; done",
             "sh", dir_},
            120000);
  });
  ASSERT_TRUE(read_fifo(dir_ + "/ready")) << "the workload never got there";
  settle(1000);
  EXPECT_EQ(cluster.command("down"), "ok");
  ASSERT_TRUE(write_fifo(dir_ + "/go")) << "the workload is gone";
  monitor.join();
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("not delivered when proctrail stopped: kept in " + spool),
            std::string::npos)
      << result.err;
  struct stat st {};
  ASSERT_EQ(stat(spool.c_str(), &st), 0) << "no spool";
  EXPECT_EQ(st.st_mode & 077, 0u) << "the spool is the caller's alone";

  EXPECT_EQ(cluster.command("up"), "ok");
  auto again = run(
      {proctrail_path(), "--kafka", cluster.bootstrap(), "--kafka-topic", kTopic, "--kafka-spool",
       spool, "-f", "json", "--host-fields", "-o", second, "--stats", "--", "/bin/true", "two"},
      60000);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  const size_t from = again.err.find("read from the spool ");
  ASSERT_NE(from, std::string::npos) << again.err;
  EXPECT_GE(std::stoul(again.err.substr(from + 20)), 20u)
      << "the twenty execs the brokers never had, at least" << again.err;
  EXPECT_FALSE(std::filesystem::exists(spool)) << "a spool delivered is gone";
  auto lines = lines_of(first);
  const auto more = lines_of(second);
  lines.insert(lines.end(), more.begin(), more.end());
  uint64_t lost = 0;
  expect_delivered(lines, cluster.messages(), &lost);
  EXPECT_EQ(lost, 0u);
}

// The issue's whole case: a storm to the three brokers, all of them down in the middle of it,
// proctrail stopped during the outage and started again with its spool (which it refused, for
// no broker answered, until a run before with that spool was taken to mean an outage), more
// storm, the brokers back. The two runs' JSON files and the topic agree: every record arrived,
// in order per key.
TEST_F(KafkaTest, AStormThroughAnOutageAndARestartArrivesWhole) {
  Cluster cluster;
  ASSERT_FALSE(cluster.bootstrap().empty()) << "the mock cluster did not start";
  for (const char* fifo : {"ready1", "go1", "ready2", "go2"}) {
    ASSERT_EQ(mkfifo((dir_ + "/" + fifo).c_str(), 0600), 0);
  }
  const std::string spool = dir_ + "/spool";
  const std::string first = dir_ + "/first.jsonl", second = dir_ + "/second.jsonl";
  const std::string storm = std::to_string(storm_size(300));
  const auto proctrail = [&](const std::string& out, const std::string& workload) {
    return run({proctrail_path(), "--kafka", cluster.bootstrap(), "--kafka-topic", kTopic,
                "--kafka-spool", spool, "-f", "json", "--host-fields", "-o", out, "--stats", "--",
                "sh", "-c", workload, "sh", dir_},
               120000);
  };
  CommandResult one, two;
  std::jthread runs([&] {  // joined on any way out
    one = proctrail(first,
                    "for i in $(seq 50); do /bin/true before-$i; done; echo > \"$1/ready1\"; "
                    "read x < \"$1/go1\"; for i in $(seq " +
                        storm + "); do /bin/true first-storm-$i; done");
    // The restart: the first run has stopped (spooling what the brokers did not get).
    two = proctrail(second, "for i in $(seq " + storm +
                                "); do /bin/true second-storm-$i; done; echo > \"$1/ready2\"; "
                                "read x < \"$1/go2\"; for i in $(seq 50); do /bin/true after-$i; "
                                "done");
  });
  brokers_down_for_ten_seconds(cluster, dir_);
  if (HasFatalFailure()) return;
  ASSERT_TRUE(write_fifo(dir_ + "/go2")) << "the workload is gone";
  runs.join();
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_NE(one.err.find("not delivered when proctrail stopped: kept in " + spool),
            std::string::npos)
      << "the first run stopped during the outage: " << one.err;
  ASSERT_EQ(two.exit_code, 0) << two.err;
  // It started while no broker answered: the run before reached them, so this is an outage.
  EXPECT_NE(two.err.find("proctrail: kafka: no broker at "), std::string::npos) << two.err;
  EXPECT_NE(two.err.find("; going on, since the run before with --kafka-spool " + spool +
                         " reached them"),
            std::string::npos)
      << two.err;
  EXPECT_NE(two.err.find("read from the spool "), std::string::npos) << two.err;
  EXPECT_NE(two.err.find("proctrail: kafka: the brokers take events again"), std::string::npos)
      << two.err;
  auto lines = lines_of(first);
  const auto more = lines_of(second);
  lines.insert(lines.end(), more.begin(), more.end());
  uint64_t lost = 0;
  expect_delivered(lines, cluster.messages(), &lost);
  EXPECT_EQ(lost, 0u) << "the spool and the buffer hold this outage";
  EXPECT_FALSE(std::filesystem::exists(spool)) << "a spool delivered is gone";
}

// The start after a kill, with the brokers back, and what the consumer then has (each message
// once): what lost records "without its stop" counted, and each mark's execs that arrived.
struct AfterKill {
  uint64_t said = 0;
  std::map<std::string, std::set<std::string>> arrived;
};
void start_after_kill(Cluster& cluster, const std::string& spool, const std::string& dir,
                      const std::vector<std::string>& marks, AfterKill& out) {
  auto again = run(
      {proctrail_path(), "--kafka", cluster.bootstrap(), "--kafka-topic", kTopic, "--kafka-spool",
       spool, "-f", "json", "-o", dir + "/again.jsonl", "--", "/bin/true", "after-the-kill"},
      60000);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("ended without its stop"), std::string::npos) << again.err;
  std::set<std::pair<int, long>> read;
  for (const auto& m : cluster.messages()) {
    if (!read.emplace(m.partition, m.offset).second) continue;
    const json v = json::parse(m.value, nullptr, false);
    ASSERT_FALSE(v.is_discarded()) << "not JSON: " << m.value;
    if (is_kafkas_lost(v) &&
        v["reason"].get<std::string>().find("without its stop") != std::string::npos) {
      out.said += v["count"].get<uint64_t>();
    }
    if (v["type"] != "exec") continue;
    for (const std::string& mark : marks) {
      const size_t at = m.value.find(mark);
      if (at != std::string::npos) {
        out.arrived[mark].insert(m.value.substr(at, m.value.find('"', at) - at));
      }
    }
  }
}

// proctrail killed (SIGKILL) while events wait for brokers that are down: it cannot spool
// them, but it kept their count on disk beside the spool, and the next start with that spool
// sends a lost record that says it. Before, they were gone without a word.
TEST_F(KafkaTest, WhatAKilledRunHeldIsCountedByTheNextStart) {
  Cluster cluster;
  ASSERT_FALSE(cluster.bootstrap().empty()) << "the mock cluster did not start";
  const std::string spool = dir_ + "/spool";
  constexpr int kWaiting = 20;
  size_t killed_run = 0;  // records the killed run wrote to its file, which has what Kafka got
  {
    Monitor m({"-f", "json", "--host-fields", "-e", "exec", "--kafka", cluster.bootstrap(),
               "--kafka-topic", kTopic, "--kafka-spool", spool});
    ASSERT_TRUE(m.started()) << m.errors();
    ASSERT_EQ(system("/bin/true kafka-before-the-kill"), 0);
    settle(1000);
    EXPECT_EQ(cluster.command("down"), "ok");
    for (int i = 0; i < kWaiting; ++i) {
      ASSERT_EQ(system(("/bin/true kafka-killed-" + std::to_string(i)).c_str()), 0);
    }
    settle(1500);  // the execs reach the sink, and a tick or two after them
    m.stop(SIGKILL);
    EXPECT_FALSE(std::filesystem::exists(spool)) << "a killed run writes no spool";
    killed_run = count_lines(m.output());
  }
  EXPECT_EQ(cluster.command("up"), "ok");
  AfterKill after;
  ASSERT_NO_FATAL_FAILURE(start_after_kill(cluster, spool, dir_, {"kafka-killed-"}, after));
  EXPECT_EQ(after.arrived["kafka-killed-"].size(), 0u) << "the brokers were down for all of them";
  EXPECT_GE(after.said, static_cast<uint64_t>(kWaiting))
      << "every marked exec the killed run held is in the count";
  EXPECT_LE(after.said, killed_run) << "no more than the killed run had";
  EXPECT_FALSE(std::filesystem::exists(spool + ".held")) << "a run that stopped leaves no count";
}

// A run that was sending what an earlier stop spooled is killed. The next start sends the
// spool again, so the count it says lost is what the killed run held beyond the spool: not the
// spool's events a second time, nor those of them the killed run had dropped (its buffer full),
// which the spool still has.
TEST_F(KafkaTest, AKilledRunsCountLeavesOutWhatItsSpoolStillHas) {
  Cluster cluster(1);  // one partition, so one leader to take down
  ASSERT_FALSE(cluster.bootstrap().empty()) << "the mock cluster did not start";
  const std::string spool = dir_ + "/spool";
  constexpr int kEach = 50;
  const auto execs = [](const std::string& mark) {
    for (int i = 0; i < kEach; ++i) {
      if (system(("/bin/true " + mark + std::to_string(i)).c_str()) != 0) return false;
    }
    return true;
  };
  {
    Monitor m({"-f", "json", "--host-fields", "-e", "exec", "--kafka", cluster.bootstrap(),
               "--kafka-topic", kTopic, "--kafka-spool", spool});
    ASSERT_TRUE(m.started()) << m.errors();
    settle(1000);
    EXPECT_EQ(cluster.command("down"), "ok");
    ASSERT_TRUE(execs("kafka-spooled-"));
    settle(1000);
    EXPECT_EQ(m.stop(), 0) << m.errors();
  }
  ASSERT_TRUE(std::filesystem::exists(spool)) << "the stop spooled what waited";
  // The next run can start (the other brokers answer) but not deliver: its partition's leader
  // is down. Its new events push the oldest waiting, the spool's, out of a 64K buffer.
  EXPECT_EQ(cluster.command("leader 0 1"), "ok");
  EXPECT_EQ(cluster.command("up"), "ok");
  EXPECT_EQ(cluster.command("down 1"), "ok");
  size_t killed_run = 0;
  {
    Monitor m({"-f", "json", "--host-fields", "-e", "exec", "--kafka", cluster.bootstrap(),
               "--kafka-topic", kTopic, "--kafka-spool", spool, "--kafka-buffer", "64K"});
    ASSERT_TRUE(m.started()) << m.errors();
    ASSERT_TRUE(execs("kafka-held-"));
    settle(1500);
    m.stop(SIGKILL);
    killed_run = count_lines(m.output());
  }
  EXPECT_EQ(cluster.command("up 1"), "ok");
  AfterKill after;
  ASSERT_NO_FATAL_FAILURE(
      start_after_kill(cluster, spool, dir_, {"kafka-spooled-", "kafka-held-"}, after));
  EXPECT_EQ(after.arrived["kafka-spooled-"].size(), static_cast<size_t>(kEach))
      << "the spool, sent again whole";
  EXPECT_EQ(after.arrived["kafka-held-"].size(), 0u) << "the leader was down for all of them";
  EXPECT_GE(after.said, static_cast<uint64_t>(kEach)) << "every marked exec the killed run held";
  EXPECT_LE(after.said, killed_run) << "the killed run's own events at most, not the spool's again";
}

// The view's reader goes away (proctrail ... | head -n 1) while the brokers are down: the
// monitor ends quietly, but what waits for Kafka is spooled and said, as at any other stop.
TEST_F(KafkaTest, AViewClosedByItsReaderStillSpoolsWhatWaits) {
  Cluster cluster;
  ASSERT_FALSE(cluster.bootstrap().empty()) << "the mock cluster did not start";
  const std::string spool = dir_ + "/spool";
  CommandResult result;
  std::atomic<bool> ended{false};
  std::jthread monitor([&] {  // joined on any way out
    // head takes the start record and goes; only the marked execs pass the filters, and the
    // first of them finds the pipe closed.
    result = run({"bash", "-c",
                  "\"$0\" --kafka \"$1\" --kafka-topic \"$2\" --kafka-spool \"$3\" -f json"
                  " -e exec --argv closed-view | head -n 1 > /dev/null;"
                  " echo \"rc=${PIPESTATUS[0]}\" >&2",
                  proctrail_path(), cluster.bootstrap(), kTopic, spool},
                 120000);
    ended = true;
  });
  settle(3000);  // started, and the start record delivered
  EXPECT_EQ(cluster.command("down"), "ok");
  for (int i = 0; i < 200 && !ended; ++i) {
    run({"/bin/true", "closed-view-" + std::to_string(i)});
    settle(100);
  }
  monitor.join();
  EXPECT_NE(result.err.find("rc=0"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("not delivered when proctrail stopped: kept in " + spool),
            std::string::npos)
      << result.err;
  EXPECT_TRUE(std::filesystem::exists(spool)) << "what waited for the brokers is in the spool";
}

// A broker answers a produce request with OUT_OF_ORDER_SEQUENCE_NUMBER (45): librdkafka's
// idempotent producer cannot know what the broker has, takes it for a fatal error and sends
// nothing more. proctrail builds a new producer, with every message the old one held
// back in line, and the run arrives whole.
TEST_F(KafkaTest, AProducerThatFailsFatallyIsRebuiltNotLeftStuck) {
  Cluster cluster;
  ASSERT_FALSE(cluster.bootstrap().empty()) << "the mock cluster did not start";
  ASSERT_EQ(mkfifo((dir_ + "/ready").c_str(), 0600), 0);
  ASSERT_EQ(mkfifo((dir_ + "/go").c_str(), 0600), 0);
  const std::string events = dir_ + "/events.jsonl";
  CommandResult result;
  std::jthread monitor([&] {  // joined on any way out
    result = run({proctrail_path(), "--kafka", cluster.bootstrap(), "--kafka-topic", kTopic, "-f",
                  "json", "--host-fields", "-o", events, "--stats", "--", "sh", "-c",
                  "/bin/true one; echo > \"$1/ready\"; read x < \"$1/go\"; for i in $(seq "
                  "30); do /bin/true after-$i; sleep 0.05; done",
                  "sh", dir_},
                 120000);
  });
  ASSERT_TRUE(read_fifo(dir_ + "/ready")) << "the workload never got there";
  settle(1000);
  EXPECT_EQ(cluster.command("produce-error 45"), "ok");
  ASSERT_TRUE(write_fifo(dir_ + "/go")) << "the workload is gone";
  monitor.join();
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("proctrail: kafka: the producer failed ("), std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("producers rebuilt 1"), std::string::npos) << result.err;
  uint64_t lost = 0;
  expect_delivered(lines_of(events), cluster.messages(), &lost);
  EXPECT_EQ(lost, 0u) << "what the failed producer held was handed back and sent again";
}

// A cgroup v1 pids group of the test's own, where proctrail can be kept from making threads
// (librdkafka then cannot start a producer: "Failed to create thread"). Gone with the object,
// its processes moved back to the root group first.
class PidsGroup {
 public:
  PidsGroup() : path_("/sys/fs/cgroup/pids/proctrail-test-" + std::to_string(getpid())) {
    if (mkdir(path_.c_str(), 0755) != 0) {
      why_ = "cannot make " + path_ + ": " + std::strerror(errno) +
             " (the cgroup v1 pids controller is where this test stops librdkafka from making "
             "threads)";
      path_.clear();
    }
  }
  ~PidsGroup() {
    if (path_.empty()) return;
    set("pids.max", "max");
    std::ifstream procs(path_ + "/cgroup.procs");
    for (std::string pid; std::getline(procs, pid);) {
      std::ofstream("/sys/fs/cgroup/pids/cgroup.procs") << pid;
    }
    rmdir(path_.c_str());
  }
  PidsGroup(const PidsGroup&) = delete;
  PidsGroup& operator=(const PidsGroup&) = delete;
  [[nodiscard]] bool made() const { return !path_.empty(); }
  [[nodiscard]] const std::string& why() const { return why_; }
  bool set(const std::string& file, const std::string& value) const {
    std::ofstream f(path_ + "/" + file);
    f << value;
    f.flush();
    return f.good();
  }

 private:
  std::string path_, why_;
};

// The same fatal error, and the new producer cannot start either: librdkafka cannot make its
// threads (proctrail's pids cgroup is full for a moment, as on a machine out of processes).
// proctrail tries again until one starts, rather than keep the events waiting for ever.
TEST_F(KafkaTest, AProducerThatCannotBeRebuiltAtOnceIsTriedAgain) {
  PidsGroup group;
  if (!group.made()) PT_SKIP("no-pids-cgroup") << group.why();
  Cluster cluster;
  ASSERT_FALSE(cluster.bootstrap().empty()) << "the mock cluster did not start";
  Monitor m({"-f", "json", "--host-fields", "-e", "exec", "--kafka", cluster.bootstrap(),
             "--kafka-topic", kTopic, "--stats"});
  ASSERT_TRUE(m.started()) << m.errors();
  auto set = [&](const std::string& file, const std::string& value) {
    return group.set(file, value);
  };
  ASSERT_TRUE(set("cgroup.procs", std::to_string(m.pid())));
  ASSERT_EQ(system("/bin/true kafka-before"), 0);
  settle(1000);
  // No new thread in proctrail's group from here; the broker then fails the producer.
  ASSERT_TRUE(set("pids.max", "1"));
  EXPECT_EQ(cluster.command("produce-error 45"), "ok");
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(system(("/bin/true kafka-stuck-" + std::to_string(i)).c_str()), 0);
  }
  settle(2500);
  ASSERT_TRUE(set("pids.max", "max"));
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(system(("/bin/true kafka-after-" + std::to_string(i)).c_str()), 0);
  }
  settle(4000);
  // Delivered while proctrail runs, not only by the last try of its stop.
  size_t arrived = 0;
  for (const auto& message : cluster.messages()) {
    arrived += message.value.find("kafka-stuck-9") != std::string::npos;
  }
  EXPECT_GE(arrived, 1u) << "the events that waited for a producer arrived before the stop";
  ASSERT_EQ(m.stop(), 0) << m.errors();
  EXPECT_NE(m.errors().find("proctrail: kafka: the producer failed ("), std::string::npos)
      << m.errors();
  EXPECT_NE(m.errors().find("cannot start a new producer"), std::string::npos) << m.errors();
  EXPECT_NE(m.errors().find("proctrail: kafka: a new producer started"), std::string::npos)
      << m.errors();
  EXPECT_NE(m.errors().find("producers rebuilt 1"), std::string::npos) << m.errors();
  const auto lines = lines_of(m.output_path());
  uint64_t lost = 0;
  expect_delivered(lines, cluster.messages(), &lost);
  size_t marked = 0;
  for (const std::string& l : lines) marked += l.find("kafka-stuck-") != std::string::npos;
  EXPECT_GE(marked, 10u) << "the execs made while no producer could start are in the file";
}

// Stopped while the brokers are coming back, and the producer fails fatally in the stop's own
// wait with no new one able to start: the stop ends cleanly and says what it could not deliver
// (it crashed, polling a producer that was gone).
TEST_F(KafkaTest, AStopWhoseProducerFailsAndCannotStartAgainEndsCleanly) {
  PidsGroup group;
  if (!group.made()) PT_SKIP("no-pids-cgroup") << group.why();
#if defined(__SANITIZE_ADDRESS__)
  // proctrail ends with its group still full, and LeakSanitizer's check at exit needs a task of
  // its own: that check is left out for this one run (ASan's other checks stay).
  const char* asan = std::getenv("ASAN_OPTIONS");
  const std::string asan_before = asan ? asan : "";
  setenv("ASAN_OPTIONS", (asan_before + ":detect_leaks=0").c_str(), 1);
  struct Restore {
    std::string value;
    bool had;
    ~Restore() {
      if (had) {
        setenv("ASAN_OPTIONS", value.c_str(), 1);
      } else {
        unsetenv("ASAN_OPTIONS");
      }
    }
  } restore{asan_before, asan != nullptr};
#endif
  Cluster cluster;
  ASSERT_FALSE(cluster.bootstrap().empty()) << "the mock cluster did not start";
  Monitor m({"-f", "json", "--host-fields", "-e", "exec", "--kafka", cluster.bootstrap(),
             "--kafka-topic", kTopic, "--stats"});
  ASSERT_TRUE(m.started()) << m.errors();
  ASSERT_TRUE(group.set("cgroup.procs", std::to_string(m.pid())));
  ASSERT_EQ(system("/bin/true kafka-first"), 0);
  settle(1000);
  EXPECT_EQ(cluster.command("down"), "ok");
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(system(("/bin/true kafka-waiting-" + std::to_string(i)).c_str()), 0);
  }
  settle(500);
  // The stop begins while the brokers are down, and waits; they come back into that wait, and
  // what goes out then fails the producer there (not in the run before the stop).
  ASSERT_TRUE(group.set("pids.max", "1"));
  EXPECT_EQ(cluster.command("produce-error 45"), "ok");
  ASSERT_EQ(kill(m.pid(), SIGINT), 0);
  settle(500);
  EXPECT_EQ(cluster.command("up"), "ok");
  EXPECT_EQ(m.stop(0), 0) << m.errors();  // no second signal: that one hurries the stop
  EXPECT_NE(m.errors().find("proctrail: kafka: the producer failed ("), std::string::npos)
      << m.errors();
  EXPECT_NE(m.errors().find("cannot start a new producer"), std::string::npos) << m.errors();
  EXPECT_NE(m.errors().find("not delivered when proctrail stopped"), std::string::npos)
      << m.errors();
}

// A broker that refuses every message for a reason no try gets past (a policy violation is no
// outage), or for one proctrail has no kind for: each message is tried a few times at most, then
// counted failed and said, not sent again for ever (it was: 9,545 sends of 37 events in 7 s).
TEST_F(KafkaTest, AMessageRefusedForGoodIsCountedFailedNotSentForEver) {
  for (const char* code : {"44", "73"}) {  // POLICY_VIOLATION; TOPIC_DELETION_DISABLED, of no kind
    SCOPED_TRACE(std::string("Kafka error ") + code);
    Cluster cluster;
    ASSERT_FALSE(cluster.bootstrap().empty()) << "the mock cluster did not start";
    EXPECT_EQ(cluster.command(std::string("produce-error ") + code + " 100000"), "ok");
    auto r = run({proctrail_path(), "--kafka", cluster.bootstrap(), "--kafka-topic", kTopic, "-f",
                  "json", "-o", dir_ + "/events-" + code + ".jsonl", "--stats", "--", "sh", "-c",
                  "for i in $(seq 5); do /bin/true refused-$i; sleep 0.2; done"},
                 120000);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find(" lost before) not delivered"), std::string::npos) << r.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(
        r.err, m,
        std::regex(R"(kafka produced (\d+), delivered (\d+), sent again (\d+), failed (\d+))")))
        << r.err;
    const uint64_t delivered = std::stoull(m[2]), again = std::stoull(m[3]),
                   failed = std::stoull(m[4]);
    EXPECT_EQ(delivered, 0u) << r.err;
    EXPECT_GE(failed, 10u) << "5 execs and 5 exits at least, each counted failed: " << r.err;
    if (std::string(code) == "44") {
      EXPECT_EQ(again, 0u) << "refused for good: not sent again: " << r.err;
    } else {
      EXPECT_GE(again, failed) << "of no known kind: tried again: " << r.err;
      // And the one lost record that says so (refused too: no other follows it).
      EXPECT_LE(again, 3 * (failed + 1)) << "each tried a few times, not for ever: " << r.err;
    }
    EXPECT_EQ(cluster.messages().size(), 0u);
  }
}

// Mistakes are said at start, with an exit status, before the command runs.
TEST_F(KafkaTest, MistakesAreClearErrorsAtStart) {
  Cluster cluster;
  ASSERT_FALSE(cluster.bootstrap().empty()) << "the mock cluster did not start";
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string err;
  };
  const std::vector<Case> cases = {
      {{"--kafka", cluster.bootstrap()},
       2,
       "proctrail: error: --kafka needs --kafka-topic TOPIC (see --help)\n"},
      {{"--kafka-topic", "t"},
       2,
       "proctrail: error: --kafka-topic, -X, --kafka-buffer and --kafka-spool go with --kafka "
       "BROKERS (see --help)\n"},
      {{"--kafka", cluster.bootstrap(), "--kafka-topic", kTopic, "-X", "acks"},
       2,
       "proctrail: error: -X: 'acks' is not key=value (e.g. -X acks=all) (see --help)\n"},
      {{"--kafka", cluster.bootstrap(), "--kafka-topic", kTopic, "-X", "no.such.thing=1"},
       1,
       "proctrail: error: -X no.such.thing=1: No such configuration property: "
       "\"no.such.thing\"\n"},
      {{"--kafka", cluster.bootstrap(), "--kafka-topic", kTopic, "--kafka-buffer", "1K"},
       2,
       "proctrail: error: --kafka-buffer wants a size of at least 64K, like 256M, not '1K' (see "
       "--help)\n"},
      {{"--kafka", "127.0.0.1:1", "--kafka-topic", kTopic},
       1,
       "proctrail: error: kafka: no broker at 127.0.0.1:1 answered within 10 s"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {proctrail_path()};
    args.insert(args.end(), c.args.begin(), c.args.end());
    args.insert(args.end(), {"--", "touch", dir_ + "/ran"});
    auto r = run(args, 60000);
    EXPECT_EQ(r.exit_code, c.code) << r.err;
    EXPECT_EQ(r.err.substr(0, c.err.size()), c.err);
    EXPECT_FALSE(std::filesystem::exists(dir_ + "/ran")) << "the command ran";
  }
  // A plain user may not have librdkafka open files (or load libraries, run commands) with the
  // setcap install's capabilities.
  for (const std::string setting :
       {"ssl.ca.location=/etc/shadow", "ssl.providers=/tmp/evil.so",
        "plugin.library.paths=/tmp/x.so", "sasl.kerberos.kinit.cmd=id"}) {
    auto plain =
        run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", proctrail_path(),
             "--kafka", cluster.bootstrap(), "--kafka-topic", kTopic, "-X", setting, "--", "true"});
    EXPECT_EQ(plain.exit_code, 1) << plain.err;
    const std::string key = setting.substr(0, setting.find('='));
    EXPECT_EQ(plain.err.rfind("proctrail: error: -X " + key + ": only root may name a file", 0), 0u)
        << plain.err;
  }
  ASSERT_EQ(cluster.command("missing absent-topic"), "ok");
  auto r = run({proctrail_path(), "--kafka", cluster.bootstrap(), "--kafka-topic", "absent-topic",
                "--", "true"},
               60000);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "proctrail: error: kafka: topic 'absent-topic' does not exist at " +
                       cluster.bootstrap() +
                       " (create it, or let the brokers create topics on first use)\n");
}

}  // namespace
}  // namespace proctrail::e2e
