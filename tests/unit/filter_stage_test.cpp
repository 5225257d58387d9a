// The filter stage against scripted event streams: process trees followed through forks,
// conditions on the process's user, name, command line, exe, cgroup and container, failures,
// threads; and the summary sink's totals.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <filesystem>
#include <fstream>

#include "filter/filter_stage.hpp"
#include "proctrail/format.hpp"
#include "proctrail/sink.hpp"

namespace proctrail {
namespace {

uint64_t g_ts = 1000;

Event at(int32_t pid, int32_t tid, EventData data) {
  Event e;
  e.ts_ns = ++g_ts;
  e.pid = pid;
  e.tid = tid;
  e.data = std::move(data);
  return e;
}

Event fork_of(int32_t parent, int32_t child) {
  return at(parent, parent, ForkData{parent, parent, child, child});
}
Event thread_of(int32_t pid, int32_t tid) {
  return at(pid, pid, ForkData{pid, pid, pid, tid});
}

std::shared_ptr<ExecDetails> image(std::vector<std::string> argv, uint32_t uid = 1000,
                                   std::string cgroup = "/user.slice/user-1000.slice") {
  auto d = std::make_shared<ExecDetails>();
  d->argv_source = ArgvSource::Kernel;
  d->argv = std::move(argv);
  d->comm = std::filesystem::path(std::string(d->argv.front())).filename().string().substr(0, 15);
  d->exe = std::string(d->argv.front());
  d->creds = Credentials{uid, uid, uid, uid};
  d->cgroup = std::move(cgroup);
  return d;
}

Event exec_of(int32_t pid, std::shared_ptr<ExecDetails> d) {
  return at(pid, pid, ExecData{std::move(d)});
}

Event exit_of(int32_t pid, uint32_t status = 0, int32_t tid = 0,
              std::shared_ptr<const ExecDetails> img = nullptr, uint64_t duration = 0) {
  ExitData x;
  x.raw_status = status;
  x.exit_signal = 17;
  x.process_ended = tid == 0 || tid == pid;
  if (*x.process_ended) x.process_status = status;
  auto d = std::make_shared<ExitDetails>();
  d->image = std::move(img);
  if (duration) d->duration_ns = duration;
  x.details = d;
  return at(pid, tid ? tid : pid, std::move(x));
}

// The pids of the events that pass, in order.
std::vector<int32_t> passing(FilterStage& f, const std::vector<Event>& events) {
  std::vector<int32_t> out;
  for (const auto& e : events) {
    if (f.accept(e)) out.push_back(e.pid);
  }
  return out;
}

TEST(FilterStage, FollowsATreeThroughForksAndForgetsItsEnds) {
  // The root is this test process (it has no children now): the start-up read of /proc finds
  // it alone; the rest of the tree comes from scripted events.
  const int32_t kRoot = getpid();
  EventFilter f{};
  f.pids = {kRoot};
  FilterStage stage(f);
  EXPECT_EQ(stage.followed(), 1u);
  std::vector<Event> events = {
      fork_of(kRoot, 500),  // child: in
      fork_of(77, 600),     // unrelated: out
      exec_of(500, image({"/bin/sh", "-c", "x"})),
      fork_of(500, 501),  // grandchild, born later: in
      exec_of(600, image({"/bin/true"})),
      exec_of(501, image({"/bin/true", "MARK"})),
      exit_of(501),
      exit_of(600),
  };
  EXPECT_EQ(passing(stage, events), (std::vector<int32_t>{kRoot, 500, 500, 501, 501}));
  EXPECT_EQ(stage.followed(), 2u) << "the root and 500 live on";
  // 501's pid is reused by a stranger: no longer followed.
  EXPECT_FALSE(stage.accept(exec_of(501, image({"/bin/stranger"}))));
  EXPECT_TRUE(stage.accept(exit_of(500)));
  EXPECT_TRUE(stage.accept(exit_of(kRoot)));
  EXPECT_EQ(stage.followed(), 0u);
}

// Two threads can leave a process together, and the exit that ends it need not be traced
// last: the other thread's exit, after the end, is still the tree's. A stranger's later
// events under the same pid are not.
TEST(FilterStage, AThreadsExitAfterItsProcesssEndStaysInTheTree) {
  const int32_t kRoot = getpid();
  EventFilter f{};
  f.pids = {kRoot};
  FilterStage stage(f);
  auto keyed = [](Event e, ProcessKey key) {
    e.key = key;
    return e;
  };
  const ProcessKey child{500, 0, 111}, stranger{500, 0, 222};
  std::vector<Event> events = {
      keyed(fork_of(kRoot, 500), child), keyed(thread_of(500, 501), child),
      keyed(exit_of(500), child),          // the main thread ends the process
      keyed(exit_of(500, 0, 501), child),  // its other thread's exit, traced after
  };
  EXPECT_EQ(passing(stage, events), (std::vector<int32_t>{kRoot, 500, 500, 500}));
  EXPECT_EQ(stage.followed(), 1u) << "only the root";
  EXPECT_FALSE(stage.accept(keyed(exit_of(500, 0, 502), stranger)))
      << "a stranger's thread under the same pid";
  EXPECT_FALSE(stage.accept(keyed(exit_of(500), child))) << "a second end is not a thread's";
}

TEST(FilterStage, ATreeIncludesDescendantsAlreadyRunning) {
  // The test process's own child, found by the start-up read of /proc.
  pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  EventFilter f{};
  f.pids = {getpid()};
  FilterStage stage(f);
  EXPECT_TRUE(stage.accept(exec_of(child, image({"/bin/x"}))));
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
}

// A loss may have swallowed forks of the tree: after a lost record the stage reads the tree
// from /proc again, and finds the child it was never told about.
TEST(FilterStage, AfterALossTheTreeIsReadAgain) {
  EventFilter f{};
  f.pids = {getpid()};
  FilterStage stage(f);
  pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  EXPECT_FALSE(stage.accept(exec_of(child, image({"/bin/x"})))) << "its fork was never seen";
  Event lost = at(0, 0, LostData{3, "ring buffer full"});
  EXPECT_TRUE(stage.accept(lost));
  EXPECT_TRUE(stage.accept(exec_of(child, image({"/bin/x"}))));
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
}

// A command line of 200,000 bytes against a pattern with .* neither crashes nor hangs.
TEST(FilterStage, ALongCommandLineAgainstARegex) {
  EventFilter f{};
  f.argv_regex = "curl .*example";
  FilterStage stage(f);
  std::vector<std::string> argv = {"/usr/bin/curl"};
  for (int i = 0; i < 20000; ++i) argv.push_back("xxxxxxxxx");
  EXPECT_FALSE(stage.accept(exec_of(60, image(argv))));
  argv.push_back("example.org");
  EXPECT_TRUE(stage.accept(exec_of(61, image(argv))));
}

// The trees and images are kept by the process table's keys: when a followed process's end is
// lost and a stranger gets its pid, the stranger is not followed, nor judged by its program.
TEST(FilterStage, APidReusedAfterALostExitIsAnotherProcess) {
  const int32_t kRoot = getpid();
  EventFilter f{};
  f.pids = {kRoot};
  f.argv_regex = "MARK";
  FilterStage stage(f);
  auto keyed = [](Event e, ProcessKey key, ProcessKey parent) {
    e.key = key;
    e.parent_key = parent;
    return e;
  };
  const ProcessKey root{kRoot, 0, 0};  // its start unknown to these events: matched by pid
  const ProcessKey child{700, 0, 111}, stranger{700, 0, 222}, other_parent{77, 0, 5};
  EXPECT_FALSE(stage.accept(keyed(fork_of(kRoot, 700), child, root)));  // no MARK yet
  EXPECT_TRUE(stage.accept(keyed(exec_of(700, image({"/bin/sh", "MARK"})), {700, 1, 111}, root)));
  EXPECT_EQ(stage.followed(), 2u);
  // 700's exit was lost; pid 700 is born again under 77, and runs a program with MARK too.
  EXPECT_FALSE(stage.accept(keyed(fork_of(77, 700), stranger, other_parent)));
  EXPECT_FALSE(
      stage.accept(keyed(exec_of(700, image({"/bin/x", "MARK"})), {700, 1, 222}, other_parent)))
      << "a stranger with a followed pid is not in the tree";
  // Judged by its own program, not the earlier owner's: an event of the stranger's without
  // MARK in its image stays out even in a stage without trees.
  EventFilter g{};
  g.argv_regex = "MARK";
  FilterStage flat(g);
  EXPECT_TRUE(flat.accept(keyed(exec_of(700, image({"/bin/sh", "MARK"})), {700, 1, 111}, root)));
  EXPECT_FALSE(flat.accept(keyed(fork_of(77, 700), stranger, other_parent)));
  EXPECT_FALSE(flat.accept(keyed(at(700, 700, UidData{0, 0}), stranger, other_parent)))
      << "the stranger has not run the earlier owner's program";
}

TEST(FilterStage, ConditionsOnTheProcessMatchItsExecAndLaterEvents) {
  EventFilter f{};
  f.uid = 33;
  f.argv_regex = "^curl .*example";
  FilterStage stage(f);
  auto curl = image({"/usr/bin/curl", "-s", "https://example.org"}, 33);
  std::vector<Event> events = {
      exec_of(10, curl),                                                   // in
      exec_of(11, image({"/usr/bin/curl", "https://example.org"}, 1000)),  // wrong user
      exec_of(12, image({"/usr/bin/wget", "https://example.org"}, 33)),    // wrong argv...
      fork_of(10, 13),                                                     // inherits curl: in
      exit_of(13),                                                         // in
      exit_of(10, 0, 0, curl),                                             // in
      exit_of(14),                                                         // unknown: out
  };
  // "^curl" is matched on argv joined by spaces: "/usr/bin/curl ..." does not start with it.
  EXPECT_EQ(passing(stage, events), (std::vector<int32_t>{}));
  EventFilter g = f;
  g.argv_regex = "curl .*example";
  FilterStage stage2(g);
  EXPECT_EQ(passing(stage2, events), (std::vector<int32_t>{10, 10, 13, 10}));
}

TEST(FilterStage, CommExeCgroupAndContainer) {
  auto in_box = image({"/usr/sbin/nginx", "-g", "daemon off;"}, 0,
                      "/system.slice/docker-" + std::string(64, 'b') + ".scope");
  in_box->container = Container{"docker", std::string(64, 'b')};
  auto host = image({"/usr/sbin/nginx"}, 0, "/system.slice/nginx.service");
  std::vector<Event> events = {exec_of(20, in_box), exec_of(21, host)};
  auto run = [&](EventFilter f) {
    FilterStage s(f);
    return passing(s, events);
  };
  EventFilter comm;
  comm.comm_regex = "^ngin";
  EXPECT_EQ(run(comm), (std::vector<int32_t>{20, 21}));
  EventFilter exe;
  exe.exe_regex = "sbin/nginx$";
  EXPECT_EQ(run(exe), (std::vector<int32_t>{20, 21}));
  EventFilter cg;
  cg.cgroup_prefix = "/system.slice/nginx";
  EXPECT_EQ(run(cg), (std::vector<int32_t>{21}));
  EventFilter box;
  box.container_prefix = "bbbb";
  EXPECT_EQ(run(box), (std::vector<int32_t>{20}));
  box.container_prefix = "cccc";
  EXPECT_EQ(run(box), (std::vector<int32_t>{}));
}

TEST(FilterStage, FailedKeepsNonZeroEndsAndFailedExecsOnly) {
  EventFilter f{};
  f.failed = true;
  f.types.add(EventType::ExecFailed);
  FilterStage stage(f);
  ExecFailedData nf;
  nf.error = ENOENT;
  nf.filename = "/nonexistent-prog";
  std::vector<Event> events = {
      exec_of(30, image({"/bin/false"})),
      exit_of(30, 1 << 8),      // exit 1: in
      exit_of(31, 0),           // exit 0: out
      exit_of(32, 9),           // SIGKILL: in
      exit_of(33, 1 << 8, 34),  // a thread's end: out
      at(35, 35, nf),           // failed exec: in
  };
  EXPECT_EQ(passing(stage, events), (std::vector<int32_t>{30, 32, 35}));
}

TEST(FilterStage, NoThreadsHidesThreadBirthsAndEnds) {
  EventFilter f{};
  f.threads = false;
  FilterStage stage(f);
  std::vector<Event> events = {thread_of(40, 41), fork_of(40, 42), exit_of(40, 0, 41), exit_of(42)};
  EXPECT_EQ(passing(stage, events), (std::vector<int32_t>{40, 42}));
}

TEST(FilterStage, BadRegularExpressionsAreNamedErrors) {
  EventFilter f{};
  f.comm_regex = "(unclosed";
  auto s = f.validate();
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("filter.comm_regex: '(unclosed' is not a regular expression"),
            std::string::npos)
      << s.error().message;
}

// A sink that keeps what it is given.
class Keep final : public Sink {
 public:
  explicit Keep(std::vector<Event>* out) : out_(out) {}
  Status write(std::span<const Event> events) override {
    out_->insert(out_->end(), events.begin(), events.end());
    return {};
  }

