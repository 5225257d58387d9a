// /proc parsers, and ProcReader against fake /proc trees.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "enrich/container.hpp"
#include "enrich/proc_reader.hpp"
#include "enrich/procfs_parse.hpp"

namespace proctrail::procfs {
namespace {

namespace fs = std::filesystem;

// A stat line with the given comm, state, ppid, start ticks and image identity.
std::string stat_line(int pid, const std::string& comm, char state, int ppid, uint64_t start,
                      uint64_t arg_start = 0x7ffd0000, uint64_t arg_end = 0x7ffd0020,
                      uint32_t flags = 0x400100) {
  std::string s = std::to_string(pid) + " (" + comm + ") " + state + " " + std::to_string(ppid);
  // fields 5..21, field 9 being the task flags
  for (int f = 5; f <= 21; ++f) s += f == 9 ? " " + std::to_string(flags) : " 0";
  s += " " + std::to_string(start);  // field 22
  for (int f = 23; f <= 47; ++f) s += " 0";
  s += " " + std::to_string(arg_start) + " " + std::to_string(arg_end) + " " +
       std::to_string(arg_end) + " " + std::to_string(arg_end + 0x40) + " 0\n";
  return s;
}

TEST(ParseStat, CommWithParenthesesAndSpaces) {
  auto st = parse_stat(stat_line(42, "a) (b c) ", 'S', 7, 1234));
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(st->pid, 42);
  EXPECT_EQ(st->comm, "a) (b c) ");
  EXPECT_EQ(st->state, 'S');
  EXPECT_EQ(st->ppid, 7);
  EXPECT_EQ(st->start_ticks, 1234u);
  EXPECT_EQ(st->flags, 0x400100u);
  EXPECT_FALSE(st->exiting());
  EXPECT_EQ(st->image.arg_start, 0x7ffd0000u);
  EXPECT_EQ(st->image.env_end, 0x7ffd0060u);
}

TEST(ParseStat, RealSelf) {
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  auto st = parse_stat(text);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(st->pid, getpid());
  EXPECT_EQ(st->ppid, getppid());
  EXPECT_NE(st->image.arg_start, 0u);
}

TEST(ParseStat, Malformed) {
  EXPECT_FALSE(parse_stat("").ok());
  EXPECT_FALSE(parse_stat("12 comm S 1").ok());
  EXPECT_FALSE(parse_stat("12 (x) S 1 2 3").ok());
  EXPECT_FALSE(parse_stat("x (y) S 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 5").ok());
}

TEST(ParseStatus, RealAndEffectiveIds) {
  auto c = parse_status_creds("Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t100\t101\t101\t101\n");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->uid, 1000u);
  EXPECT_EQ(c->euid, 0u);
  EXPECT_EQ(c->gid, 100u);
  EXPECT_EQ(c->egid, 101u);
  EXPECT_FALSE(parse_status_creds("Name:\tx\n").ok());
  EXPECT_FALSE(parse_status_creds("Uid:\tx\nGid:\t1 1\n").ok());
}

TEST(SplitNul, Cases) {
  using V = std::vector<std::string>;
  EXPECT_EQ(split_nul(std::string("a\0b\0", 4)), (V{"a", "b"}));
  EXPECT_EQ(split_nul(std::string("a\0b", 3)), (V{"a", "b"}));  // no trailing NUL
  EXPECT_EQ(split_nul(std::string("a\0\0b\0", 5)), (V{"a", "", "b"}));
  EXPECT_EQ(split_nul(std::string("\0", 1)), (V{""}));
  EXPECT_EQ(split_nul(""), V{});
}

TEST(ParseCgroup, V2V1AndHybrid) {
  EXPECT_EQ(parse_cgroup("0::/user.slice/session-1.scope\n"), "/user.slice/session-1.scope");
  EXPECT_EQ(parse_cgroup("12:memory:/docker/x\n1:name=systemd:/docker/x\n"), "/docker/x");
  // hybrid: unified at "/" while v1 says where it really is
  EXPECT_EQ(parse_cgroup("4:memory:/job/7\n1:name=systemd:/\n0::/\n"), "/job/7");
  EXPECT_EQ(parse_cgroup("1:name=systemd:/\n0::/\n"), "/");
  EXPECT_EQ(parse_cgroup(""), std::nullopt);
}

TEST(Container, RuntimesAreRecognised) {
  const std::string id(64, 'a');
  const std::string hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  struct Case {
    std::string path, runtime, id;
  };
  for (const auto& c : std::vector<Case>{
           {"/system.slice/docker-" + hex + ".scope", "docker", hex},
           {"/docker/" + hex, "docker", hex},
           {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/"
            "cri-containerd-" +
                hex + ".scope",
            "containerd", hex},
           {"/kubepods.slice/kubepods-pod2.slice/crio-" + hex + ".scope", "cri-o", hex},
           {"/machine.slice/libpod-" + hex + ".scope", "podman", hex},
           {"/libpod_parent/libpod-" + hex, "podman", hex},
           {"/kubepods/burstable/pod5f9c/" + hex, "kubernetes", hex},
           {"/docker/" + id + "/docker/" + hex, "docker", hex},  // innermost wins
       }) {
    auto got = container_from_cgroup(c.path);
    ASSERT_TRUE(got.has_value()) << c.path;
    EXPECT_EQ(got->runtime, c.runtime) << c.path;
    EXPECT_EQ(got->id, c.id) << c.path;
  }
}

TEST(Container, LookAlikesDoNotMatch) {
  const std::string hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  for (const std::string& path : {
           std::string("/system.slice/docker.service"),
           std::string("/system.slice/docker-compose@web.service"),
           std::string("/docker/abc123"),
           "/system.slice/docker-" + hex.substr(1) + ".scope",  // 63 digits
           "/system.slice/docker-" + hex + "0.scope",           // 65 digits
           "/system.slice/docker-" + hex + ".scopex",
           "/system.slice/docker-" + std::string(64, 'A') + ".scope",  // upper case
           "/machine.slice/libpod-conmon-" + hex + ".scope",
           "/kubepods.slice/crio-conmon-" + hex + ".scope",
           std::string("/system.slice/containerd.service"),
           std::string("/kubepods/burstable/pod5f9c"),
           "/user.slice/" + hex,  // a bare id outside docker/kubepods means nothing
           std::string("/"),
       }) {
    EXPECT_FALSE(container_from_cgroup(path).has_value()) << path;
  }
}

class FakeProc : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("proctrail-fakeproc-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path pid_dir(int pid) {
    fs::path d = root_ / std::to_string(pid);
    fs::create_directories(d);
    return d;
  }
  void write(int pid, const std::string& name, const std::string& content) {
    std::ofstream(pid_dir(pid) / name, std::ios::binary) << content;
  }
  void link(int pid, const std::string& name, const std::string& target) {
    fs::create_symlink(target, pid_dir(pid) / name);
  }
  // A complete, healthy process.
  void process(int pid, const std::string& cmdline, uint64_t start_ticks, char state = 'S') {
    write(pid, "cmdline", cmdline);
    write(pid, "stat", stat_line(pid, "prog", state, 1, start_ticks));
    write(pid, "status", "Name:\tprog\nUid:\t1000\t1000\t1000\t1000\nGid:\t50\t50\t50\t50\n");
    write(pid, "cgroup", "0::/system.slice/crio-" + std::string(64, 'b') + ".scope\n");
    write(pid, "environ", std::string("A=1\0B=2\0", 8));
    link(pid, "exe", "/usr/bin/prog");
    link(pid, "cwd", "/srv");
  }
  ProcReader reader(ReadOptions o = {}) {
    auto r = ProcReader::open(root_.string(), o);
    EXPECT_TRUE(r.ok());
    return std::move(*r);
  }
  verify::ExpectedProcess at_tick(uint64_t tick) {
    verify::ExpectedProcess e;
    e.event_boottime_ns = tick * (1'000'000'000 / clock_ticks_per_second());
    return e;
  }

  fs::path root_;
};

TEST_F(FakeProc, ReadsEveryFieldOfAHealthyProcess) {
  process(10, std::string("prog\0--flag\0\0last", 17), 500);
  ReadOptions o;
  o.env = true;
  auto r = reader(o);
  ExecDetails d;
  r.read_exec(10, at_tick(600), d);
  EXPECT_EQ(d.argv_source, ArgvSource::Procfs);
  EXPECT_EQ(d.argv, (std::vector<std::string>{"prog", "--flag", "", "last"}));
  EXPECT_FALSE(d.argv_truncated);
  EXPECT_EQ(d.exe, "/usr/bin/prog");
  EXPECT_EQ(d.cwd, "/srv");
  EXPECT_EQ(d.ppid, 1);
  EXPECT_EQ(d.comm, "prog");
  ASSERT_TRUE(d.creds);
  EXPECT_EQ(d.creds->uid, 1000u);
  EXPECT_EQ(d.creds->gid, 50u);
  ASSERT_TRUE(d.container);
  EXPECT_EQ(d.container->runtime, "cri-o");
  EXPECT_EQ(d.env, (std::vector<std::string>{"A=1", "B=2"}));
  EXPECT_EQ(d.source(Field::Cwd), FieldSource::Procfs);
  ASSERT_TRUE(d.procfs_read);
  ASSERT_TRUE(d.procfs_read->image);
  EXPECT_EQ(d.procfs_read->image->arg_start, 0x7ffd0000u);
  EXPECT_LE(d.procfs_read->start_ns, d.procfs_read->end_ns);
  EXPECT_EQ(d.argv_bytes, 0x20u);  // from the image's argument area, not the bytes read
  EXPECT_TRUE(d.note.empty());
}

TEST_F(FakeProc, LongCommandLineIsTruncatedAndFlagged) {
  process(11, std::string(5000, 'x'), 500);
  ReadOptions o;
  o.max_argv_bytes = 1000;
  auto r = reader(o);
  ExecDetails d;
  r.read_exec(11, at_tick(600), d);
  EXPECT_EQ(d.argv_source, ArgvSource::Procfs);
  ASSERT_EQ(d.argv.size(), 1u);
  EXPECT_EQ(d.argv.front().size(), 1000u);
  EXPECT_TRUE(d.argv_truncated);
}

TEST_F(FakeProc, VanishedProcessIsReportedNotDropped) {
  auto r = reader();
  ExecDetails d;
  r.read_exec(12, at_tick(600), d);
  EXPECT_EQ(d.argv_source, ArgvSource::Unavailable);
  EXPECT_EQ(d.note, "process exited before /proc could be read");
  EXPECT_TRUE(d.procfs_read.has_value());
}

TEST_F(FakeProc, ProcessGoneMidReadYieldsNoData) {
  write(13, "cmdline", std::string("prog\0", 5));  // stat is gone: reaped mid-read
  auto r = reader();
  ExecDetails d;
  r.read_exec(13, at_tick(600), d);
  EXPECT_EQ(d.argv_source, ArgvSource::Unavailable);
  EXPECT_EQ(d.note, "process exited while /proc was being read");
  EXPECT_TRUE(d.argv.empty());
}

TEST_F(FakeProc, ZombieWithEmptyCommandLineIsUnavailableNotEmpty) {
  process(14, "", 500, 'Z');
  auto r = reader();
  ExecDetails d;
  r.read_exec(14, at_tick(600), d);
  EXPECT_EQ(d.argv_source, ArgvSource::Unavailable);
  EXPECT_EQ(d.note, "process exited before its command line could be read");
  EXPECT_EQ(d.comm, "prog");  // what the zombie still tells is kept
}

TEST_F(FakeProc, ExitingProcessNotYetAZombieIsUnavailableNotEmpty) {
  // do_exit() has released the memory (cmdline reads empty) but the state is still R.
  write(19, "cmdline", "");
  write(19, "stat", stat_line(19, "prog", 'R', 1, 500, 0, 0, 0x400104));
  auto r = reader();
  ExecDetails d;
  r.read_exec(19, at_tick(600), d);
  EXPECT_EQ(d.argv_source, ArgvSource::Unavailable);
  EXPECT_EQ(d.note, "process exited before its command line could be read");
}

TEST_F(FakeProc, LiveProcessWithEmptyArgvIsAnEmptyArgv) {
  process(15, "", 500, 'R');
  auto r = reader();
  ExecDetails d;
  r.read_exec(15, at_tick(600), d);
  EXPECT_EQ(d.argv_source, ArgvSource::Procfs);
  EXPECT_TRUE(d.argv.empty());
}

TEST_F(FakeProc, PidReusedAfterTheEventIsDetected) {
  process(16, std::string("newcomer\0", 9), 700);  // started after the exec at tick 600
  auto r = reader();
  ExecDetails d;
  r.read_exec(16, at_tick(600), d);
  EXPECT_EQ(d.argv_source, ArgvSource::Unavailable);
  EXPECT_NE(d.note.find("reused"), std::string::npos);
  EXPECT_TRUE(d.argv.empty());
  EXPECT_FALSE(d.exe.has_value());
  EXPECT_FALSE(d.creds.has_value());
}

TEST_F(FakeProc, StartTimeDisagreeingWithTheTableIsReuse) {
  process(17, std::string("other\0", 6), 300);
  auto r = reader();
  ExecDetails d;
  verify::ExpectedProcess e = at_tick(600);
  e.known_start_boottime_ns = 500 * (1'000'000'000 / clock_ticks_per_second());
  r.read_exec(17, e, d);
  EXPECT_EQ(d.argv_source, ArgvSource::Unavailable);
  EXPECT_NE(d.note.find("reused"), std::string::npos);
}

TEST_F(FakeProc, KernelFieldsAreKeptAndNotReadAgain) {
  process(18, std::string("decoy\0", 6), 500);
  auto r = reader();
  ExecDetails d;
  d.argv_source = ArgvSource::Kernel;
  d.argv = {"real", "argv"};
  d.creds = Credentials{0, 0, 0, 0};
  d.set_source(Field::Creds, FieldSource::Kernel);
  r.read_exec(18, at_tick(600), d);
  EXPECT_EQ(d.argv_source, ArgvSource::Kernel);
  EXPECT_EQ(d.argv, (std::vector<std::string>{"real", "argv"}));
  EXPECT_EQ(d.creds->uid, 0u);
  EXPECT_EQ(d.cwd, "/srv");
  EXPECT_EQ(d.source(Field::Cwd), FieldSource::Procfs);
}

TEST_F(FakeProc, SnapshotAndListing) {
  process(20, std::string("a\0b\0", 4), 5);
  process(21, std::string("c\0", 2), 6);
  fs::create_directories(root_ / "self");
  fs::create_directories(root_ / "sys");
  auto r = reader();
  auto pids = r.list_pids();
  ASSERT_TRUE(pids.ok());
  std::sort(pids->begin(), pids->end());
  EXPECT_EQ(*pids, (std::vector<int32_t>{20, 21}));
  auto s = r.read_snapshot(20);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->argv, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(s->stat.start_ticks, 5u);
  EXPECT_FALSE(r.read_snapshot(99).ok());
}

}  // namespace
}  // namespace proctrail::procfs
