// Formatters against exact expected text, for every event type and all three formats.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "proctrail/format.hpp"
#include "schema_check.hpp"

namespace proctrail {
namespace {

constexpr int64_t kWall = 1'700'000'000'123'456'789;  // 2023-11-14T22:13:20.123456789Z

Event make(EventData data, int32_t pid = 100, int32_t tid = 100) {
  Event e;
  e.ts_ns = 5000;
  e.wall_ns = kWall;
  e.cpu = 1;
  e.pid = pid;
  e.tid = tid;
  e.data = std::move(data);
  return e;
}

std::shared_ptr<ExecDetails> exec_details() {
  auto d = std::make_shared<ExecDetails>();
  d->argv_source = ArgvSource::Procfs;
  d->argv = {"/bin/echo", "a b", "", "\x1b[2J"};
  d->argv_bytes = 19;
  d->exe = "/usr/bin/echo";
  d->cwd = "/tmp";
  d->ppid = 99;
  d->creds = Credentials{1000, 1000, 1000, 1000};
  d->user = "alice";
  d->comm = "echo";
  d->start_boottime_ns = 7'000'000'000;
  d->cgroup = "/system.slice/docker-" + std::string(64, 'a') + ".scope";
  d->container = Container{"docker", std::string(64, 'a')};
  for (Field f : {Field::Exe, Field::Cwd, Field::Creds, Field::Comm, Field::Ppid, Field::StartTime,
                  Field::Cgroup}) {
    d->set_source(f, FieldSource::Procfs);
  }
  return d;
}

std::vector<Event> every_event() {
  auto exit_details = std::make_shared<ExitDetails>();
  exit_details->comm = "echo";
  auto image = std::make_shared<ExecDetails>();
  image->argv_source = ArgvSource::Procfs;
  image->argv = {"echo", "hi"};
  exit_details->image = image;
  exit_details->duration_ns = 1'234'567;
  std::vector<Event> v;
  v.push_back(make(AckData{0, 17}, 0, 0));
  v.push_back(make(ForkData{100, 100, 200, 200}));
  v.push_back(make(ForkData{50, 50, 100, 102}, 100, 102));
  v.push_back(make(ExecData{exec_details()}, 200, 200));
  v.push_back(make(UidData{0, 65534}));
  v.push_back(make(GidData{0, 65534}));
  v.push_back(make(SidData{}));
  v.push_back(make(PtraceData{50, 51}));
  v.push_back(make(CommData{"new\nname"}));
  v.push_back(make(CoredumpData{1, 1}));
  v.push_back(
      make(ExitData{3 << 8, 17, 99, 99, std::nullopt, std::nullopt, exit_details}, 200, 200));
  v.push_back(make(ExitData{15, 17, 99, 99, {}, {}, {}}));
  v.push_back(make(ExitData{0x80 | 11, 17, 99, 99, {}, {}, {}}, 100, 103));
  v.push_back(make(UnknownData{0x400}));
  v.push_back(make(LostData{12, "proc connector sequence gap on cpu 1"}, 0, 0));
  v.push_back(make(LostData{std::nullopt, "netlink receive buffer overflowed (ENOBUFS)"}, 0, 0));
  v.push_back(make(ResyncData{3, 5, 120}, 0, 0));
  v.push_back(
      make(StartData{"netlink", "chosen with --backend netlink", "0.1.0", {}, {}, 0}, 0, 0));
  return v;
}

std::string render(Formatter& f, const std::vector<Event>& events) {
  std::string out;
  for (const auto& e : events) f.format(e, out);
  return out;
}

TEST(TextFormat, EveryEventType) {
  auto f = make_text_formatter(TextOptions{true});
  std::string header;
  f->header(header);
  EXPECT_EQ(header, "TIME             EVENT        PID  DETAILS\n");
  const char* expected =
      "22:13:20.123456  ack            -  subscribed\n"
      "22:13:20.123456  fork         100  child 200\n"
      "22:13:20.123456  fork         100  thread 102\n"
      "22:13:20.123456  exec         200  /bin/echo 'a b' '' $'\\x1b[2J'  [ppid=99 uid=1000(alice) "
      "cwd=/tmp exe=/usr/bin/echo container=docker:aaaaaaaaaaaa]\n"
      "22:13:20.123456  uid          100  ruid=0 euid=65534\n"
      "22:13:20.123456  gid          100  rgid=0 egid=65534\n"
      "22:13:20.123456  sid          100  new session\n"
      "22:13:20.123456  ptrace       100  traced by 50\n"
      "22:13:20.123456  comm         100  renamed to $'new\\nname'\n"
      "22:13:20.123456  coredump     100  dumping core (parent 1)\n"
      "22:13:20.123456  exit         200  echo hi  exit 3  after 1.235 ms\n"
      "22:13:20.123456  exit         100  killed by SIGTERM\n"
      "22:13:20.123456  exit         100  thread 103 killed by SIGSEGV (core dumped)\n"
      "22:13:20.123456  unknown      100  event type 0x400 not known to this build\n"
      "22:13:20.123456  lost           -  12 events lost: 'proc connector sequence gap on cpu 1'\n"
      "22:13:20.123456  lost           -  events lost (count unknown): 'netlink receive buffer "
      "overflowed (ENOBUFS)'\n"
      "22:13:20.123456  resync         -  process table rebuilt from /proc: 3 added, 5 removed, "
      "120 now\n"
      "22:13:20.123456  start          -  backend netlink: chosen with --backend netlink\n";
  EXPECT_EQ(render(*f, every_event()), expected);
}

TEST(TextFormat, UnavailableAndTruncatedArgv) {
  auto f = make_text_formatter(TextOptions{true});
  auto d = std::make_shared<ExecDetails>();
  d->argv_source = ArgvSource::Unavailable;
  d->comm = "true";
  d->note = "process exited before /proc could be read";
  auto t = std::make_shared<ExecDetails>();
  t->argv_source = ArgvSource::Kernel;
  t->argv = {"x", "yyyy"};
  t->argv_truncated = true;
  t->argv_bytes = 200000;
  std::string out = render(*f, {make(ExecData{d}), make(ExecData{t})});
  EXPECT_EQ(out,
            "22:13:20.123456  exec         100  <argv unavailable> comm=true  [note='process "
            "exited before /proc could be read']\n"
            "22:13:20.123456  exec         100  x yyyy <truncated, 200000 bytes in all>\n");
}

TEST(SeedFormat, MatchesTheSampleProgramLineForLine) {
  auto f = make_seed_formatter();
  const char* expected =
      "set mcast listen ok\n"
      "fork: parent tid=100 pid=100 -> child tid=200 pid=200\n"
      "fork: parent tid=50 pid=50 -> child tid=102 pid=100\n"
      "exec: tid=200 pid=200\n"
      "uid change: tid=100 pid=100 from 0 to 65534\n"
      "gid change: tid=100 pid=100 from 0 to 65534\n"
      "sid change: tid=100 pid=100\n"
      "ptrace: tid=100 pid=100 tracer tid=51 pid=50\n"
      "comm: tid=100 pid=100 comm=$'new\\nname'\n"
      "coredump: tid=100 pid=100 parent tid=1 pid=1\n"
      "exit: tid=200 pid=200 exit_code=768\n"
      "exit: tid=100 pid=100 exit_code=15\n"
      "exit: tid=103 pid=100 exit_code=139\n"
      "unhandled proc event\n"
      "lost: count=12\n"
      "lost: count=unknown\n";
  EXPECT_EQ(render(*f, every_event()), expected);
}

TEST(JsonFormat, EveryEventTypeExactly) {
  auto f = make_json_formatter();
  std::string out = render(*f, every_event());
  const std::string head = R"("time":"2023-11-14T22:13:20.123456789Z","ts_ns":5000,"cpu":1,)";
  std::string a64(64, 'a');
  // Schema version 2: a fork is about the new process; parent_pid everywhere; start_time.
  std::vector<std::string> expected = {
      R"j({"type":"ack","time":"2023-11-14T22:13:20.123456789Z","ts_ns":5000,"cpu":1,"pid":0,"tid":0,"error":0})j",
      R"j({"type":"fork","time":"2023-11-14T22:13:20.123456789Z","ts_ns":5000,"cpu":1,"pid":200,"tid":200,"parent_pid":100,"parent_tid":100,"thread":false})j",
      R"j({"type":"fork","time":"2023-11-14T22:13:20.123456789Z","ts_ns":5000,"cpu":1,"pid":100,"tid":102,"parent_pid":50,"parent_tid":50,"thread":true})j",
      R"j({"type":"exec","time":"2023-11-14T22:13:20.123456789Z","ts_ns":5000,"cpu":1,"pid":200,"tid":200,"argv_source":"procfs","argv":["/bin/echo","a b","","\u001b[2J"],"argv_truncated":false,"argv_bytes":19,"exe":"/usr/bin/echo","cwd":"/tmp","parent_pid":99,"uid":1000,"euid":1000,"gid":1000,"egid":1000,"user":"alice","comm":"echo","start_time":"2023-11-14T22:13:27.123451789Z","start_boottime_ns":7000000000,"cgroup":"/system.slice/docker-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.scope","container":{"runtime":"docker","id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},"sources":{"exe":"procfs","cwd":"procfs","creds":"procfs","comm":"procfs","ppid":"procfs","start_time":"procfs","cgroup":"procfs"}})j",
      R"j({"type":"uid","time":"2023-11-14T22:13:20.123456789Z","ts_ns":5000,"cpu":1,"pid":100,"tid":100,"ruid":0,"euid":65534})j",
      R"j({"type":"gid","time":"2023-11-14T22:13:20.123456789Z","ts_ns":5000,"cpu":1,"pid":100,"tid":100,"rgid":0,"egid":65534})j",
      R"j({"type":"sid","time":"2023-11-14T22:13:20.123456789Z","ts_ns":5000,"cpu":1,"pid":100,"tid":100})j",
      R"j({"type":"ptrace","time":"2023-11-14T22:13:20.123456789Z","ts_ns":5000,"cpu":1,"pid":100,"tid":100,"attached":true,"tracer_pid":50,"tracer_tid":51})j",
      R"j({"type":"comm","time":"2023-11-14T22:13:20.123456789Z","ts_ns":5000,"cpu":1,"pid":100,"tid":100,"comm":"new\nname"})j",
      R"j({"type":"coredump","time":"2023-11-14T22:13:20.123456789Z","ts_ns":5000,"cpu":1,"pid":100,"tid":100,"parent_pid":1,"parent_tid":1})j",
      R"j({"type":"exit","time":"2023-11-14T22:13:20.123456789Z","ts_ns":5000,"cpu":1,"pid":200,"tid":200,"exit_code":3,"core_dumped":false,"raw_exit_code":768,"parent_pid":99,"parent_tid":99,"thread":false,"comm":"echo","duration_ns":1234567,"duration_approximate":false})j",
      R"j({"type":"exit","time":"2023-11-14T22:13:20.123456789Z","ts_ns":5000,"cpu":1,"pid":100,"tid":100,"signal":"SIGTERM","core_dumped":false,"raw_exit_code":15,"parent_pid":99,"parent_tid":99,"thread":false})j",
      R"j({"type":"exit","time":"2023-11-14T22:13:20.123456789Z","ts_ns":5000,"cpu":1,"pid":100,"tid":103,"signal":"SIGSEGV","core_dumped":true,"raw_exit_code":139,"parent_pid":99,"parent_tid":99,"thread":true})j",
      R"j({"type":"unknown","time":"2023-11-14T22:13:20.123456789Z","ts_ns":5000,"cpu":1,"pid":100,"tid":100,"what":1024})j",
      R"j({"type":"lost","time":"2023-11-14T22:13:20.123456789Z","ts_ns":5000,"cpu":1,"pid":0,"tid":0,"count":12,"reason":"proc connector sequence gap on cpu 1"})j",
      R"j({"type":"lost","time":"2023-11-14T22:13:20.123456789Z","ts_ns":5000,"cpu":1,"pid":0,"tid":0,"count":null,"reason":"netlink receive buffer overflowed (ENOBUFS)"})j",
      R"j({"type":"resync","time":"2023-11-14T22:13:20.123456789Z","ts_ns":5000,"cpu":1,"pid":0,"tid":0,"added":3,"removed":5,"table_size":120})j",
      R"j({"type":"start","time":"2023-11-14T22:13:20.123456789Z","ts_ns":5000,"cpu":1,"pid":0,"tid":0,"schema_version":2,"backend":"netlink","reason":"chosen with --backend netlink","version":"0.1.0","scope":"all"})j",
  };
  std::string joined;
  for (const auto& line : expected) joined += line + "\n";
  EXPECT_EQ(out, joined);
}

