// End-to-end checks of the eBPF backend, as root on the real kernel.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <thread>

#include "harness.hpp"
#include "skip.hpp"

namespace proctrail::e2e {
namespace {

using nlohmann::json;

class Bpf : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) PT_SKIP("needs-root") << "needs root";
  }
  static std::vector<json> watch(const std::vector<std::string>& scenario_args,
                                 std::map<std::string, long>* keys,
                                 std::vector<std::string> extra = {}) {
    extra.insert(extra.begin(), {"--backend", "bpf"});
    auto w = e2e::watch(extra, scenario_args);
    *keys = std::move(w.keys);
    return std::move(w.records);
  }
};

bool tracefs_mounted() {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(" - tracefs ") != std::string::npos) return true;
  }
  return false;
}

TEST_F(Bpf, ArgvRewrittenAfterExecIsReportedAsExeced) {
  std::map<std::string, long> k;
  auto r = watch({"rewrite-argv"}, &k);
  auto execs = of(r, "exec", k.at("child"));
  ASSERT_EQ(execs.size(), 1u);
  EXPECT_EQ(execs[0]["argv_source"], "kernel");
  EXPECT_EQ(execs[0]["argv"], json({"scenario", "rewrite-child", "secret-original-argument"}));
  // The exit record joins that exec, not the rewritten memory.
  auto exits = of(r, "exit", k.at("child"));
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0]["exec_id"], execs[0]["exec_id"]);
}

TEST_F(Bpf, TwoThousandArgumentsArriveWhole) {
  std::map<std::string, long> k;
  auto r = watch({"many-args", "2048"}, &k);
  auto execs = of(r, "exec", k.at("child"));
  ASSERT_EQ(execs.size(), 1u);
  const json& x = execs[0];
  ASSERT_EQ(x["argv"].size(), 2051u);
  EXPECT_EQ(x["argc"], 2051);
  EXPECT_EQ(x["argv_truncated"], false);
  size_t bytes = 0;
  for (const auto& a : x["argv"]) bytes += a.get<std::string>().size() + 1;
  EXPECT_EQ(x["argv_bytes"], bytes);
  EXPECT_EQ(x["argv"][2050], "a2047");
}

TEST_F(Bpf, HundredKibArgumentFitsTheDefaultLimit) {
  std::map<std::string, long> k;
  auto r = watch({"big-arg", "102400"}, &k);
  auto execs = of(r, "exec", k.at("child"));
  ASSERT_EQ(execs.size(), 1u);
  const json& x = execs[0];
  EXPECT_EQ(x["argv_truncated"], false);
  ASSERT_EQ(x["argv"].size(), 4u);
  EXPECT_EQ(x["argv"][3], std::string(102400, 'z'));
  EXPECT_EQ(x["argv_bytes"], 9 + 9 + 2 + 102401);  // "scenario\0sleep-ms\09\0" + the argument
}

TEST_F(Bpf, HundredKibArgumentBeyondALowerLimitIsFlaggedWithItsRealLength) {
  std::map<std::string, long> k;
  auto r = watch({"big-arg", "102400"}, &k, {"--max-argv-bytes", "32K"});
  auto execs = of(r, "exec", k.at("child"));
  ASSERT_EQ(execs.size(), 1u);
  const json& x = execs[0];
  EXPECT_EQ(x["argv_truncated"], true);
  EXPECT_EQ(x["argv_bytes"], 9 + 9 + 2 + 102401);
  EXPECT_EQ(x["argc"], 4);
  ASSERT_EQ(x["argv"].size(), 4u);
  EXPECT_EQ(x["argv"][0], "scenario");
  size_t kept = 0;
  for (const auto& a : x["argv"]) kept += a.get<std::string>().size() + 1;
  EXPECT_EQ(kept - 1, 32u * 1024) << "exactly the limit is kept (the last NUL is not there)";
}

