// Sinks and the filter stage's pieces, without a kernel: exact text out of a stream sink,
// reopen after a rotation, tee, counting, the pull queue, and the subscription derived from a
// filter.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <set>
#include <sys/mman.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "filter/filter_stage.hpp"
#include "filter/subscription.hpp"
#include "sink/routes.hpp"
#include "proctrail/filter.hpp"
#include "proctrail/sink.hpp"
#include "sink/pull_queue.hpp"

namespace proctrail {
namespace {

Event fork_event(uint64_t ts, int32_t child) {
  Event e;
  e.ts_ns = ts;
  e.wall_ns = 1'700'000'000'000'000'000 + static_cast<int64_t>(ts);
  e.cpu = 0;
  e.pid = e.tid = 1;
  e.data = ForkData{1, 1, child, child};
  return e;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string temp_path(const char* tag) {
  return (std::filesystem::temp_directory_path() /
          (std::string("proctrail-sink-") + tag + "-" + std::to_string(getpid())))
      .string();
}

TEST(StreamSink, WritesTheFormattersExactText) {
  int fd = memfd_create("sink", MFD_CLOEXEC);
  auto sink = make_stream_sink(make_formatter(OutputFormat::Seed), fd, true);
  std::vector<Event> batch = {fork_event(1, 10), fork_event(2, 11)};
  ASSERT_TRUE(sink->write(batch).ok());
  ASSERT_TRUE(sink->flush().ok());
  std::string out(static_cast<size_t>(lseek(fd, 0, SEEK_END)), '\0');
  ASSERT_EQ(pread(fd, out.data(), out.size(), 0), static_cast<ssize_t>(out.size()));
  EXPECT_EQ(out,
            "fork: parent tid=1 pid=1 -> child tid=10 pid=10\n"
            "fork: parent tid=1 pid=1 -> child tid=11 pid=11\n");
  EXPECT_TRUE(sink->close().ok());
}

TEST(StreamSink, AClosedPipeClosesTheSinkQuietly) {
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  close(fds[0]);
  signal(SIGPIPE, SIG_IGN);
  auto sink = make_stream_sink(make_formatter(OutputFormat::Seed), fds[1], true);
  std::vector<Event> batch = {fork_event(1, 10)};
  EXPECT_TRUE(sink->write(batch).ok()) << "EPIPE is the reader going away, not an error";
  EXPECT_TRUE(sink->closed());
}

TEST(FileSink, ReopenAfterARotationStartsANewFileAndLosesNothing) {
  const std::string path = temp_path("rotate"), rotated = path + ".1";
  auto sink = open_file_sink(make_formatter(OutputFormat::Seed), path);
  ASSERT_TRUE(sink.ok()) << sink.error().message;
  std::vector<Event> one = {fork_event(1, 10)}, two = {fork_event(2, 11)};
  ASSERT_TRUE((*sink)->write(one).ok());
  ASSERT_EQ(rename(path.c_str(), rotated.c_str()), 0);
  ASSERT_TRUE((*sink)->reopen().ok());
  ASSERT_TRUE((*sink)->write(two).ok());
  ASSERT_TRUE((*sink)->reopen().ok());  // a hang-up without a rotation appends
  ASSERT_TRUE((*sink)->write(one).ok());
  ASSERT_TRUE((*sink)->close().ok());
  EXPECT_EQ(read_all(rotated), "fork: parent tid=1 pid=1 -> child tid=10 pid=10\n");
  EXPECT_EQ(read_all(path),
            "fork: parent tid=1 pid=1 -> child tid=11 pid=11\n"
            "fork: parent tid=1 pid=1 -> child tid=10 pid=10\n");
  unlink(path.c_str());
  unlink(rotated.c_str());
}

TEST(FileSink, AnUnwritablePathIsAClearError) {
  auto sink = open_file_sink(make_formatter(OutputFormat::Json), "/nonexistent-dir/out.jsonl");
  ASSERT_FALSE(sink.ok());
  EXPECT_NE(sink.error().message.find("/nonexistent-dir/out.jsonl"), std::string::npos);
}

TEST(TeeAndCounting, EverySinkGetsTheBatchAndTheCountsAddUp) {
  std::vector<int32_t> a, b;
  SinkCounts counts;
  std::vector<std::unique_ptr<Sink>> parts;
  parts.push_back(make_callback_sink([&](const Event& e) { a.push_back(e.pid); }));
  parts.push_back(make_counting_sink(make_callback_sink([&](const Event& e) {
                                       b.push_back(std::get<ForkData>(e.data).child_pid);
                                     }),
                                     &counts));
  auto tee = make_tee_sink(std::move(parts));
  std::vector<Event> batch = {fork_event(1, 10), fork_event(2, 11)};
  ASSERT_TRUE(tee->write(batch).ok());
  EXPECT_EQ(a, (std::vector<int32_t>{1, 1}));
  EXPECT_EQ(b, (std::vector<int32_t>{10, 11}));
  EXPECT_EQ(counts.events, 2u);
  EXPECT_EQ(counts.by_type[static_cast<size_t>(EventType::Fork)], 2u);
  EXPECT_FALSE(tee->closed());
}

TEST(PullQueue, BeyondItsCapacityEventsBecomeALostRecordNotSilence) {
  PullQueue q(2);
  std::vector<Event> batch = {fork_event(1, 10), fork_event(2, 11), fork_event(3, 12)};
  ASSERT_TRUE(q.write(batch).ok());
  std::vector<Event> out;
  q.take(std::chrono::milliseconds(0), out);
  ASSERT_EQ(out.size(), 3u);
  ASSERT_EQ(out[0].type(), EventType::Lost);
  EXPECT_EQ(std::get<LostData>(out[0].data).count, 1u);
  EXPECT_EQ(std::get<ForkData>(out[1].data).child_pid, 10);
  EXPECT_EQ(q.dropped(), 1u);
  out.clear();
  q.take(std::chrono::milliseconds(0), out);
  EXPECT_TRUE(out.empty());
}

TEST(Filter, StreamRecordsPassAndAcksOnlyWhenAskedFor) {
  EventFilter f;
  f.types = *EventMask::parse("exec");
  Event lost;
  lost.data = LostData{3, "x"};
  Event ack;
  ack.data = AckData{};
  FilterStage stage(f);
  EXPECT_TRUE(stage.accept(lost));
  EXPECT_FALSE(stage.accept(ack));
  EXPECT_FALSE(stage.accept(fork_event(1, 2)));
  f.acks = true;
  FilterStage with_acks(f);
  EXPECT_TRUE(with_acks.accept(ack));
}

// Rotation by size: each file stays under the size, records are whole, the newest is the
// plain name and the oldest beyond --rotate-keep is gone; nothing else is lost.
TEST(FileSink, RotatesBySizeKeepingWholeRecords) {
  const std::string path = temp_path("rotate");
  for (int i = 0; i <= 3; ++i) {
    std::filesystem::remove(i ? path + "." + std::to_string(i) : path);
  }
  auto sink =
      open_file_sink(make_formatter(OutputFormat::Json), path, false, FileRotation{4096, 2});
  ASSERT_TRUE(sink) << sink.error().message;
  std::vector<Event> events;
  for (int i = 0; i < 100; ++i) events.push_back(fork_event(1000 + i, 5000 + i));
  for (const auto& e : events) ASSERT_TRUE((*sink)->write(std::span<const Event>(&e, 1)));
  ASSERT_TRUE((*sink)->close());
  std::vector<std::string> files = {path + ".2", path + ".1", path};
  std::vector<long> children;
  for (const auto& f : files) {
    ASSERT_TRUE(std::filesystem::exists(f)) << f;
    EXPECT_LE(std::filesystem::file_size(f), 4096u) << f;
    std::istringstream in(read_all(f));
    for (std::string line; std::getline(in, line);) {
      auto j = nlohmann::json::parse(line);  // whole lines only: throws on a torn record
      children.push_back(j["pid"].get<long>());
    }
  }
  ASSERT_FALSE(children.empty());
  // The newest records are all there, in order, up to the last one written.
  for (size_t i = 1; i < children.size(); ++i) EXPECT_EQ(children[i], children[i - 1] + 1);
  EXPECT_EQ(children.back(), 5099);
  EXPECT_LT(children.size(), 100u) << "only two old files are kept: the oldest records are gone";
  // A restart appends to the newest file without a second header (JSON has none; the text
  // format's would show): reopening it with rotation adds nothing before the next record.
  const auto size_before = std::filesystem::file_size(path);
  auto again =
      open_file_sink(make_formatter(OutputFormat::Text), path, true, FileRotation{1 << 20, 2});
  ASSERT_TRUE(again);
  ASSERT_TRUE((*again)->close());
  EXPECT_EQ(std::filesystem::file_size(path), size_before);
  for (const auto& f : files) std::filesystem::remove(f);
}

TEST(Subscription, TheTableGetsTheLifecycleWhateverTheFilterShows) {
  MonitorOptions o;
  o.filter.types = *EventMask::parse("uid");
  auto nl = derive_subscription(o, Backend::Netlink);
  EXPECT_TRUE(nl.table);
  EXPECT_TRUE(nl.read_proc);
  for (EventType t : {EventType::Uid, EventType::Fork, EventType::Exec, EventType::Exit}) {
    EXPECT_TRUE(nl.kernel_events.has(t)) << event_type_name(t);
  }
  // eBPF: the kernel gives argv, so uid events alone need no table and no /proc.
  auto bpf = derive_subscription(o, Backend::Bpf);
  EXPECT_FALSE(bpf.table);
  EXPECT_FALSE(bpf.read_proc);
  EXPECT_FALSE(bpf.kernel_events.has(EventType::Exec));
  o.filter.types = *EventMask::parse("exec");
  o.ancestry = true;
  EXPECT_TRUE(derive_subscription(o, Backend::Bpf).table) << "ancestry comes from the table";
  o.enrich = false;
  auto raw = derive_subscription(o, Backend::Netlink);
  EXPECT_FALSE(raw.table);
  EXPECT_FALSE(raw.kernel_events.has(EventType::Fork)) << "the seed format asks for what it shows";
}

}  // namespace
}  // namespace proctrail

namespace proctrail {
namespace {

// A sink that fails its first `failures` writes, then takes everything.
class Flaky final : public Sink {
 public:
  explicit Flaky(int failures, std::vector<Event>* got) : left_(failures), got_(got) {}
  Status write(std::span<const Event> events) override {
    if (left_ > 0) {
      --left_;
      return make_error("write flaky: No space left on device");
    }
    got_->insert(got_->end(), events.begin(), events.end());
    return {};
  }

