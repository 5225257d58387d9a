// End-to-end checks of the eBPF backend, as root on the real kernel.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

#include "harness.hpp"

namespace proctrail::e2e {
namespace {

using nlohmann::json;

class Bpf : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
  }
  std::vector<json> watch(const std::vector<std::string>& scenario_args,
                          std::map<std::string, long>* keys, std::vector<std::string> extra = {}) {
    std::vector<std::string> opts = {"-f", "json", "--backend", "bpf"};
    opts.insert(opts.end(), extra.begin(), extra.end());
    Monitor m(opts);
    EXPECT_TRUE(m.started()) << m.errors();
    *keys = scenario(scenario_args);
    EXPECT_EQ(m.stop(), 0) << m.errors();
    return m.records();
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
  // The exit record takes the command from the exec, not from the rewritten memory.
  auto exits = of(r, "exit", k.at("child"));
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0]["argv"], execs[0]["argv"]);
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
  EXPECT_EQ(x["argv_bytes"], 9 + 9 + 2 + 102401);  // "scenario\0exit-now\00\0" + the argument
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

TEST_F(Bpf, WorksWithTracefsUnmounted) {
  const bool was_mounted = tracefs_mounted();
  if (was_mounted) {
    ASSERT_EQ(umount2("/sys/kernel/tracing", MNT_DETACH), 0);
  }
  ASSERT_FALSE(tracefs_mounted());
  std::map<std::string, long> k;
  auto r = watch({"fork-exec-exit3"}, &k);
  if (was_mounted) mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr);
  auto execs = of(r, "exec", k.at("child"));
  ASSERT_EQ(execs.size(), 1u);
  EXPECT_EQ(execs[0]["argv"], json({"scenario", "exit-now", "3"}));
  EXPECT_EQ(of(r, "exit", k.at("child")).at(0)["exit_code"], 3);
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
  const std::vector<std::string> nobody = {"setpriv", "--reuid=65534", "--regid=65534",
                                           "--clear-groups", "--inh-caps=-all"};
  auto as_nobody = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = nobody;
    argv.insert(argv.end(), {"timeout", "--preserve-status", "-s", "INT", "1", proctrail_path()});
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  };
  CommandResult bpf = as_nobody({"--backend", "bpf", "-f", "json", "--priority", "normal"});
  EXPECT_EQ(bpf.exit_code, 1);
  EXPECT_EQ(bpf.out, "");
  EXPECT_EQ(std::count(bpf.err.begin(), bpf.err.end(), '\n'), 1) << bpf.err;
  EXPECT_NE(bpf.err.find("needs root"), std::string::npos) << bpf.err;

  CommandResult autob = as_nobody({"-f", "json", "--priority", "normal"});
  EXPECT_EQ(autob.exit_code, 0) << autob.err;
  auto first = json::parse(autob.out.substr(0, autob.out.find('\n')));
  EXPECT_EQ(first["backend"], "netlink");
  EXPECT_NE(first["reason"].get<std::string>().find("eBPF unavailable"), std::string::npos);
}

// The same scenarios watched by both backends at once give the same events.
struct Key {
  std::string type;
  long pid, tid, other;
  std::string detail;
  bool operator<(const Key& o) const {
    return std::tie(type, pid, tid, other, detail) <
           std::tie(o.type, o.pid, o.tid, o.other, o.detail);
  }
};

std::set<Key> normalise(const std::vector<json>& records, const std::set<long>& pids) {
  std::set<Key> out;
  for (const auto& r : records) {
    long pid = r.value("pid", 0L);
    if (!pids.count(pid)) continue;
    std::string type = r["type"];
    Key k{type, pid, r.value("tid", 0L), 0, ""};
    if (type == "fork") {
      k.other = r["child_tid"];
      k.detail = r["parent_pid"].dump();
    } else if (type == "exec") {
      k.detail = r.value("argv", json()).dump() + r.value("uid", json()).dump() +
                 r.value("ppid", json()).dump() + r.value("cwd", json()).dump();
    } else if (type == "exit") {
      k.detail = r["raw_exit_code"].dump() + r["exit_signal"].dump() + r["parent_pid"].dump();
    } else if (type == "uid" || type == "gid") {
      k.detail = r.value("ruid", json()).dump() + r.value("euid", json()).dump() +
                 r.value("rgid", json()).dump() + r.value("egid", json()).dump();
    } else {
      continue;
    }
    out.insert(k);
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
    EXPECT_EQ(a.size(), b.size()) << name;
    for (const auto& x : a) {
      EXPECT_TRUE(b.count(x)) << name << ": netlink has " << x.type << " pid " << x.pid << " tid "
                              << x.tid << " " << x.detail << ", bpf does not";
    }
    for (const auto& x : b) {
      EXPECT_TRUE(a.count(x)) << name << ": bpf has " << x.type << " pid " << x.pid << " tid "
                              << x.tid << " " << x.detail << ", netlink does not";
    }
  }
}

}  // namespace
}  // namespace proctrail::e2e