TEST(JsonFormat, EveryLineParsesAndInvalidUtf8IsCarriedExactly) {
  auto f = make_json_formatter();
  auto d = std::make_shared<ExecDetails>();
  d->argv_source = ArgvSource::Kernel;
  d->argv = {"ok", "bad\xffx", ""};
  d->cwd = "/tmp/\xfe";
  d->set_source(Field::Cwd, FieldSource::Procfs);
  std::string out = render(*f, {make(ExecData{d})});
  auto j = nlohmann::json::parse(out);
  // One form only: the exact argument area in base64, not U+FFFD text beside it.
  EXPECT_FALSE(j.contains("argv")) << out;
  ASSERT_TRUE(j.contains("argv_b64"));
  EXPECT_EQ(j["argv_b64"], "b2sAYmFk/3gAAA==");  // base64 of "ok\0bad\xffx\0\0"
  EXPECT_EQ(j["cwd_b64"], "L3RtcC/+");
  for (const auto& e : every_event()) {
    std::string line;
    f->format(e, line);
    EXPECT_TRUE(nlohmann::json::accept(line)) << line;
  }
}

TEST(JsonFormat, EveryFieldIsDocumentedInTheSchema) {
  auto events = every_event();
  auto full = exec_details();
  full->argv.push_back("\xff");
  full->argv_truncated = true;
  full->argc = 9;
  full->filename = "/bin/\xfe";
  full->cgroup_id = 1234;
  full->env = std::vector<std::string>{"A=1", "B=\xff"};
  full->set_source(Field::Env, FieldSource::Procfs);
  full->ancestry = {{1, "systemd"}, {7, "\xff"}};
  full->set_source(Field::Ancestry, FieldSource::Table);
  full->note = "why";
  events.push_back(make(ExecData{full}));
  auto gone = std::make_shared<ExecDetails>();
  gone->note = "process exited before /proc could be read";
  events.push_back(make(ExecData{gone}));
  auto f = make_json_formatter();
  for (const auto& e : events) {
    std::string line;
    f->format(e, line);
    EXPECT_EQ(testing::schema_violations(nlohmann::json::parse(line)), "") << line;
  }
}