 private:
  int left_;
  std::vector<Event>* got_;
};

// Takes events one by one, as the journal and syslog sinks send them, and fails at the
// events whose number (from 1, over all writes) is listed: what came before in that write
// went through.
class FailsAt final : public Sink {
 public:
  FailsAt(std::set<int> at, std::vector<Event>* got) : at_(std::move(at)), got_(got) {}
  Status write(std::span<const Event> events) override {
    for (const Event& e : events) {
      if (at_.count(++n_)) return make_error("send: Connection refused");
      got_->push_back(e);
    }
    return {};
  }

 private:
  std::set<int> at_;
  std::vector<Event>* got_;
  int n_ = 0;
};

Event an_exec(int32_t pid, const char* cmd) {
  auto d = std::make_shared<ExecDetails>();
  d->argv_source = ArgvSource::Kernel;
  d->argv = {cmd};
  d->comm = cmd;
  Event e;
  e.pid = pid;
  e.tid = pid;
  e.ts_ns = static_cast<uint64_t>(pid);
  e.data = ExecData{d};
  return e;
}

// Each sink has its own filter, and a degrading sink's failure is counted, not fatal: when it
// takes events again, a lost record in its own stream says how many it missed and why.
TEST(SinkRoutes, OwnFiltersAndADegradingSinkCountsWhatItMissed) {
  std::vector<Event> all, some;
  std::vector<SinkRoutes::Route> routes(2);
  routes[0].name = "everything";
  routes[0].filter = std::make_unique<FilterStage>(EventFilter{});
  routes[0].sink = std::make_unique<Flaky>(2, &all);
  routes[0].policy = FailurePolicy::Degrade;
  EventFilter only_true;
  only_true.comm_regex = "^true$";
  routes[1].name = "terminal";
  routes[1].filter = std::make_unique<FilterStage>(only_true);
  routes[1].sink = std::make_unique<Flaky>(0, &some);
  SinkRoutes sinks(std::move(routes));
  std::vector<Event> batch1 = {an_exec(10, "true"), an_exec(11, "echo")};
  std::vector<Event> batch2 = {an_exec(12, "ls")};
  std::vector<Event> batch3 = {an_exec(13, "true")};
  EXPECT_TRUE(sinks.write(batch1));  // the degrading sink fails: not an error for the monitor
  EXPECT_TRUE(sinks.write(batch2));
  EXPECT_TRUE(sinks.write(batch3));
  ASSERT_EQ(some.size(), 2u) << "the terminal's filter: the two execs of true";
  ASSERT_EQ(all.size(), 2u) << "a lost record, then the exec it took";
  const auto& lost = std::get<LostData>(all[0].data);
  EXPECT_EQ(lost.count, 3u);
  EXPECT_NE(lost.reason.find("everything could not take them: write flaky: No space left"),
            std::string::npos)
      << lost.reason;
  auto stats = sinks.stats();
  EXPECT_EQ(stats[0].failed, 3u);
  EXPECT_EQ(stats[0].failures, 1u);
  EXPECT_EQ(stats[0].written, 1u);
  EXPECT_EQ(stats[1].written, 2u);

  // A fatal sink's error is the monitor's.
  std::vector<SinkRoutes::Route> fatal(1);
  fatal[0].name = "stdout";
  fatal[0].filter = std::make_unique<FilterStage>(EventFilter{});
  fatal[0].sink = std::make_unique<Flaky>(1, &all);
  SinkRoutes stop(std::move(fatal));
  EXPECT_FALSE(stop.write(batch1));
}

// One degrading sink that takes everything.
SinkRoutes one_degrading(const char* name, std::unique_ptr<Sink> sink) {
  std::vector<SinkRoutes::Route> routes(1);
  routes[0].name = name;
  routes[0].filter = std::make_unique<FilterStage>(EventFilter{});
  routes[0].sink = std::move(sink);
  routes[0].policy = FailurePolicy::Degrade;
  return SinkRoutes(std::move(routes));
}

// What a sink got: the execs, and the sum of the counts its lost records said.
struct Got {
  int execs = 0;
  uint64_t said_lost = 0;
};
Got tally(const std::vector<Event>& got) {
  Got t;
  for (const auto& e : got) {
    if (const auto* l = std::get_if<LostData>(&e.data)) t.said_lost += l->count.value_or(0);
    if (e.type() == EventType::Exec) ++t.execs;
  }
  return t;
}

// A lost record that went through is not counted again when the events after it fail: the
// lost counts in the sink's stream add up to exactly the events it missed.
TEST(SinkRoutes, ACountOnceSaidIsNotSaidAgain) {
  std::vector<Event> got;
  SinkRoutes sinks = one_degrading("syslog", std::make_unique<FailsAt>(std::set<int>{1, 3}, &got));
  std::vector<Event> batch1 = {an_exec(10, "a"), an_exec(11, "b")};
  std::vector<Event> batch2 = {an_exec(12, "c")};
  std::vector<Event> batch3 = {an_exec(13, "d")};
  EXPECT_TRUE(sinks.write(batch1));  // the first event fails: 2 missed
  EXPECT_TRUE(sinks.write(batch2));  // "2 lost" goes through, then c fails: 1 missed
  EXPECT_TRUE(sinks.write(batch3));  // "1 lost", then d
  const Got t = tally(got);
  EXPECT_EQ(t.execs, 1) << "only d got through";
  EXPECT_EQ(t.said_lost, 3u) << "a, b and c, each counted once";
  EXPECT_EQ(sinks.stats()[0].failed, 3u);
}

// Commits every second write, a write with a lost record at once, and at a tick, as the record
// does by time: what a failed commit loses is everything since the last one, events that
// earlier writes were told were taken too.
class CommitsEverySecondWrite final : public Sink {
 public:
  CommitsEverySecondWrite(std::set<int> failing, std::vector<Event>* got)
      : failing_(std::move(failing)), got_(got) {}
  Status write(std::span<const Event> events) override {
    const size_t earlier = pending_.size();
    pending_.insert(pending_.end(), events.begin(), events.end());
    const bool says_lost = std::any_of(events.begin(), events.end(),
                                       [](const Event& e) { return e.type() == EventType::Lost; });
    if (++writes_ % 2 != 0 && !says_lost) return {};
    return commit(earlier);
  }
  Status tick() override { return pending_.empty() ? Status{} : commit(pending_.size()); }
  Status flush() override { return tick(); }
  uint64_t take_lost_earlier() override { return std::exchange(lost_earlier_, 0); }

