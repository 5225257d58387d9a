// Sources as the seam: a fake source that is not live drives the whole monitor (process table,
// per-sink filters, formatters) through the public Monitor::start, and nothing downstream
// reads /proc for its events. To prove the last part the test runs in a mount namespace of its
// own whose /proc is a trap: files for the fake pids that say "TRAP". Any read of them would
// put TRAP into the output.
#include <gtest/gtest.h>
#include <gtest/gtest-spi.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <fstream>
#include <sstream>
#include <filesystem>

#include "proctrail/format.hpp"
#include "proctrail/monitor.hpp"
#include "skip.hpp"

namespace proctrail {
namespace {

constexpr uint64_t kMs = 1'000'000;
constexpr int64_t kWallBase = 1'700'000'000'000'000'000;

// A recording of sorts: everything at once, then exhausted.
class FakeSource final : public EventSource {
 public:
  explicit FakeSource(std::vector<Event> events) : events_(std::move(events)) {}
  void set_exec_handler(ExecHandlerFactory f) override { handler_given_ = f != nullptr; }
  Status start() override { return {}; }
  Status poll(std::chrono::milliseconds, std::vector<Event>& out) override {
    for (auto& e : events_) out.push_back(std::move(e));
    events_.clear();
    done_ = true;
    return {};
  }
  uint64_t watermark_ns() const override { return done_ ? UINT64_MAX : 0; }
  int fd() const override { return -1; }
  SourceStats stats() const override { return {}; }
  std::string_view name() const override { return "fake"; }
  std::vector<std::string> notes() const override { return {}; }
  bool live() const override { return false; }
  bool exhausted() const override { return done_; }