TEST(Duration, ReadsNaturally) {
  EXPECT_EQ(human_duration(500), "500 ns");
  EXPECT_EQ(human_duration(56'000), "56 µs");
  EXPECT_EQ(human_duration(1'234'567), "1.235 ms");
  EXPECT_EQ(human_duration(2'500'000'000), "2.500 s");
  EXPECT_EQ(human_duration(3'725'000'000'000), "1h02m05s");
}

}  // namespace
}  // namespace proctrail

namespace proctrail {
namespace {

// The tree view from a scripted stream: sh runs a background sleep and /bin/true through a
// subshell that never execs (no step of its own), then exits 7; an unrelated fork of pid 1
// is not drawn; the failed exec sits under the process that tried it.
TEST(TreeFormat, IndentsEachCommandUnderItsParent) {
  TextOptions o;
  o.utc = true;
  o.relative = true;
  o.tree = true;
  auto f = make_text_formatter(o);
  auto img = [](std::vector<std::string> argv, int32_t ppid) {
    auto d = std::make_shared<ExecDetails>();
    d->argv_source = ArgvSource::Kernel;
    d->argv = std::move(argv);
    d->ppid = ppid;
    return d;
  };
  auto ended = [](uint32_t status, uint64_t ns) {
    auto d = std::make_shared<ExitDetails>();
    d->duration_ns = ns;
    return ExitData{status, 17, 1, 1, true, status, d};
  };
  uint64_t ts = 1'000'000'000;
  auto ev = [&](int32_t pid, EventData data, uint64_t step_us = 1000) {
    Event e;
    ts += step_us * 1000;
    e.ts_ns = ts;
    e.wall_ns = static_cast<int64_t>(ts);
    e.pid = e.tid = pid;
    e.data = std::move(data);
    return e;
  };
  ExecFailedData nf;
  nf.error = ENOENT;
  nf.filename = "/nonexistent-prog";
  nf.argv = {"/nonexistent-prog", "--x"};
  std::vector<Event> events = {
      ev(0, StartData{"bpf", "chosen with --backend bpf", "0.2.0", {}, {}, 0}, 0),
      ev(300, ExecData{img({"sh", "-c", "sleep 0.1 & (/bin/true MARK); exit 7"}, 299)}),
      ev(300, ForkData{300, 300, 301, 301}),
      ev(301, ExecData{img({"sleep", "0.1"}, 300)}),
      ev(300, ForkData{300, 300, 302, 302}),  // the subshell
      ev(1, ForkData{1, 1, 900, 900}),        // unrelated
      ev(302, ForkData{302, 302, 303, 303}),
      ev(303, ExecData{img({"/bin/true", "MARK"}, 302)}),
      ev(303, ended(0, 1'200'000)),
      ev(302, ended(0, 2'000'000)),  // never exec'd: no line
      ev(300, nf),
      ev(300, ended(7 << 8, 9'000'000)),
      ev(301, ended(0, 100'000'000), 100'000),
  };
  std::string out;
  f->header(out);
  for (const auto& e : events) f->format(e, out);
  EXPECT_EQ(out,
            "TIME             PID COMMAND / EXIT\n"
            "       0.000000  -- backend bpf: chosen with --backend bpf\n"
            "       0.001000  300 sh -c 'sleep 0.1 & (/bin/true MARK); exit 7'\n"
            "       0.003000    301 sleep 0.1\n"
            "       0.007000    303 /bin/true MARK\n"
            "       0.008000    303 exit 0 after 1.200 ms\n"
            "       0.010000    300 exec failed: ENOENT /nonexistent-prog  argv: "
            "/nonexistent-prog --x\n"
            "       0.011000  300 exit 7 after 9.000 ms\n"
            "       0.111000    301 exit 0 after 100.000 ms\n");
}

TEST(TextFormat, ColourOnlyAroundOurOwnWords) {
  TextOptions o;
  o.utc = true;
  o.color = true;
  auto f = make_text_formatter(o);
  Event e;
  e.pid = e.tid = 5;
  e.data = ExitData{1 << 8, 17, 1, 1, true, 1 << 8, nullptr};
  std::string out;
  f->format(e, out);
  EXPECT_NE(out.find("\x1b[31mexit    \x1b[0m"), std::string::npos) << out;
  o.color = false;
  std::string plain;
  make_text_formatter(o)->format(e, plain);
  EXPECT_EQ(plain.find('\x1b'), std::string::npos);
  // In the tree, a failed exec's path and argv stay outside the colour.
  o.color = true;
  o.tree = true;
  ExecFailedData nf;
  nf.error = ENOENT;
  nf.filename = "/x";
  Event failed;
  failed.pid = failed.tid = 5;
  failed.data = nf;
  std::string tree;
  make_text_formatter(o)->format(failed, tree);
  EXPECT_NE(tree.find("\x1b[31mexec failed: ENOENT\x1b[0m /x"), std::string::npos) << tree;
}

TEST(JsonFormat, FailedExecAndSummaryRecordsFollowTheSchema) {
  auto f = make_json_formatter();
  ExecFailedData nf;
  nf.error = EACCES;
  nf.filename = "/etc/passwd";
  nf.argv = {"/etc/passwd"};
  nf.creds = Credentials{0, 0, 0, 0};
  nf.comm = "sh";
  nf.ppid = 1;
  SummaryData s;
  s.processes = 3;
  s.by_count = {{"true", 2, 0}};
  s.slowest = {{7, "sleep", 100}};
  std::string out;
  f->format(make(nf, 8, 8), out);
  f->format(make(s, 0, 0), out);
  std::istringstream lines(out);
  std::string line;
  std::getline(lines, line);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["type"], "exec_failed");
  EXPECT_EQ(j["error_name"], "EACCES");
  EXPECT_EQ(j["filename"], "/etc/passwd");
  EXPECT_EQ(testing::schema_violations(j), "") << line;
  std::getline(lines, line);
  auto k = nlohmann::json::parse(line);
  EXPECT_EQ(k["type"], "summary");
  EXPECT_EQ(k["top_by_count"][0]["command"], "true");
  EXPECT_EQ(k["slowest"][0]["pid"], 7);
  EXPECT_EQ(testing::schema_violations(k), "") << line;
}

}  // namespace
}  // namespace proctrail