 private:
  Status commit(size_t earlier) {
    if (failing_.count(++commits_)) {
      lost_earlier_ += earlier;
      pending_.clear();
      return make_error("COMMIT: database or disk is full");
    }
    got_->insert(got_->end(), pending_.begin(), pending_.end());
    pending_.clear();
    return {};
  }
  std::set<int> failing_;
  std::vector<Event>* got_;
  std::vector<Event> pending_;
  int writes_ = 0, commits_ = 0;
  uint64_t lost_earlier_ = 0;
};

// A failed commit that takes earlier writes with it counts them too: the lost records in the
// sink's stream and its stats add up to exactly what it missed, in a write or at a tick.
TEST(SinkRoutes, AFailedCommitCountsTheEarlierWritesItTookWithIt) {
  std::vector<Event> got;
  SinkRoutes sinks =
      one_degrading("record", std::make_unique<CommitsEverySecondWrite>(std::set<int>{1, 4}, &got));
  std::vector<Event> b1 = {an_exec(10, "a"), an_exec(11, "b")};
  std::vector<Event> b2 = {an_exec(12, "c")};
  std::vector<Event> b3 = {an_exec(13, "d")};
  std::vector<Event> b4 = {an_exec(14, "e")};
  EXPECT_TRUE(sinks.write(b1));  // held
  EXPECT_TRUE(sinks.write(b2));  // commit 1 fails: a, b and c are gone
  EXPECT_TRUE(sinks.write(b3));  // "3 lost" (commit 2), then d (commit 3)
  EXPECT_TRUE(sinks.write(b4));  // e is held
  EXPECT_TRUE(sinks.tick());     // commit 4 fails: e is gone
  EXPECT_TRUE(sinks.close());    // "1 lost", said at the end (commit 5)
  const Got t = tally(got);
  EXPECT_EQ(t.execs, 1) << "only d got through";
  EXPECT_EQ(t.said_lost, 4u) << "a, b, c and e, each counted once";
  const auto stats = sinks.stats();
  EXPECT_EQ(stats[0].failed, 4u);
  EXPECT_EQ(stats[0].written, 1u) << "what a failed commit took is no longer counted written";
  EXPECT_EQ(stats[0].failures, 2u);
}

// A sink that keeps a history and remembers what it was asked beside write().
class Spy final : public Sink {
 public:
  explicit Spy(bool history) : history_(history) {}
  Status write(std::span<const Event>) override { return {}; }
  Status running(std::span<const Event> processes) override {
    running_ += processes.size();
    return {};
  }
  [[nodiscard]] bool keeps_history() const override { return history_; }
  uint64_t take_lost_earlier() override { return std::exchange(lost_earlier, 0); }
  void cancel() override { cancelled = true; }
  size_t running_ = 0;
  uint64_t lost_earlier = 0;
  bool cancelled = false;

