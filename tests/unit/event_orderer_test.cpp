// Ordering and the exec verifier, with reads and images chosen by hand.
#include <gtest/gtest.h>

#include "pipeline/event_orderer.hpp"

namespace proctrail {
namespace {

constexpr uint64_t kMs = 1'000'000;

Event fork_at(uint64_t ts, int32_t child) {
  Event e;
  e.ts_ns = ts;
  e.pid = 1;
  e.tid = 1;
  e.data = ForkData{1, 1, child, child};
  return e;
}

// An exec of pid at ts whose /proc read ran [ts+1ms, read_end] and saw image `image`
// (0: the image could not be read).
Event exec_at(uint64_t ts, int32_t pid, uint64_t read_end, uint64_t image,
              std::string arg = "argv") {
  auto d = std::make_shared<ExecDetails>();
  d->argv_source = ArgvSource::Procfs;
  d->argv = {std::move(arg)};
  d->exe = "/bin/x";
  d->set_source(Field::Exe, FieldSource::Procfs);
  d->cwd = "/";
  d->set_source(Field::Cwd, FieldSource::Procfs);
  ProcfsRead r;
  r.start_ns = ts + kMs;
  r.end_ns = read_end;
  if (image) r.image = ImageIdentity{image, image + 10, image + 10, image + 20};
  d->procfs_read = r;
  Event e;
  e.ts_ns = ts;
  e.pid = pid;
  e.tid = pid;
  e.data = ExecData{d};
  return e;
}

const ExecDetails& details(const Event& e) {
  return *std::get<ExecData>(e.data).details;
}

// The end of a process, as the process table marks it.
Event end_at(uint64_t ts, int32_t pid, std::shared_ptr<const ExecDetails> image = nullptr) {
  ExitData x;
  x.exit_signal = 17;
  x.process_ended = true;
  auto d = std::make_shared<ExitDetails>();
  d->image = std::move(image);
  x.details = d;
  Event e;
  e.ts_ns = ts;
  e.pid = pid;
  e.tid = pid;
  e.data = std::move(x);
  return e;
}

// Issue 11, bug 3: short-lived processes taking turns on one pid, each exec read at once. Every
// read is its own process's; none may be called "exec'd again" (no process here execs twice).
TEST(Orderer, ExecsOfOtherProcessesOnAReusedPidDoNotWithdrawARead) {
  EventOrderer o;
  constexpr int kProcesses = 300;  // a chain far deeper than any recursion limit
  for (int i = 0; i < kProcesses; ++i) {
    const uint64_t t = 1000 * kMs + static_cast<uint64_t>(i) * 3 * kMs;
    o.push(fork_at(t, 7));
    Event x = exec_at(t + kMs, 7, t + kMs + 100'000, 0x1000 * (i + 1), "p" + std::to_string(i));
    std::get<ExecData>(x.data).details->procfs_read->start_ns = t + kMs + 10'000;
    o.push(std::move(x));
    o.push(end_at(t + 2 * kMs, 7));
  }
  std::vector<Event> out;
  o.advance(5000 * kMs, out);
  int execs = 0;
  for (const Event& e : out) {
    if (e.type() != EventType::Exec) continue;
    EXPECT_EQ(details(e).argv_source, ArgvSource::Procfs) << details(e).note;
    EXPECT_EQ(details(e).argv, std::vector<std::string>{"p" + std::to_string(execs)});
    ++execs;
  }
  EXPECT_EQ(execs, kProcesses);
  EXPECT_EQ(o.superseded(), 0u);
}

TEST(Orderer, AReadThatMaySeeTheNextProcessOnThePidIsWithdrawnWithTheTrueReason) {
  EventOrderer o;
  // The process exec'd at 100 ms and exited at 101 ms; its read only began at 105 ms, after
  // pid 7 went to a new process (fork at 103 ms).
  Event x = exec_at(100 * kMs, 7, 106 * kMs, 0xA000, "not-mine");
  std::get<ExecData>(x.data).details->procfs_read->start_ns = 105 * kMs;
  o.push(std::move(x));
  o.push(end_at(101 * kMs, 7));
  o.push(fork_at(103 * kMs, 7));
  o.push(exec_at(104 * kMs, 7, 104 * kMs + 100'000, 0xB000, "next"));
  std::vector<Event> out;
  o.advance(300 * kMs, out);
  ASSERT_EQ(out.size(), 4u);
  const ExecDetails& first = details(out[0]);
  EXPECT_EQ(first.argv_source, ArgvSource::Unavailable);
  EXPECT_FALSE(first.cwd.has_value()) << "nothing read from /proc is the process's own";
  EXPECT_NE(first.note.find("pid was reused"), std::string::npos) << first.note;
  EXPECT_EQ(details(out[3]).argv, std::vector<std::string>{"next"});
}

TEST(Orderer, AReadDoneWhileTheProcessLivedIsKeptThoughThePidIsReusedLater) {
  EventOrderer o;
  o.push(exec_at(100 * kMs, 7, 101 * kMs, 0xA000, "mine"));
  o.push(end_at(102 * kMs, 7));
  o.push(fork_at(103 * kMs, 7));
  std::vector<Event> out;
  o.advance(300 * kMs, out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(details(out[0]).argv, std::vector<std::string>{"mine"});
}

// Issue 11, bug 3: the exit record shows the exec's argv only when the exec's read was kept.
TEST(Orderer, TheExitShowsTheArgvOnlyWhenTheExecKeptIt) {
  EventOrderer o;
  Event first = exec_at(100 * kMs, 7, 103 * kMs, 0xB000, "wrong");
  auto image = std::get<ExecData>(first.data).details;
  o.push(std::move(first));
  o.push(exec_at(102 * kMs, 7, 104 * kMs, 0xB000, "second"));  // the first read saw this
  o.push(end_at(101 * kMs, 8, image));  // a child forked from the first image, exiting
  std::vector<Event> out;
  o.advance(300 * kMs, out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(details(out[0]).argv_source, ArgvSource::Unavailable);
  const auto& x = std::get<ExitData>(out[1].data);
  EXPECT_TRUE(x.details->argv().empty()) << "the exit repeats an argv the exec withdrew";
}

TEST(Orderer, ReleasesInTimestampOrderUpToTheWatermark) {
  EventOrderer o;
  o.push(fork_at(30, 3));
  o.push(fork_at(10, 1));
  o.push(fork_at(20, 2));
  std::vector<Event> out;
  o.advance(25, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].ts_ns, 10u);
  EXPECT_EQ(out[1].ts_ns, 20u);
  o.advance(30, out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2].ts_ns, 30u);
}

TEST(Orderer, EqualTimestampsKeepArrivalOrder) {
  EventOrderer o;
  o.push(fork_at(10, 1));
  o.push(fork_at(10, 2));
  std::vector<Event> out;
  o.advance(10, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(std::get<ForkData>(out[0].data).child_pid, 1);
}

TEST(Orderer, ExecIsHeldUntilItsGuardHasPassed) {
  EventOrderer o;  // 20 ms guard
  o.push(exec_at(100 * kMs, 7, 102 * kMs, 0x1000));
  o.push(fork_at(110 * kMs, 9));
  std::vector<Event> out;
  o.advance(115 * kMs, out);
  EXPECT_TRUE(out.empty());  // the exec blocks what follows it, to keep order
  o.advance(122 * kMs, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(details(out[0]).argv_source, ArgvSource::Procfs);
  EXPECT_EQ(o.superseded(), 0u);
}

TEST(Orderer, ReadThatSawTheNextExecsImageIsWithdrawn) {
  EventOrderer o;
  // exec 1 at 100 ms; its read ended at 103 ms and saw image B, the same as exec 2's read.
  o.push(exec_at(100 * kMs, 7, 103 * kMs, 0xB000, "wrong"));
  o.push(exec_at(102 * kMs, 7, 104 * kMs, 0xB000, "second"));
  std::vector<Event> out;
  o.advance(200 * kMs, out);
  ASSERT_EQ(out.size(), 2u);
  const ExecDetails& first = details(out[0]);
  EXPECT_EQ(first.argv_source, ArgvSource::Unavailable);
  EXPECT_TRUE(first.argv.empty());
  EXPECT_FALSE(first.exe.has_value());
  EXPECT_EQ(first.cwd, "/");  // not tied to the program image: kept
  EXPECT_NE(first.note.find("exec'd again"), std::string::npos);
  EXPECT_EQ(details(out[1]).argv, std::vector<std::string>{"second"});
  EXPECT_EQ(o.superseded(), 1u);
}

TEST(Orderer, DifferentImagesProveBothReads) {
  EventOrderer o;
  o.push(exec_at(100 * kMs, 7, 101 * kMs, 0xA000, "first"));
  o.push(exec_at(105 * kMs, 7, 106 * kMs, 0xB000, "second"));
  std::vector<Event> out;
  o.advance(200 * kMs, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(details(out[0]).argv, std::vector<std::string>{"first"});
  EXPECT_EQ(details(out[1]).argv, std::vector<std::string>{"second"});
}

TEST(Orderer, NextExecWithoutImageCannotVouch) {
  EventOrderer o;
  o.push(exec_at(100 * kMs, 7, 101 * kMs, 0xA000));
  o.push(exec_at(105 * kMs, 7, 106 * kMs, 0));  // second read failed (process gone)
  std::vector<Event> out;
  o.advance(200 * kMs, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(details(out[0]).argv_source, ArgvSource::Unavailable);
}

TEST(Orderer, ExecLongAfterTheReadDoesNotMatter) {
  EventOrderer o;
  o.push(exec_at(100 * kMs, 7, 101 * kMs, 0xA000));
  o.push(exec_at(150 * kMs, 7, 151 * kMs, 0xA000));  // same image id, but 49 ms later
  std::vector<Event> out;
  o.advance(300 * kMs, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(details(out[0]).argv_source, ArgvSource::Procfs);
}

TEST(Orderer, OtherPidsDoNotInterfere) {
  EventOrderer o;
  o.push(exec_at(100 * kMs, 7, 101 * kMs, 0xA000));
  o.push(exec_at(100 * kMs, 8, 101 * kMs, 0xA000));
  std::vector<Event> out;
  o.advance(300 * kMs, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(details(out[0]).argv_source, ArgvSource::Procfs);
  EXPECT_EQ(details(out[1]).argv_source, ArgvSource::Procfs);
}

TEST(Orderer, ChainIsJudgedFromTheLastExecBack) {
  EventOrderer o;
  // Three quick execs; the reads saw A, C, C: read 2 saw exec 3's image, so read 2 is out,
  // and read 1 (image A) cannot be vouched for by a withdrawn read 2.
  o.push(exec_at(100 * kMs, 7, 101 * kMs, 0xA000));
  o.push(exec_at(102 * kMs, 7, 104 * kMs, 0xC000));
  o.push(exec_at(103 * kMs, 7, 105 * kMs, 0xC000));
  std::vector<Event> out;
  o.advance(300 * kMs, out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(details(out[0]).argv_source, ArgvSource::Unavailable);
  EXPECT_EQ(details(out[1]).argv_source, ArgvSource::Unavailable);
  EXPECT_EQ(details(out[2]).argv_source, ArgvSource::Procfs);
}

TEST(Orderer, KernelArgvSurvivesButProcfsProgramFieldsDoNot) {
  EventOrderer o;
  Event a = exec_at(100 * kMs, 7, 103 * kMs, 0xB000);
  auto& d = *std::get<ExecData>(a.data).details;
  d.argv_source = ArgvSource::Kernel;
  d.argv = {"true", "argv"};
  o.push(std::move(a));
  o.push(exec_at(102 * kMs, 7, 104 * kMs, 0xB000));
  std::vector<Event> out;
  o.advance(300 * kMs, out);
  const ExecDetails& first = details(out[0]);
  EXPECT_EQ(first.argv_source, ArgvSource::Kernel);
  EXPECT_EQ(first.argv, (std::vector<std::string>{"true", "argv"}));
  EXPECT_FALSE(first.exe.has_value());
}

TEST(Orderer, FinishWithdrawsReadsTheWatermarkNeverCovered) {
  EventOrderer o;
  o.push(exec_at(100 * kMs, 7, 101 * kMs, 0xA000));
  std::vector<Event> out;
  o.advance(105 * kMs, out);
  EXPECT_TRUE(out.empty());
  o.finish(out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(details(out[0]).argv_source, ArgvSource::Unavailable);
  EXPECT_NE(details(out[0]).note.find("monitoring stopped"), std::string::npos);
}

TEST(Orderer, ALossWithdrawsHeldReadsItMayHaveHidden) {
  EventOrderer o;
  o.push(exec_at(100 * kMs, 7, 101 * kMs, 0xA000));
  Event lost;
  lost.ts_ns = 103 * kMs;  // the lost event might have been pid 7's next exec
  lost.data = LostData{1, "gap"};
  o.push(std::move(lost));
  o.push(exec_at(110 * kMs, 8, 111 * kMs, 0xB000));  // after the loss: unaffected
  std::vector<Event> out;
  o.advance(300 * kMs, out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(details(out[0]).argv_source, ArgvSource::Unavailable);
  EXPECT_NE(details(out[0]).note.find("lost"), std::string::npos);
  EXPECT_EQ(out[1].type(), EventType::Lost);
  EXPECT_EQ(details(out[2]).argv_source, ArgvSource::Procfs);
}

TEST(Orderer, ReleasedEarlyBecauseOverfullIsNotTrusted) {
  OrdererOptions opt;
  opt.max_pending = 4;
  EventOrderer o(opt);
  o.push(exec_at(100 * kMs, 7, 101 * kMs, 0xA000));
  std::vector<Event> out;
  for (int i = 0; i < 10; ++i) {
    o.push(fork_at(200 * kMs + i, 100 + i));
    o.advance(0, out);  // the source's watermark is stuck
  }
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out[0].type(), EventType::Exec);
  EXPECT_EQ(details(out[0]).argv_source, ArgvSource::Unavailable);
  EXPECT_NE(details(out[0]).note.find("too many events"), std::string::npos);
}

TEST(Orderer, StalledSourceCannotGrowTheBufferWithoutBound) {
  OrdererOptions opt;
  opt.max_pending = 100;
  EventOrderer o(opt);
  std::vector<Event> out;
  for (int i = 0; i < 1000; ++i) {
    o.push(fork_at(1000 + i, i));
    o.advance(0, out);
  }
  EXPECT_LE(o.pending(), 101u);
  EXPECT_GE(out.size(), 899u);
}

}  // namespace
}  // namespace proctrail

namespace proctrail {
namespace {

Event failed_exec_at(uint64_t ts, int32_t pid, std::string path, int error = ENOENT) {
  ExecFailedData f;
  f.error = error;
  f.filename = std::move(path);
  f.comm = "sh";
  Event e;
  e.ts_ns = ts;
  e.pid = pid;
  e.tid = pid;
  e.data = std::move(f);
  return e;
}

std::vector<Event> run_all(std::vector<Event> in, bool fold = true) {
  OrdererOptions o;
  o.fold_path_searches = fold;
  EventOrderer orderer(o);
  for (auto& e : in) orderer.push(std::move(e));
  std::vector<Event> out;
  orderer.advance(1000 * kMs, out);
  orderer.finish(out);
  return out;
}

// execvp tries each PATH directory: the tries before the exec that succeeded are no failure
// at all (issue 18: 18 ENOENT lines before the one real failure).
TEST(Orderer, APathSearchThatSucceededLeavesNoFailure) {
  auto out = run_all({failed_exec_at(10 * kMs, 7, "/usr/local/sbin/make"),
                      failed_exec_at(10 * kMs + 1000, 7, "/usr/local/bin/make"),
                      exec_at(10 * kMs + 2000, 7, 11 * kMs, 1, "make")});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type(), EventType::Exec);
}

// A search that failed in the end is one record: its last try, with what it tried first.
TEST(Orderer, APathSearchThatFailedIsOneRecordListingItsTries) {
  auto out = run_all({failed_exec_at(10 * kMs, 7, "/usr/local/bin/nosuch"),
                      failed_exec_at(10 * kMs + 1000, 7, "/usr/bin/nosuch"),
                      failed_exec_at(10 * kMs + 2000, 7, "/bin/nosuch"),
                      failed_exec_at(10 * kMs + 3000, 8, "/bin/other")});
  ASSERT_EQ(out.size(), 2u);
  const auto& f = std::get<ExecFailedData>(out[0].data);
  EXPECT_EQ(f.filename, "/bin/nosuch");
  EXPECT_EQ(f.tried, (std::vector<std::string>{"/usr/local/bin/nosuch", "/usr/bin/nosuch"}));
  EXPECT_TRUE(std::get<ExecFailedData>(out[1].data).tried.empty()) << "another process's";
  // The raw form keeps every try.
  auto raw = run_all({failed_exec_at(10 * kMs, 7, "/usr/local/bin/nosuch"),
                      failed_exec_at(10 * kMs + 1000, 7, "/usr/bin/nosuch")},
                     false);
  EXPECT_EQ(raw.size(), 2u);
}

// An exec can take longer than the exec guard to load its program (30 ms seen under qemu on
// Debian 12's kernel, and a cold disk on a busy machine): the tries before it are still its
// search, not failures.
TEST(Orderer, ASlowExecStillEndsItsPathSearch) {
  auto out = run_all({failed_exec_at(10 * kMs, 7, "/usr/local/bin/sh"),
                      failed_exec_at(10 * kMs + 1000, 7, "/usr/sbin/sh"),
                      exec_at(10 * kMs + 60 * kMs, 7, 71 * kMs, 1, "sh")});
  ASSERT_EQ(out.size(), 1u) << "the search for sh succeeded 60 ms after its last failed try";
  EXPECT_EQ(out[0].type(), EventType::Exec);
}

// The longer wait costs nothing when the process's next event is already in: a search that
// failed in the end (its process exits) is out as soon as the exit is, not a window later.
TEST(Orderer, ASearchIsDecidedByItsProcesssNextEventWithoutWaiting) {
  OrdererOptions o;
  EventOrderer orderer(o);
  orderer.push(failed_exec_at(10 * kMs, 7, "/bin/nosuch"));
  orderer.push(end_at(11 * kMs, 7));
  orderer.push(fork_at(12 * kMs, 9));
  std::vector<Event> out;
  orderer.advance(13 * kMs, out);
  ASSERT_EQ(out.size(), 3u) << "all three are final at 13 ms";
  EXPECT_EQ(out[0].type(), EventType::ExecFailed);
  EXPECT_EQ(out[1].type(), EventType::Exit);
  // A try whose process has done nothing since waits: the next try may still come.
  orderer.push(failed_exec_at(20 * kMs, 8, "/usr/local/bin/cc"));
  orderer.push(fork_at(21 * kMs, 10));
  out.clear();
  orderer.advance(22 * kMs, out);
  EXPECT_TRUE(out.empty()) << "pid 8's search is undecided at 22 ms";
}

}  // namespace
}  // namespace proctrail