 private:
  std::vector<Event> events_;
  bool done_ = false;
  bool handler_given_ = false;
};

Event ev(uint64_t ts, int32_t pid, EventData data) {
  Event e;
  e.ts_ns = ts;
  e.wall_ns = kWallBase + static_cast<int64_t>(ts);
  e.pid = e.tid = pid;
  e.data = std::move(data);
  return e;
}

Event exec(uint64_t ts, int32_t pid, std::vector<std::string> argv, ProcessKey key) {
  auto d = std::make_shared<ExecDetails>();
  d->argv_source = ArgvSource::Kernel;
  d->argv = std::move(argv);
  d->comm = d->argv.front();
  d->ppid = 4000;
  d->creds = Credentials{1000, 1000, 1000, 1000};
  Event e = ev(ts, pid, ExecData{d});
  e.key = key;
  return e;
}

// The workload: 4242 forked by 4000, runs "real-program", exits 3; 4244 (running before the
// recording, as far as it knows) exits. Keys as a recording made elsewhere gave them.
std::vector<Event> workload() {
  std::vector<Event> v;
  Event fork = ev(10 * kMs, 4000, ForkData{4000, 4000, 4242, 4242});
  fork.key = ProcessKey{4242, 0, 777};
  v.push_back(fork);
  v.push_back(exec(20 * kMs, 4242, {"real-program", "--flag"}, ProcessKey{4242, 1, 777}));
  v.push_back(ev(30 * kMs, 4242, ExitData{3 << 8, 17, 4000, 4000, {}, {}, {}}));
  v.push_back(ev(40 * kMs, 4244, ExitData{0, 17, 1, 1, {}, {}, {}}));
  return v;
}

struct Outcome {
  std::vector<std::string> all_json;   // the unfiltered sink, as JSON lines
  std::vector<std::string> filtered;   // the --argv filtered sink, as text
  std::string error;
};

Outcome run_fake() {
  Outcome out;
  MonitorOptions o;
  o.ancestry = true;
  std::vector<SinkSpec> sinks;
  auto json = make_json_formatter();
  auto text = make_formatter(OutputFormat::Text, TextOptions{true});
  auto* jf = json.get();
  auto* tf = text.get();
  sinks.emplace_back(make_callback_sink([&out, jf](const Event& e) {
                       std::string line;
                       jf->format(e, line);
                       out.all_json.push_back(line);
                     }),
                     std::nullopt, FailurePolicy::Fatal, "all");
  EventFilter only_real;
  only_real.argv_regex = "real-program";
  sinks.emplace_back(make_callback_sink([&out, tf](const Event& e) {
                       std::string line;
                       tf->format(e, line);
                       out.filtered.push_back(line);
                     }),
                     only_real, FailurePolicy::Fatal, "filtered");
  auto m = Monitor::start(o, std::move(sinks), std::make_unique<FakeSource>(workload()));
  if (!m) {
    out.error = m.error().message;
    return out;
  }
  std::atomic<bool> never{false};
  if (auto s = (*m)->run_until(never); !s) out.error = s.error().message;
  return out;
}

void check(const Outcome& out) {
  ASSERT_EQ(out.error, "");
  std::string joined;
  for (const auto& l : out.all_json) joined += l;
  EXPECT_EQ(joined.find("TRAP"), std::string::npos) << "read from /proc:\n" << joined;
  // Nothing of the live machine: no start record of ours, no resync.
  ASSERT_EQ(out.all_json.size(), 4u) << joined;
  JsonDecoder dec;
  std::vector<Event> got;
  for (const auto& l : out.all_json) {
    auto e = dec.decode(l.substr(0, l.size() - 1));
    ASSERT_TRUE(e.ok()) << e.error().message;
    got.push_back(std::move(*e));
  }
  // The keys the source gave are kept, and the exit joins its exec by key.
  EXPECT_EQ(got[1].type(), EventType::Exec);
  EXPECT_EQ(got[1].key, (ProcessKey{4242, 1, 777}));
  EXPECT_EQ(got[2].type(), EventType::Exit);
  EXPECT_EQ(got[2].key, got[1].key);
  // The table ended the process: the text of its exit names the command it ran.
  const auto& x = std::get<ExitData>(got[2].data);
  ASSERT_TRUE(x.details);
  EXPECT_EQ(x.details->duration_ns, 20 * kMs);  // from its fork in the stream
  // 4244 was never seen to start: nothing is invented for it from /proc.
  const auto& y = std::get<ExitData>(got[3].data);
  EXPECT_TRUE(!y.details || !y.details->image);
  // The second sink's own filter, on exec and exit alike (the exit matched through the
  // table's image of the process).
  ASSERT_EQ(out.filtered.size(), 2u);
  EXPECT_NE(out.filtered[0].find("real-program --flag"), std::string::npos) << out.filtered[0];
  EXPECT_NE(out.filtered[1].find("real-program --flag"), std::string::npos) << out.filtered[1];
  EXPECT_NE(out.filtered[1].find("exit 3"), std::string::npos) << out.filtered[1];
}

TEST(SourceSeam, FakeSourceDrivesTheWholeMonitor) {
  check(run_fake());
}

// The same, in a mount namespace whose /proc holds a trap for each pid of the workload: a
// stat and a cmdline saying TRAP. A seed scan, a re-read at exec or a tree read would bring
// TRAP into the output.
TEST(SourceSeam, NothingReadsProcForAFakeSource) {
  if (geteuid() != 0) PT_SKIP("needs-root");
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipefd[0]);
    auto say = [&](const std::string& s) {
      (void)!write(pipefd[1], s.data(), s.size());
      _exit(s.empty() ? 0 : 1);
    };
    if (unshare(CLONE_NEWNS) != 0) say("unshare failed");
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) say("mount private failed");
    if (mount("trap", "/proc", "tmpfs", 0, nullptr) != 0) say("tmpfs on /proc failed");
    for (int pid : {4000, 4242, 4244}) {
      const std::string dir = "/proc/" + std::to_string(pid);
      std::filesystem::create_directories(dir);
      std::ofstream(dir + "/stat") << pid << " (TRAP) S 1 " << pid << " " << pid
                                   << " 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 777 0 0\n";
      std::ofstream(dir + "/cmdline") << "TRAP" << '\0' << "TRAP" << '\0';
      std::ofstream(dir + "/comm") << "TRAP\n";
      std::ofstream(dir + "/status") << "Name:\tTRAP\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n";
    }
    Outcome out = run_fake();
    std::ostringstream report;
    {
      // gtest's assertions do not cross the fork: say what failed instead.
      testing::TestPartResultArray failures;
      testing::ScopedFakeTestPartResultReporter catcher(
          testing::ScopedFakeTestPartResultReporter::INTERCEPT_ALL_THREADS, &failures);
      check(out);
      for (int i = 0; i < failures.size(); ++i) report << failures.GetTestPartResult(i).message() << "\n";
    }
    say(report.str());
  }
  close(pipefd[1]);
  std::string said;
  char buf[4096];
  for (ssize_t n; (n = read(pipefd[0], buf, sizeof buf)) > 0;) said.append(buf, static_cast<size_t>(n));
  close(pipefd[0]);
  int ws = 0;
  ASSERT_EQ(waitpid(child, &ws, 0), child);
  EXPECT_EQ(said, "");
  EXPECT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0) << said;
}

}  // namespace
}  // namespace proctrail
