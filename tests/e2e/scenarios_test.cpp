// End-to-end, as root, on the real kernel: scenarios with known behaviour, on every backend
// this build has. Events are matched by pid and type, not by order.
#include <gtest/gtest.h>
#include <unistd.h>

#include "harness.hpp"
#include "skip.hpp"

namespace proctrail::e2e {
namespace {

using nlohmann::json;

class Scenarios : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (geteuid() != 0) PT_SKIP("needs-root") << "needs root";
  }
  // Runs a scenario under a monitor and returns (scenario keys, records).
  std::pair<std::map<std::string, long>, std::vector<json>> watch(
      const std::vector<std::string>& args, std::vector<std::string> extra = {}) {
    extra.insert(extra.begin(), {"--backend", GetParam()});
    auto w = e2e::watch(extra, args);
    return {std::move(w.keys), std::move(w.records)};
  }
};

std::string self_scenario() {
  return scenario_path();
}

TEST_P(Scenarios, ForkExecExitWithCode3) {
  auto [k, r] = watch({"fork-exec-exit3"});
  long parent = k.at("parent"), child = k.at("child");
  // A fork record is about the new process (schema 2): pid and tid are the child's.
  auto forks = of(r, "fork", child);
  bool found = false;
  for (const auto& f : forks) {
    found = true;
    EXPECT_EQ(f["parent_pid"], parent);
    EXPECT_EQ(f["tid"], child);
    EXPECT_EQ(f["thread"], false);
    EXPECT_EQ(f["exec_id"].get<std::string>().find("-" + std::to_string(child) + "-"), 33u)
        << "the fork's exec_id is the child's: " << f.dump();
  }
  EXPECT_TRUE(found) << "no fork of " << child;

  auto execs = of(r, "exec", child);
  ASSERT_EQ(execs.size(), 1u);
  const json& x = execs[0];
  EXPECT_EQ(x["tid"], child);
  // The child exits at once: a /proc reader may miss it, but must never report another argv.
  if (x["argv_source"] != "unavailable") {
    EXPECT_EQ(x["argv"], json({"scenario", "exit-now", "3"}));
  } else {
    EXPECT_NE(GetParam(), "bpf") << "the kernel backend always has argv";
    EXPECT_FALSE(x.contains("argv"));
  }

  auto exits = of(r, "exit", child);
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0]["exit_code"], 3);
  EXPECT_EQ(exits[0]["raw_exit_code"], 3 << 8);
  EXPECT_EQ(exits[0]["core_dumped"], false);
  EXPECT_FALSE(exits[0].contains("signal"));
  EXPECT_EQ(exits[0]["parent_pid"], parent);
  EXPECT_EQ(exits[0]["comm"], "scenario");
  EXPECT_TRUE(exits[0].contains("duration_ns"));
}

TEST_P(Scenarios, KilledBySigterm) {
  auto [k, r] = watch({"sigterm"});
  auto exits = of(r, "exit", k.at("child"));
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0]["signal"], "SIGTERM");
  EXPECT_EQ(exits[0]["raw_exit_code"], 15);
  EXPECT_FALSE(exits[0].contains("exit_code"));
}

TEST_P(Scenarios, SetuidToNobody) {
  auto [k, r] = watch({"setuid"});
  long child = k.at("child");
  auto uids = of(r, "uid", child);
  ASSERT_EQ(uids.size(), 1u);
  EXPECT_EQ(uids[0]["ruid"], 65534);
  EXPECT_EQ(uids[0]["euid"], 65534);
  auto gids = of(r, "gid", child);
  ASSERT_EQ(gids.size(), 1u);
  EXPECT_EQ(gids[0]["rgid"], 65534);
  ASSERT_EQ(of(r, "exit", child).size(), 1u);
}

TEST_P(Scenarios, ThreadThatExits) {
  auto [k, r] = watch({"thread"});
  long pid = k.at("pid"), tid = k.at("thread");
  ASSERT_NE(pid, tid);
  bool fork_seen = false;
  for (const auto& f : of(r, "fork", pid)) {
    if (f["tid"] == tid) {
      fork_seen = true;
      EXPECT_EQ(f["thread"], true);
      EXPECT_EQ(f["pid"], pid);
    }
  }
  EXPECT_TRUE(fork_seen);
  bool thread_exit = false, process_exit = false;
  for (const auto& x : of(r, "exit", pid)) {
    if (x["tid"] == tid) {
      thread_exit = true;
      EXPECT_EQ(x["thread"], true);
      EXPECT_FALSE(x.contains("duration_ns"));  // a thread's end is not the process's
    }
    if (x["tid"] == pid) process_exit = true;
  }
  EXPECT_TRUE(thread_exit);
  EXPECT_TRUE(process_exit);
}