 private:
  std::vector<Event>* out_;
};

TEST(SummarySink, CountsProcessesFailuresCommandsAndDepth) {
  std::vector<Event> got;
  std::atomic<bool> asked{false};
  auto sink = make_summary_sink(std::make_unique<Keep>(&got), &asked, 2);
  auto sh = image({"/bin/sh", "-c", "..."});
  auto sleep = image({"sleep", "0.1"});
  auto tru = image({"/bin/true"});
  std::vector<Event> events = {
      exec_of(50, sh),
      fork_of(50, 51),
      exec_of(51, sleep),
      fork_of(50, 52),
      exec_of(52, tru),
      fork_of(52, 53),
      exec_of(53, tru),  // depth 2
      exit_of(53, 0, 0, tru, 1'000'000),
      exit_of(52, 0, 0, tru, 3'000'000),
      exit_of(51, 1 << 8, 0, sleep, 100'000'000),
      exit_of(50, 7 << 8, 0, sh, 105'000'000),
      thread_of(50, 54),  // not a process
  };
  ASSERT_TRUE(sink->write(events));
  asked = true;
  ASSERT_TRUE(sink->tick());
  EXPECT_FALSE(asked.load());
  ASSERT_TRUE(sink->close());
  ASSERT_EQ(got.size(), events.size() + 2);
  const auto& mid = std::get<SummaryData>(got[events.size()].data);
  EXPECT_FALSE(mid.final);
  const auto& s = std::get<SummaryData>(got.back().data);
  EXPECT_TRUE(s.final);
  EXPECT_EQ(s.processes, 3u);
  EXPECT_EQ(s.execs, 4u);
  EXPECT_EQ(s.exits, 4u);
  EXPECT_EQ(s.failed, 2u);
  EXPECT_EQ(s.max_depth, 2u);
  ASSERT_EQ(s.by_count.size(), 2u);
  EXPECT_EQ(s.by_count[0].name, "true");
  EXPECT_EQ(s.by_count[0].count, 2u);
  ASSERT_EQ(s.by_time.size(), 2u);
  EXPECT_EQ(s.by_time[0].name, "sh");
  EXPECT_EQ(s.by_time[1].name, "sleep");
  ASSERT_EQ(s.slowest.size(), 2u);
  EXPECT_EQ(s.slowest[0].pid, 50);
  EXPECT_EQ(s.slowest[1].pid, 51);
}

// The summary says what the exporters (--kafka) did, as --stats does: asked for each time a
// summary is made, written in the JSON record and the text view, and read back by replay.
TEST(SummarySink, SaysWhatEachExporterDid) {
  std::vector<Event> got;
  std::atomic<bool> asked{false};
  uint64_t delivered = 7;
  auto sink =
      make_summary_sink(std::make_unique<Keep>(&got), &asked, 2, EventMask::all(), false, [&] {
        return std::vector<SummaryData::Exporter>{{"kafka", 12, delivered, 1, 2, 0, 3}};
      });
  asked = true;
  ASSERT_TRUE(sink->tick());
  delivered = 9;  // asked again for the final one
  ASSERT_TRUE(sink->close());
  ASSERT_EQ(got.size(), 2u);
  ASSERT_EQ(std::get<SummaryData>(got[0].data).exporters.size(), 1u);
  EXPECT_EQ(std::get<SummaryData>(got[0].data).exporters[0].delivered, 7u);
  const auto& s = std::get<SummaryData>(got[1].data);
  ASSERT_EQ(s.exporters.size(), 1u);
  EXPECT_EQ(s.exporters[0].name, "kafka");
  EXPECT_EQ(s.exporters[0].delivered, 9u);

  std::string line;
  make_json_formatter()->format(got[1], line);
  EXPECT_NE(line.find(R"("exporters":[{"name":"kafka","produced":12,"delivered":9,)"
                      R"("sent_again":1,"failed":2,"dropped":0,"waiting":3}])"),
            std::string::npos)
      << line;
  std::string text;
  make_formatter(OutputFormat::Text, TextOptions{})->format(got[1], text);
  EXPECT_NE(text.find("kafka: produced 12, delivered 9, sent again 1, failed 2, dropped 0, "
                      "waiting 3"),
            std::string::npos)
      << text;
  // Replay reads it back: the same record again.
  JsonDecoder decoder;
  line.pop_back();
  auto back = decoder.decode(line);
  ASSERT_TRUE(back) << back.error().message;
  std::string again;
  make_json_formatter()->format(*back, again);
  EXPECT_EQ(again, line + "\n");
  // With no exporter, no list: a summary without --kafka is as it was.
  got.clear();
  auto plain = make_summary_sink(std::make_unique<Keep>(&got));
  ASSERT_TRUE(plain->close());
  ASSERT_EQ(got.size(), 1u);
  line.clear();
  make_json_formatter()->format(got[0], line);
  EXPECT_EQ(line.find("exporters"), std::string::npos) << line;
}

}  // namespace
}  // namespace proctrail

