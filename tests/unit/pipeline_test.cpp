// The pipeline end to end without a kernel: a scripted source in, exact output out (the
// replay/golden tier), and the process table fed in timestamp order whatever the delivery order.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "enrich/enricher.hpp"
#include "proctrail/format.hpp"
#include "proctrail/sink.hpp"
#include "pipeline/pipeline.hpp"

namespace proctrail {
namespace {

// Delivers scripted batches, one per poll, each with the watermark it claims; then stops.
class ScriptedSource final : public EventSource {
 public:
  struct Step {
    std::vector<Event> events;
    uint64_t watermark_ns;
  };
  explicit ScriptedSource(std::deque<Step> steps, std::atomic<bool>& stop)
      : steps_(std::move(steps)), stop_(stop) {}

  void set_exec_handler(ExecHandlerFactory) override {}
  Status start() override { return {}; }
  Status poll(std::chrono::milliseconds, std::vector<Event>& out) override {
    if (steps_.empty()) {
      stop_ = true;
      return {};
    }
    for (auto& e : steps_.front().events) out.push_back(std::move(e));
    watermark_ = steps_.front().watermark_ns;
    steps_.pop_front();
    return {};
  }
  uint64_t watermark_ns() const override { return watermark_; }
  int fd() const override { return -1; }
  SourceStats stats() const override { return {}; }
  std::string_view name() const override { return "scripted"; }
  std::vector<std::string> notes() const override { return {}; }

