// End-to-end checks of the netlink backend's guarantees, as root on the real kernel.
#include <dirent.h>
#include <gtest/gtest.h>
#include <linux/netlink.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "harness.hpp"
#include "skip.hpp"
#include "util/clock.hpp"
#include "source/netlink/cn_proc.hpp"
#include "source/netlink/netlink_source.hpp"

namespace proctrail::e2e {
namespace {

using nlohmann::json;

class Netlink : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) PT_SKIP("needs-root") << "needs root";
  }
};

// The netlink port ids of the proc connector sockets a process holds, from /proc/net/netlink.
std::vector<uint32_t> connector_ports_of(pid_t pid) {
  std::set<std::string> inodes;
  std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
  if (DIR* d = opendir(fd_dir.c_str())) {
    while (dirent* e = readdir(d)) {
      char buf[64];
      ssize_t n = readlink((fd_dir + "/" + e->d_name).c_str(), buf, sizeof buf - 1);
      if (n <= 0) continue;
      std::string target(buf, static_cast<size_t>(n));
      if (target.rfind("socket:[", 0) == 0) inodes.insert(target.substr(8, target.size() - 9));
    }
    closedir(d);
  }
  std::vector<uint32_t> ports;
  std::ifstream in("/proc/net/netlink");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string sk, eth, port, groups, rmem, wmem, dump, locks, drops, inode;
    f >> sk >> eth >> port >> groups >> rmem >> wmem >> dump >> locks >> drops >> inode;
    if (eth == "11" && inodes.count(inode))
      ports.push_back(static_cast<uint32_t>(std::stoul(port)));
  }
  return ports;
}

// The number after "rejected (not from the kernel) " in --stats output.
long rejected_count(const std::string& err) {
  const std::string key = "rejected (not from the kernel) ";
  size_t at = err.find(key);
  return at == std::string::npos ? -1 : std::stol(err.substr(at + key.size()));
}

TEST_F(Netlink, ForgedEventFromAUserProcessIsRejected) {
  Monitor m({"-f", "json", "--backend", "netlink", "--stats"});
  ASSERT_TRUE(m.started()) << m.errors();
  auto ports = connector_ports_of(m.pid());
  ASSERT_FALSE(ports.empty()) << "proctrail's connector sockets not found";

  // A root process unicasts a well-formed EXEC event, for a pid that does not exist, to every
  // socket proctrail holds (each has a socket filter; at least one lets an exec from cpu 0 in).
  constexpr int kFakePid = 3999999;
  Event fake;
  // Stamped now, so that only the sender check can keep it out (an event from before the
  // subscription would be dropped for that alone).
  fake.ts_ns = monotonic_now_ns();
  fake.cpu = 0;
  fake.pid = kFakePid;
  fake.tid = kFakePid;
  fake.data = ExecData{};
  auto bytes = cn_proc::encode_event(fake, 0);
  int s = socket(PF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR);
  ASSERT_GE(s, 0);
  sockaddr_nl self{};
  self.nl_family = AF_NETLINK;
  ASSERT_EQ(bind(s, reinterpret_cast<sockaddr*>(&self), sizeof self), 0);
  for (uint32_t port : ports) {
    sockaddr_nl to{};
    to.nl_family = AF_NETLINK;
    to.nl_pid = port;
    // A socket filter that drops the message makes sendto fail on some kernels: not an error.
    (void)sendto(s, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }
  close(s);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_EQ(m.stop(), 0);
  EXPECT_TRUE(of(m.records(), "exec", kFakePid).empty()) << "a forged event was reported";
  // The forged message did reach proctrail, and was counted as rejected.
  EXPECT_GE(rejected_count(m.errors()), 1) << m.errors();
}

struct NsCase {
  const char* name;
  std::vector<std::string> unshare;
  const char* expect;
};

class Namespaces : public ::testing::TestWithParam<NsCase> {
 protected:
  void SetUp() override {
    if (geteuid() != 0) PT_SKIP("needs-root") << "needs root";
  }
};

TEST_P(Namespaces, FailWithOneClearLine) {
  std::vector<std::string> argv = {"unshare"};
  for (const auto& a : GetParam().unshare) argv.push_back(a);
  argv.insert(argv.end(), {proctrail_path(), "--backend", "netlink", "-f", "json"});
  CommandResult r = run(argv, 15000);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out, "") << "no silent empty output: nothing at all on stdout";
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("proctrail: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(GetParam().expect), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(All, Namespaces,
                         ::testing::Values(NsCase{"Network", {"-n"}, "initial network namespace"},
                                           NsCase{"Pid", {"-p", "-f"}, "initial pid namespace"},
                                           NsCase{"PidWithItsOwnProc",
                                                  {"-p", "-f", "--mount-proc"},
                                                  "initial pid namespace"},
                                           NsCase{"User", {"-U", "-r"}, "initial user namespace"}),
                         [](const auto& p) { return std::string(p.param.name); });

TEST_F(Netlink, UnprivilegedListenerFollowsTheKernelsRule) {
  const bool allowed = unprivileged_listen_allowed();
  // Without capabilities the listener must still be told apart.
  CommandResult r = run_as_nobody({"--backend", "netlink", "-f", "json", "--priority", "normal"});
  if (allowed) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("\"type\":\"start\""), std::string::npos) << r.out;
  } else {
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("CAP_NET_ADMIN"), std::string::npos) << r.err;
  }
}