namespace proctrail {
namespace {

// The matcher is RE2 with POSIX (grep -E) syntax, on bytes: what makes it linear also refuses
// what only a backtracking matcher can do.
// A stage built without validate() from a pattern that does not compile fails closed.
TEST(FilterStage, APatternThatDoesNotCompileMatchesNothing) {
  EventFilter f{};
  f.argv_regex = "(unclosed";
  FilterStage stage(f);
  EXPECT_FALSE(stage.accept(exec_of(80, image({"/bin/sh", "(unclosed"}))));
  EXPECT_FALSE(stage.accept(exec_of(81, image({"/bin/true"}))));
}

TEST(Pattern, PosixSyntaxOnBytesWithoutBackreferences) {
  auto p = Pattern::compile("filter.argv_regex", "^curl .*example[[:digit:]]$");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE((*p)->search("curl http://example1"));
  EXPECT_FALSE((*p)->search("wget http://example1"));
  auto any = Pattern::compile("filter.argv_regex", "a.b");
  ASSERT_TRUE(any.ok());
  EXPECT_TRUE(
      (*any)->search(std::string("a\xff"
                                 "b")));  // '.' is any byte, UTF-8 or not
  auto backref = Pattern::compile("filter.argv_regex", "(a)\\1");
  ASSERT_FALSE(backref.ok());
  EXPECT_NE(backref.error().message.find("filter.argv_regex: '(a)\\1' is not a regular expression"),
            std::string::npos)
      << backref.error().message;
}

}  // namespace
}  // namespace proctrail

namespace proctrail {
namespace {

// "-e exec,exit" is about programs and how processes end: a thread's end comes with its birth,
// with fork (issue 18). The process's end still shows.
TEST(FilterStage, ThreadEndsShowOnlyWithForks) {
  EventFilter f{};
  f.types = *EventMask::parse("exec,exit");
  FilterStage stage(f);
  Event thread_end;
  thread_end.pid = 10;
  thread_end.tid = 11;
  ExitData x;
  x.process_ended = false;
  thread_end.data = x;
  EXPECT_FALSE(stage.accept(thread_end));
  Event process_end;
  process_end.pid = 10;
  process_end.tid = 10;
  ExitData y;
  y.process_ended = true;
  process_end.data = y;
  EXPECT_TRUE(stage.accept(process_end));
  f.types = *EventMask::parse("fork,exit");
  FilterStage with_forks(f);
  EXPECT_TRUE(with_forks.accept(thread_end));
}

}  // namespace
}  // namespace proctrail