 private:
  bool history_;
};

// The library's wrappers pass the whole interface on: a history sink wrapped in one still gets
// the snapshot of what was running, a failed commit inside one is still counted in full, and a
// stop still reaches it.
TEST(Wrappers, PassTheWholeSinkInterfaceOn) {
  SinkCounts counts;
  std::atomic<bool> asked{false};
  using Wrap = std::function<std::unique_ptr<Sink>(std::unique_ptr<Sink>)>;
  const std::pair<const char*, Wrap> wrappers[] = {
      {"counting",
       [&](std::unique_ptr<Sink> s) { return make_counting_sink(std::move(s), &counts); }},
      {"rate limit",
       [](std::unique_ptr<Sink> s) {
         return make_user_rate_limit_sink(std::move(s), {100, 400});
       }},
      {"summary", [&](std::unique_ptr<Sink> s) { return make_summary_sink(std::move(s), &asked); }},
      {"tee",
       [](std::unique_ptr<Sink> s) {
         std::vector<std::unique_ptr<Sink>> parts;
         parts.push_back(std::move(s));
         return make_tee_sink(std::move(parts));
       }},
  };
  const std::vector<Event> running = {fork_event(1, 10), fork_event(2, 11)};
  for (const auto& [name, wrap] : wrappers) {
    SCOPED_TRACE(name);
    auto spy = std::make_unique<Spy>(true);
    Spy* inner = spy.get();
    auto outer = wrap(std::move(spy));
    EXPECT_TRUE(outer->keeps_history());
    ASSERT_TRUE(outer->running(running).ok());
    EXPECT_EQ(inner->running_, 2u);
    inner->lost_earlier = 7;
    EXPECT_EQ(outer->take_lost_earlier(), 7u);
    EXPECT_EQ(outer->take_lost_earlier(), 0u);
    outer->cancel();
    EXPECT_TRUE(inner->cancelled);
    EXPECT_FALSE(wrap(std::make_unique<Spy>(false))->keeps_history()) << "a stream stays one";
  }
}

// A tee keeps a history when one of its parts does, gives the snapshot to those parts alone,
// and its failure lost the most that one of its parts lost: they took the same writes.
TEST(Wrappers, ATeeAsksItsPartsAndLostTheLongestTail) {
  auto keeper = std::make_unique<Spy>(true), stream = std::make_unique<Spy>(false);
  Spy *k = keeper.get(), *s = stream.get();
  std::vector<std::unique_ptr<Sink>> parts;
  parts.push_back(std::move(stream));
  parts.push_back(std::move(keeper));
  auto tee = make_tee_sink(std::move(parts));
  EXPECT_TRUE(tee->keeps_history());
  ASSERT_TRUE(tee->running(std::vector<Event>{fork_event(1, 10)}).ok());
  EXPECT_EQ(k->running_, 1u);
  EXPECT_EQ(s->running_, 0u) << "a stream is not given processes that did not just start";
  k->lost_earlier = 3;
  s->lost_earlier = 4;
  EXPECT_EQ(tee->take_lost_earlier(), 4u) << "the same 4 events, not 3 + 4";
  EXPECT_EQ(tee->take_lost_earlier(), 0u) << "each part's count was taken";

  std::vector<std::unique_ptr<Sink>> streams;
  streams.push_back(std::make_unique<Spy>(false));
  EXPECT_FALSE(make_tee_sink(std::move(streams))->keeps_history());
}

// The TCP side of a syslog daemon, on loopback, for the syslog sink's tests.
class TcpDaemon {
 public:
  // rcvbuf > 0: a receive window that small (the kernel doubles it).
  explicit TcpDaemon(int rcvbuf = 0) : rcvbuf_(rcvbuf) { listen_again(); }
  ~TcpDaemon() { stop_listening(); }
  TcpDaemon(const TcpDaemon&) = delete;
  TcpDaemon& operator=(const TcpDaemon&) = delete;