TEST_F(Netlink, OverflowBecomesLostRecordsAndAResync) {
  Monitor m({"-f", "json", "--backend", "netlink", "--rcvbuf", "4K", "--stats"});
  ASSERT_TRUE(m.started()) << m.errors();
  // Freeze the reader and let the kernel fill its tiny buffer.
  ASSERT_EQ(kill(m.pid(), SIGSTOP), 0);
  scenario({"spawn", "300"});
  ASSERT_EQ(kill(m.pid(), SIGCONT), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  scenario({"spawn", "5"});  // traffic after the loss, to show the stream goes on
  ASSERT_EQ(m.stop(), 0) << m.errors();
  auto r = m.records();
  // Each spawned child: a fork, an exec and an exit; each of the two spawners: the same. The
  // counts must add up, not merely cover the shortfall.
  expect_accounted(account(r), 3 * (300 + 5 + 2), 100 + 9);
  bool overflow = false, resync = false;
  for (const auto& x : r) {
    if (x["type"] == "lost") {
      EXPECT_FALSE(x["count"].is_null()) << "the kernel counts what a socket drops: " << x.dump();
      overflow |= x["reason"].get<std::string>().find("ENOBUFS") != std::string::npos &&
                  x["count"].is_number() && x["count"].get<long>() > 0;
    }
    if (x["type"] == "resync") resync = true;
  }
  EXPECT_TRUE(overflow) << "the overflow must appear in the stream, with its count";
  EXPECT_TRUE(resync) << "the table must be rebuilt after a loss";
  // Events keep flowing after the loss: the second spawn's exits come after the first loss.
  size_t first_loss = r.size();
  for (size_t i = 0; i < r.size() && first_loss == r.size(); ++i) {
    if (r[i]["type"] == "lost") first_loss = i;
  }
  bool exit_after = false;
  for (size_t i = first_loss; i < r.size(); ++i) exit_after |= r[i]["type"] == "exit";
  EXPECT_TRUE(exit_after) << "events keep flowing after the loss";
}

// Whether the running kernel filters proc connector events by type (Linux 6.6 proc_input),
// asked of the kernel itself.
bool kernel_filters_types() {
  NetlinkOptions o;
  o.events = EventMask();
  o.events.add(EventType::Exec);
  o.max_exec_readers = 0;
  NetlinkSource probe(o);
  return probe.start().ok() && probe.kernel_filtering();
}

TEST_F(Netlink, OnlySelectedEventsArriveAndTheKernelFiltersWhereItCan) {
  Monitor m({"-f", "seed", "-e", "exec", "--backend", "netlink", "-v"});
  ASSERT_TRUE(m.started()) << m.errors();
  scenario({"setuid"});
  scenario({"fork-exec-exit3"});
  ASSERT_EQ(m.stop(), 0);
  std::istringstream in(m.output());
  std::string line;
  int execs = 0;
  while (std::getline(in, line)) {
    if (line == "set mcast listen ok") continue;
    EXPECT_EQ(line.rfind("exec: ", 0), 0u) << line;
    ++execs;
  }
  EXPECT_GE(execs, 1);
  if (!kernel_filters_types()) {
    EXPECT_NE(m.errors().find("the kernel ignored the Linux 6.6 filtered subscription"),
              std::string::npos)
        << m.errors();
    PT_SKIP("no-proc-input") << "this kernel does not filter by type (no Linux 6.6 proc_input): only the "
                    "socket filters were checked";
  }
  EXPECT_NE(m.errors().find("event types filtered in the kernel"), std::string::npos) << m.errors();
}

TEST_F(Netlink, SeedFormatPrintsTheSamplesLines) {
  Monitor m({"-f", "seed", "--backend", "netlink"});
  ASSERT_TRUE(m.started()) << m.errors();
  auto k = scenario({"fork-exec-exit3"});
  ASSERT_EQ(m.stop(), 0);
  const std::string& out = m.output();
  EXPECT_EQ(out.rfind("set mcast listen ok\n", 0), 0u) << out;
  std::string c = std::to_string(k.at("child")), p = std::to_string(k.at("parent"));
  EXPECT_NE(
      out.find("fork: parent tid=" + p + " pid=" + p + " -> child tid=" + c + " pid=" + c + "\n"),
      std::string::npos);
  EXPECT_NE(out.find("exec: tid=" + c + " pid=" + c + "\n"), std::string::npos);
  EXPECT_NE(out.find("exit: tid=" + c + " pid=" + c + " exit_code=768\n"), std::string::npos);
}

TEST_F(Netlink, ClosedPipeEndsQuietly) {
  // head takes one line and goes; proctrail notices at its next write, which the processes
  // started in the loop cause, and must then end quietly with status 0.
  CommandResult r =
      run({"bash", "-c",
           "(timeout 15 " + proctrail_path() +
               " --backend netlink -f json; echo \"rc=$?\" >&2) | head -n 1 >/dev/null & "
               "for i in $(seq 400); do /bin/true; sleep 0.02; "
               "if ! pgrep -f '^" +
               proctrail_path() +
               " --backend netlink' >/dev/null; "
               "then break; fi; done; wait"});
  EXPECT_NE(r.err.find("rc=0"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("error"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace proctrail::e2e