// Unmounts tracefs wherever it is mounted for the test's length, and puts it back.
class NoTracefs {
 public:
  NoTracefs() {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
      if (line.find(" - tracefs ") == std::string::npos) continue;
      std::istringstream f(line);
      std::string id, parent, devno, root, point;
      f >> id >> parent >> devno >> root >> point;
      if (umount2(point.c_str(), MNT_DETACH) == 0) points_.push_back(point);
    }
  }
  ~NoTracefs() {
    for (const auto& p : points_) mount("nodev", p.c_str(), "tracefs", 0, nullptr);
  }

 private:
  std::vector<std::string> points_;
};

// Each child of the scenario (by its fork records, two threads each) ends once, with status 0,
// and its other thread's exit is a thread's. When the main thread is known to leave last (it
// joined the other), the end is the main thread's. (The other thread's exit can still be traced
// after the end, when both threads left together.)
void ExpectEachChildEndsOnceAndLast(const std::vector<json>& r, long parent, size_t n,
                                    bool main_thread_last) {
  std::set<long> children;
  for (const auto& f : r) {
    if (f["type"] == "fork" && f["thread"] == false && f["parent_pid"] == parent) {
      children.insert(f["pid"].get<long>());
    }
  }
  ASSERT_EQ(children.size(), n);
  int lost_ends = 0;
  for (long c : children) {
    int ends = 0, thread_exits = 0;
    for (const auto& x : of(r, "exit", c)) {
      if (x["thread"] == true) {
        ++thread_exits;
      } else {
        ++ends;
        EXPECT_EQ(x["exit_code"], 0) << x.dump();
        if (main_thread_last) {
          EXPECT_EQ(x["tid"], c) << "the process ended with its thread: " << x.dump();
        }
      }
    }
    lost_ends += ends == 0;
    EXPECT_EQ(ends, 1) << "process " << c;
    EXPECT_EQ(thread_exits, 1) << "process " << c << ": its other thread's exit";
  }
  EXPECT_EQ(lost_ends, 0);
}

// A thread that has been joined can still be on its way out when the main thread leaves, and
// then both find the process's live count at zero. The process ends with its main thread, the
// one the kernel's wait(2) reports: the thread's exit stays a thread's.
TEST_F(Bpf, AJoinedThreadLateOutOfTheKernelIsNotTheProcesssEnd) {
  std::map<std::string, long> k;
  auto r = watch({"join-then-exit", "300"}, &k);
  ExpectEachChildEndsOnceAndLast(r, k.at("parent"), 300, true);
}