  // Gone: a connection to its port is refused. listen_again() takes the same port.
  void stop_listening() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void listen_again() {
    stop_listening();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    (void)setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (rcvbuf_ > 0) (void)setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf_, sizeof rcvbuf_);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port_));
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(fd_, 4) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      port_ = ntohs(a.sin_port);
    }
  }

  // A syslog sink connected to it (the connection still to be accepted).
  [[nodiscard]] Result<std::unique_ptr<Sink>> open_sink() const {
    auto address = parse_syslog_address("tcp:127.0.0.1:" + std::to_string(port_));
    if (!address) return address.error();
    return open_syslog_sink(*address, 1, Schema::Proctrail);
  }
  // The next connection, waited for up to 5 s; -1 if none came.
  [[nodiscard]] int accept() const {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) return -1;
    return ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
  }

 private:
  int rcvbuf_;
  int fd_ = -1;
  int port_ = 0;
};

// The whole octet-counted frames in what a TcpDaemon got: the execs, the counts of the lost
// records, and the messages as text.
struct SyslogFrames {
  int execs = 0;
  uint64_t said_lost = 0;
  std::string text;
  [[nodiscard]] bool saw(const char* word) const { return text.find(word) != std::string::npos; }
};
SyslogFrames syslog_frames(const std::string& bytes) {
  SyslogFrames f;
  size_t at = 0;
  for (;;) {
    const size_t space = bytes.find(' ', at);
    if (space == std::string::npos) break;
    const size_t n = std::stoul(bytes.substr(at, space - at));
    if (space + 1 + n > bytes.size()) break;  // cut (by a window): not delivered
    const std::string m = bytes.substr(space + 1, n);
    f.text += m + "\n";
    if (m.find(" type=\"exec\"") != std::string::npos) ++f.execs;
    if (const size_t c = m.find(" count=\""); m.find(" type=\"lost\"") != std::string::npos) {
      f.said_lost += std::stoull(m.substr(c + 8));
    }
    at = space + 1 + n;
  }
  return f;
}