 private:
  std::deque<Step> steps_;
  std::atomic<bool>& stop_;
  uint64_t watermark_ = 0;
};

constexpr uint64_t kMs = 1'000'000;
constexpr int64_t kWallBase = 1'700'000'000'000'000'000;

Event ev(uint64_t ts, int32_t pid, EventData data) {
  Event e;
  e.ts_ns = ts;
  e.wall_ns = kWallBase + static_cast<int64_t>(ts);
  e.cpu = 0;
  e.pid = e.tid = pid;
  e.data = std::move(data);
  return e;
}

// An exec as the eBPF backend delivers it: argv from the kernel, nothing to read from /proc.
Event exec(uint64_t ts, int32_t pid, std::vector<std::string> argv) {
  auto d = std::make_shared<ExecDetails>();
  d->argv_source = ArgvSource::Kernel;
  d->argv = std::move(argv);
  d->comm = d->argv.front();
  d->set_source(Field::Comm, FieldSource::Kernel);
  d->ppid = 1;
  d->set_source(Field::Ppid, FieldSource::Kernel);
  return ev(ts, pid, ExecData{d});
}

std::string run(std::deque<ScriptedSource::Step> steps, OutputFormat format) {
  std::atomic<bool> stop{false};
  ScriptedSource source(std::move(steps), stop);
  EnricherOptions eo;
  eo.read_proc = false;
  // An empty directory: no processes to seed or to find at a resync.
  static const std::string empty_proc = [] {
    std::string t = std::filesystem::temp_directory_path().string() + "/proctrail-empty-XXXXXX";
    const char* made = mkdtemp(t.data());
    return std::string(made ? made : "/nonexistent-proctrail-test-dir");
  }();
  eo.proc_root = empty_proc;
  auto enricher = Enricher::create(eo);
  EXPECT_TRUE(enricher.ok());
  int fd = memfd_create("pipeline-test", MFD_CLOEXEC);
  std::vector<SinkRoutes::Route> routes(1);
  routes[0].name = "test";
  routes[0].filter = std::make_unique<FilterStage>(EventFilter{});
  routes[0].sink = make_stream_sink(make_formatter(format, TextOptions{true}), fd);
  SinkRoutes sinks(std::move(routes));
  PipelineOptions po;
  po.poll_interval = std::chrono::milliseconds(1);
  po.output_interval = std::chrono::milliseconds(1);
  Pipeline p(source, enricher->get(), sinks, po);
  EXPECT_TRUE(p.run(stop).ok());
  std::string out(static_cast<size_t>(lseek(fd, 0, SEEK_END)), '\0');
  pread(fd, out.data(), out.size(), 0);
  close(fd);
  return out;
}

TEST(Pipeline, ExitDeliveredBeforeItsExecStillGetsTheExecsCommand) {
  // The receive socket had the fork and the exit; the CPU's exec reader hands over the exec
  // only in the next poll. The table must still see fork, exec, exit in that order.
  std::deque<ScriptedSource::Step> steps;
  steps.push_back(
      {{exec(1 * kMs, 100, {"bash", "-c", "ls"}), ev(10 * kMs, 100, ForkData{100, 100, 200, 200}),
        ev(30 * kMs, 200, ExitData{0, 17, 100, 100, {}, {}, {}})},
       5 * kMs});
  steps.push_back({{exec(20 * kMs, 200, {"ls", "-l"})}, 100 * kMs});
  std::string out = run(std::move(steps), OutputFormat::Json);
  std::vector<nlohmann::json> recs;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) recs.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(recs.size(), 4u) << out;
  EXPECT_EQ(recs[1]["type"], "fork");
  EXPECT_EQ(recs[2]["type"], "exec");
  EXPECT_EQ(recs[3]["type"], "exit");
  // The exit is that exec's: they share exec_id (the exit repeats no command line).
  EXPECT_FALSE(recs[3].contains("argv"));
  EXPECT_EQ(recs[3]["exec_id"], recs[2]["exec_id"]);
  EXPECT_EQ(recs[3]["comm"], "ls");
  EXPECT_EQ(recs[3]["duration_ns"], 20 * kMs);
}

TEST(Pipeline, GoldenText) {
  std::deque<ScriptedSource::Step> steps;
  steps.push_back(
      {{ev(10 * kMs, 100, ForkData{100, 100, 200, 200}),
        exec(11 * kMs, 200, {"sh", "-c", "echo \x1b[2Jhi"}), ev(12 * kMs, 200, UidData{0, 65534}),
        ev(15 * kMs, 200, ExitData{2 << 8, 17, 100, 100, {}, {}, {}})},
       50 * kMs});
  std::string out = run(std::move(steps), OutputFormat::Text);
  EXPECT_EQ(
      out,
      "22:13:20.010000  fork         100  child 200\n"
      "22:13:20.011000  exec         200  sh -c $'echo \\x1b[2Jhi'  [ppid=1]\n"
      "22:13:20.012000  uid          200  ruid=0 euid=65534\n"
      "22:13:20.015000  exit         200  sh -c $'echo \\x1b[2Jhi'  exit 2  after 5.000 ms\n");
}

TEST(Pipeline, GoldenJsonIsOneValidObjectPerLine) {
  std::deque<ScriptedSource::Step> steps;
  steps.push_back(
      {{ev(10 * kMs, 100, ForkData{100, 100, 200, 200}), exec(11 * kMs, 200, {"a\xff", ""}),
        ev(12 * kMs, 200, ExitData{9, 17, 100, 100, {}, {}, {}}),
        ev(13 * kMs, 0, LostData{std::nullopt, "test"})},
       50 * kMs});
  std::string out = run(std::move(steps), OutputFormat::Json);
  std::istringstream in(out);
  std::vector<std::string> types;
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    types.push_back(j["type"]);
    if (j["type"] == "exec") {
      EXPECT_EQ(j["argv_b64"], "Yf8AAA==");  // "a\xff" and "", each followed by a NUL
    }
    if (j["type"] == "exit") {
      EXPECT_EQ(j["signal"], "SIGKILL");
      EXPECT_FALSE(j.contains("argv_b64")) << "the exit joins its exec on exec_id instead";
    }
  }
  // A loss makes the table rebuild from /proc, and the stream says so.
  EXPECT_EQ(types, (std::vector<std::string>{"fork", "exec", "exit", "lost", "resync"}));
}

}  // namespace
}  // namespace proctrail