TEST_P(Scenarios, OrphanedDoubleFork) {
  auto [k, r] = watch({"orphan"});
  long child = k.at("child"), grandchild = k.at("grandchild");
  bool fork_seen = false;
  for (const auto& f : of(r, "fork", grandchild)) fork_seen |= f["parent_pid"] == child;
  EXPECT_TRUE(fork_seen);
  ASSERT_EQ(of(r, "exit", child).size(), 1u);
  auto gx = of(r, "exit", grandchild);
  ASSERT_EQ(gx.size(), 1u);
  EXPECT_EQ(gx[0]["exit_code"], 0);
  EXPECT_NE(gx[0]["parent_pid"], child) << "the kernel reports the new parent after reparenting";
  EXPECT_GT(gx[0]["parent_pid"].get<long>(), 0);
}

TEST_P(Scenarios, ExecWithAwkwardArgvArrivesExactly) {
  auto [k, r] = watch({"argv"});
  long parent = k.at("parent"), child = k.at("child");
  auto execs = of(r, "exec", child);
  ASSERT_EQ(execs.size(), 1u);
  const json& x = execs[0];
  EXPECT_NE(x["argv_source"], "unavailable") << x.dump();
  EXPECT_EQ(x["argv"], json({"scenario", "sleep-ms", "50", "", "line1\nline2", "\x1b[31mred",
                             "it's \"quoted\""}));
  EXPECT_EQ(x["argv_truncated"], false);
  EXPECT_EQ(x["cwd"], "/tmp");
  EXPECT_EQ(x["uid"], 65534);
  EXPECT_EQ(x["euid"], 65534);
  EXPECT_EQ(x["gid"], 65534);
  EXPECT_EQ(x["parent_pid"], parent);
  EXPECT_EQ(x["exe"], self_scenario());
  EXPECT_EQ(x["comm"], "scenario");
  EXPECT_EQ(x["user"], "nobody");
}

TEST_P(Scenarios, TextOutputEscapesWhatWouldActOnATerminal) {
  Monitor m({"--backend", GetParam(), "--utc"});
  ASSERT_TRUE(m.started()) << m.errors();
  auto k = scenario({"argv"});
  ASSERT_EQ(m.stop(), 0) << m.errors();
  const std::string& out = m.output();
  for (unsigned char c : out) {
    ASSERT_TRUE(c >= 0x20 || c == '\n') << "raw control byte " << int(c) << " in text output";
  }
  std::string expected =
      "scenario sleep-ms 50 '' $'line1\\nline2' $'\\x1b[31mred' 'it'\\''s \"quoted\"'";
  EXPECT_NE(out.find(expected), std::string::npos) << out;
  EXPECT_NE(out.find("uid=65534(nobody)"), std::string::npos);
  EXPECT_NE(out.find("cwd=/tmp"), std::string::npos);
  (void)k;
}

TEST_P(Scenarios, DoubleExecNeverReportsTheSecondProgramForTheFirst) {
  int kept = 0;
  for (int round = 0; round < 20; ++round) {
    auto [k, r] = watch({"double-exec"});
    auto execs = of(r, "exec", k.at("child"));
    ASSERT_EQ(execs.size(), 2u);
    const json& first = execs[0];
    const json& second = execs[1];
    if (GetParam() == "bpf") {  // read in the kernel: nothing to miss
      EXPECT_EQ(first["argv_source"], "kernel");
      EXPECT_EQ(second["argv_source"], "kernel");
    }
    if (first["argv_source"] != "unavailable") {
      ++kept;
      EXPECT_EQ(first["argv"], json({"scenario", "exec-again", "first-image"})) << round;
    }
    if (second["argv_source"] != "unavailable") {
      ++kept;
      EXPECT_EQ(second["argv"], json({"/bin/true", "second-image"})) << round;
    }
  }
  // Withdrawing every read would pass the checks above: some must be kept.
  EXPECT_GT(kept, 0) << "every one of 40 reads was withdrawn";
}

TEST_P(Scenarios, StartRecordNamesTheBackend) {
  Monitor m({"-f", "json", "--backend", GetParam()});
  ASSERT_TRUE(m.started()) << m.errors();
  ASSERT_EQ(m.stop(), 0);
  auto r = m.records();
  ASSERT_FALSE(r.empty());
  EXPECT_EQ(r[0]["type"], "start");
  EXPECT_EQ(r[0]["backend"], GetParam());
  EXPECT_FALSE(r[0]["reason"].get<std::string>().empty());
}

TEST_P(Scenarios, SigtermFlushesAndExitsZero) {
  Monitor m({"-f", "json", "--backend", GetParam()});
  ASSERT_TRUE(m.started()) << m.errors();
  auto k = scenario({"fork-exec-exit3"});
  EXPECT_EQ(m.stop(SIGTERM), 0);
  EXPECT_EQ(of(m.records(), "exit", k.at("child")).size(), 1u) << "the last events were flushed";
  EXPECT_EQ(m.errors(), "");
}

INSTANTIATE_TEST_SUITE_P(Backends, Scenarios, ::testing::ValuesIn(backends()),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace proctrail::e2e