// Following a tree (-p, the run mode), the kernel side forgets a process once it ends: the
// thread that reports the end must be the one that forgets it, or the main thread's exit and
// the process's end are dropped as not followed. Both threads of each child here exit at once:
// after a join the main thread is the last; after a worker's exit_group either can be.
TEST_F(Bpf, FollowingATreeEveryChildStillEndsOnce) {
  for (const char* scenario : {"worker-ends-group", "join-then-exit"}) {
    SCOPED_TRACE(scenario);
    // The records in a file of their own: the scenario's own lines ("parent=...") go to the
    // standard output it shares with proctrail, and once landed on top of the start record.
    const std::string out =
        "/tmp/pt-follow-" + std::to_string(getpid()) + "-" + scenario + ".jsonl";
    CommandResult res = run({proctrail_path(), "-b", "bpf", "-f", "json", "-o", out, "--",
                             scenario_path(), scenario, "300"},
                            60000);
    std::ifstream in(out);
    const std::string records((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
    ::unlink(out.c_str());
    ASSERT_EQ(res.exit_code, 0) << res.err;
    std::vector<json> r;
    long parent = 0;
    for (const auto& x : parse_records(records)) {
      if (x["type"] == "exec" && x.contains("argv") && x["argv"].size() == 3 &&
          x["argv"][1] == scenario) {
        parent = x["pid"].get<long>();
      }
      r.push_back(x);
    }
    ASSERT_NE(parent, 0) << "the scenario's exec";
    ExpectEachChildEndsOnceAndLast(r, parent, 300, std::string(scenario) == "join-then-exit");
  }
}

TEST_F(Bpf, WorksWithTracefsUnmounted) {
  NoTracefs unmounted;
  ASSERT_FALSE(tracefs_mounted());
  std::map<std::string, long> k;
  auto r = watch({"fork-exec-exit3"}, &k);
  auto execs = of(r, "exec", k.at("child"));
  ASSERT_EQ(execs.size(), 1u);
  EXPECT_EQ(execs[0]["argv"], json({"scenario", "exit-now", "3"}));
  EXPECT_EQ(of(r, "exit", k.at("child")).at(0)["exit_code"], 3);
}

// A filesystem's root dentry is never hashed, like an unlinked file's: a process sitting at a
// mount root must not be reported with a deleted cwd.
TEST_F(Bpf, CwdAtAMountRootIsNotDeleted) {
  char here[4096];
  ASSERT_NE(getcwd(here, sizeof here), nullptr);
  for (const char* dir : {"/", "/proc"}) {
    ASSERT_EQ(chdir(dir), 0) << dir;
    std::map<std::string, long> k;
    auto r = watch({"fork-exec-exit3"}, &k);
    ASSERT_EQ(chdir(here), 0);
    auto execs = of(r, "exec", k.at("child"));
    ASSERT_EQ(execs.size(), 1u) << dir;
    EXPECT_EQ(execs[0]["cwd"], dir);
    EXPECT_EQ(execs[0]["sources"]["cwd"], "kernel");
  }
}

TEST_F(Bpf, AutoChoosesBpfAndSaysWhy) {
  Monitor m({"-f", "json"});
  ASSERT_TRUE(m.started()) << m.errors();
  ASSERT_EQ(m.stop(), 0);
  auto r = m.records();
  ASSERT_FALSE(r.empty());
  EXPECT_EQ(r[0]["type"], "start");
  EXPECT_EQ(r[0]["backend"], "bpf");
  EXPECT_NE(r[0]["reason"].get<std::string>().find("automatically"), std::string::npos);
}

TEST_F(Bpf, WithoutPrivilegeBpfFailsClearlyAndAutoFallsBack) {
  CommandResult bpf = run_as_nobody({"--backend", "bpf", "-f", "json", "--priority", "normal"});
  EXPECT_EQ(bpf.exit_code, 1);
  EXPECT_EQ(bpf.out, "");
  EXPECT_EQ(std::count(bpf.err.begin(), bpf.err.end(), '\n'), 1) << bpf.err;
  EXPECT_NE(bpf.err.find("needs root"), std::string::npos) << bpf.err;

  if (!unprivileged_listen_allowed()) {
    PT_SKIP("no-unprivileged-listen")
        << "the fallback half needs a kernel that lets anyone listen to the proc "
           "connector (some kernels from 6.6 on): this one refuses";
  }
  CommandResult autob = run_as_nobody({"-f", "json", "--priority", "normal"});
  EXPECT_EQ(autob.exit_code, 0) << autob.err;
  auto first = parse_record(autob.out.substr(0, autob.out.find('\n')));
  EXPECT_EQ(first["backend"], "netlink");
  EXPECT_NE(first["reason"].get<std::string>().find("eBPF unavailable"), std::string::npos);
}

// The same scenarios watched by both backends at once give the same events: the same set of
// (type, pid, tid) records with the same kernel facts. An exec's /proc details are compared
// where the netlink backend could read them (a process may exit before it does).
struct Key {
  std::string type;
  long pid, tid, other;
  bool operator<(const Key& o) const {
    return std::tie(type, pid, tid, other) < std::tie(o.type, o.pid, o.tid, o.other);
  }
};

std::map<Key, std::string> normalise(const std::vector<json>& records, const std::set<long>& pids) {
  std::map<Key, std::string> out;
  for (const auto& r : records) {
    long pid = r.value("pid", 0L);
    if (!pids.count(pid)) continue;
    std::string type = r["type"];
    Key k{type, pid, r.value("tid", 0L), 0};
    std::string detail;
    if (type == "fork") {
      k.other = r["parent_tid"];
      detail = r["parent_pid"].dump();
    } else if (type == "exec") {
      if (r["argv_source"] != "unavailable") {
        detail = r["argv"].dump() + r.value("uid", json()).dump() +
                 r.value("parent_pid", json()).dump() + r.value("cwd", json()).dump();
      }
    } else if (type == "exit") {
      detail = r["raw_exit_code"].dump() + "|" + r.value("parent_pid", json()).dump();
    } else if (type == "uid" || type == "gid") {
      detail = r.value("ruid", json()).dump() + r.value("euid", json()).dump() +
               r.value("rgid", json()).dump() + r.value("egid", json()).dump();
    } else {
      continue;
    }
    out[k] = detail;
  }
  return out;
}

TEST_F(Bpf, BothBackendsReportTheSameEvents) {
  for (const char* name : {"fork-exec-exit3", "sigterm", "setuid", "thread", "orphan", "argv"}) {
    Monitor nl({"-f", "json", "--backend", "netlink"});
    Monitor bp({"-f", "json", "--backend", "bpf"});
    ASSERT_TRUE(nl.started() && bp.started()) << nl.errors() << bp.errors();
    auto k = scenario({name});
    ASSERT_EQ(nl.stop(), 0);
    ASSERT_EQ(bp.stop(), 0);
    std::set<long> pids;
    for (const auto& [key, value] : k) {
      if (key != "thread") pids.insert(value);
    }
    auto a = normalise(nl.records(), pids), b = normalise(bp.records(), pids);
    EXPECT_FALSE(a.empty()) << name;
    for (const auto& [key, detail] : a) {
      auto it = b.find(key);
      if (it == b.end()) {
        ADD_FAILURE() << name << ": netlink has " << key.type << " pid " << key.pid << " tid "
                      << key.tid << ", bpf does not";
      } else if (key.type == "exit" && detail.size() > 5 &&
                 detail.compare(detail.size() - 5, 5, "|null") == 0) {
        // The proc connector sends an exit after exit_notify(): a parent on another CPU may
        // have reaped the child by then, and the kernel leaves the parent out (seen once
        // under qemu on 6.1). The exit status must still agree.
        EXPECT_EQ(detail.substr(0, detail.size() - 4),
                  it->second.substr(0, it->second.find('|') + 1))
            << name << ": " << key.type << " pid " << key.pid;
      } else if (!detail.empty() || key.type != "exec") {
        EXPECT_EQ(detail, it->second) << name << ": " << key.type << " pid " << key.pid;
      }
    }
    for (const auto& [key, detail] : b) {
      EXPECT_TRUE(a.count(key)) << name << ": bpf has " << key.type << " pid " << key.pid << " tid "
                                << key.tid << ", netlink does not";
    }
  }
}

TEST_F(Bpf, RingBufferOverflowBecomesLostRecords) {
  Monitor m({"-f", "json", "--backend", "bpf", "--ringbuf", "4K", "--stats"});
  ASSERT_TRUE(m.started()) << m.errors();
  ASSERT_EQ(kill(m.pid(), SIGSTOP), 0);
  scenario({"spawn", "200"});
  ASSERT_EQ(kill(m.pid(), SIGCONT), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(m.stop(), 0) << m.errors();
  const auto records = m.records();
  // Each spawned child and the spawner: a fork, an exec and an exit. The counts add up.
  expect_accounted(account(records), 3 * (200 + 1), 100 + 6);
  uint64_t lost = 0;
  for (const auto& r : records) {
    if (r["type"] == "lost" && !r["count"].is_null() &&
        r["reason"].get<std::string>().find("eBPF ring buffer") != std::string::npos) {
      lost += r["count"].get<uint64_t>();
    }
  }
  EXPECT_GT(lost, 0u) << "a 4 KiB ring cannot hold 200 execs' records";
  EXPECT_NE(m.errors().find("lost " + std::to_string(lost) + " counted"), std::string::npos)
      << m.errors();
}

}  // namespace
}  // namespace proctrail::e2e