// What connection `fd` brings until `word` is in a whole frame (or 10 s pass, or it ends).
std::string read_until(int fd, const char* word) {
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!syslog_frames(got).saw(word) && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) != 1) continue;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

// The frames of the daemon's next connection, read until `word` is in one; none if the sink
// did not connect within 5 s.
std::optional<SyslogFrames> next_connection(const TcpDaemon& daemon, const char* word) {
  const int fd = daemon.accept();
  if (fd < 0) return std::nullopt;
  SyslogFrames f = syslog_frames(read_until(fd, word));
  ::close(fd);
  return f;
}

// A syslog sink to `daemon` (with a small window), behind a degrading route, sends `sent` execs
// of which the window takes only a few, and the daemon resets the connection. Returns how many
// the window held, whole (delivered: acknowledged), via `delivered`.
void send_into_a_window_and_reset(TcpDaemon& daemon, std::optional<SinkRoutes>& sinks, int sent,
                                  int& delivered) {
  auto sink = daemon.open_sink();
  ASSERT_TRUE(sink) << sink.error().message;
  const int first = daemon.accept();
  ASSERT_GE(first, 0);
  std::vector<SinkRoutes::Route> routes(1);
  routes[0].name = "syslog";
  routes[0].filter = std::make_unique<FilterStage>(EventFilter{});
  routes[0].sink = std::move(*sink);
  routes[0].policy = FailurePolicy::Degrade;
  sinks.emplace(std::move(routes));
  std::vector<Event> batch;
  const std::string padding(100, 'p');  // about 300 bytes a message: the window holds a few
  for (int i = 0; i < sent; ++i) batch.push_back(an_exec(100 + i, ("sent-" + padding).c_str()));
  ASSERT_TRUE(sinks->write(batch));
  // The daemon reads nothing: once what its window holds stops growing, that part is delivered
  // (acknowledged); the rest waits in the sink's socket.
  int held = -1;
  for (int stable = 0, i = 0; stable < 3 && i < 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    int n = 0;
    ASSERT_EQ(ioctl(first, FIONREAD, &n), 0);
    stable = n == held ? stable + 1 : 0;
    held = n;
  }
  ASSERT_GT(held, 0);
  std::string window(static_cast<size_t>(held), '\0');
  ASSERT_EQ(::recv(first, window.data(), window.size(), MSG_PEEK), held);
  delivered = syslog_frames(window).execs;
  ASSERT_LT(delivered, sent) << "the window was meant to hold only part of the batch";
  const linger reset{1, 0};
  ASSERT_EQ(setsockopt(first, SOL_SOCKET, SO_LINGER, &reset, sizeof reset), 0);
  ::close(first);
}

// A TCP syslog daemon that goes away takes with it what the sink had sent and it never
// acknowledged. Those messages are counted: the next connection's lost record says how many.
// Here the daemon's small window holds part of a batch, the rest waits in the sink's socket, and
// the daemon resets the connection; the next batch finds it gone and goes on a new one. (What a
// daemon acknowledged and never read, plain TCP syslog cannot know: here nothing is read, and
// the window's part is taken as delivered.)
TEST(SyslogSink, WhatADaemonThatWentNeverAcknowledgedIsCounted) {
  constexpr int kSent = 30;
  TcpDaemon daemon(2048);  // the least the kernel allows, about 4 KiB with its doubling
  std::optional<SinkRoutes> sinks;
  int delivered = -1;
  send_into_a_window_and_reset(daemon, sinks, kSent, delivered);
  if (HasFatalFailure()) return;
  // Past the sink's once-a-second reconnection: one event, the output's tick, and another.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  std::vector<Event> after1 = {an_exec(1, "after-one")}, after2 = {an_exec(2, "after-two")};
  EXPECT_TRUE(sinks->write(after1));
  EXPECT_TRUE(sinks->tick());
  EXPECT_TRUE(sinks->write(after2));
  const auto got = next_connection(daemon, "after-two");
  ASSERT_TRUE(got) << "the sink did not connect again";
  const SyslogFrames& later = *got;
  ASSERT_TRUE(later.saw("after-two")) << later.text;
  // Every event is delivered or counted, and only what never arrived is counted.
  EXPECT_EQ(later.said_lost + static_cast<uint64_t>(later.execs),
            static_cast<uint64_t>(kSent - delivered + 2))
      << "delivered in the window: " << delivered << "; then:\n"
      << later.text;
  EXPECT_EQ(later.said_lost,
            static_cast<uint64_t>(kSent - delivered) + (later.saw("after-one") ? 0 : 1))
      << later.text;
}

// The same reset found by the output's tick, between batches, with the daemon not back yet: the
// next batch fails, and the count the tick found is not lost with it (it was taken for the
// failed batch's own, and dropped).
TEST(SyslogSink, WhatATickFindsADeadConnectionLostIsCountedToo) {
  constexpr int kSent = 30;
  TcpDaemon daemon(2048);
  std::optional<SinkRoutes> sinks;
  int delivered = -1;
  send_into_a_window_and_reset(daemon, sinks, kSent, delivered);
  if (HasFatalFailure()) return;
  daemon.stop_listening();
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // the reset in, a try allowed
  (void)sinks->tick();  // finds it (an error for the route to count, not for the monitor)
  std::vector<Event> gone = {an_exec(1, "while-gone")}, back = {an_exec(2, "back")};
  EXPECT_TRUE(sinks->write(gone));  // refused: counted by the route
  daemon.listen_again();
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_TRUE(sinks->write(back));
  const auto got = next_connection(daemon, "back");
  ASSERT_TRUE(got) << "the sink did not connect again";
  const SyslogFrames& later = *got;
  ASSERT_TRUE(later.saw("back")) << later.text;
  EXPECT_FALSE(later.saw("while-gone")) << later.text;
  EXPECT_EQ(later.said_lost, static_cast<uint64_t>(kSent - delivered + 1))
      << "delivered in the window: " << delivered << "; then:\n"
      << later.text;
}

// A connection the daemon closed (its end, in order) is found before the next batch, which goes
// on a new connection to the daemon that is there again, not into the dead one to be lost.
TEST(SyslogSink, AConnectionTheDaemonClosedIsNotWrittenInto) {
  TcpDaemon daemon;
  auto sink = daemon.open_sink();
  ASSERT_TRUE(sink) << sink.error().message;
  const int first = daemon.accept();
  ASSERT_GE(first, 0);
  SinkRoutes sinks = one_degrading("syslog", std::move(*sink));
  std::vector<Event> one = {an_exec(1, "one")}, two = {an_exec(2, "two")};
  ASSERT_TRUE(sinks.write(one));
  ASSERT_TRUE(syslog_frames(read_until(first, "one")).saw("one"));
  ::close(first);                                                // all read: an orderly end
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // past the reconnection's pace
  EXPECT_TRUE(sinks.write(two));
  const auto got = next_connection(daemon, "two");
  ASSERT_TRUE(got) << "the sink wrote into the closed connection instead of a new one";
  EXPECT_TRUE(got->saw("two")) << got->text;
  EXPECT_EQ(got->said_lost, 0u) << got->text;
}

}  // namespace
}  // namespace proctrail
