// Who may run proctrail and what it shows them (issue 16). Root, and members of the monitor
// group (PROCTRAIL_GROUP, "proctrail" by default), see every process. Anyone else, also with a
// setcap'd binary, sees only processes that are their own (real and effective uid), which is
// what /proc shows them of the machine with hidepid; and may not impose machine-wide costs: no
// failed-exec watching (it slows every system call), no buffers beyond stated limits, at most
// four instances at once.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "harness.hpp"
#include "skip.hpp"

namespace proctrail::e2e {
namespace {

using nlohmann::json;

std::string unique(const std::string& what) {
  static int n = 0;
  return "pt-" + what + "-" + std::to_string(getpid()) + "-" + std::to_string(++n);
}

struct PlainRun {
  CommandResult result;
  std::vector<json> records;
  std::string own_mark, root_mark;
};

// `binary` (proctrail or a setcap'd copy) run by user nobody, in `groups` (none by default),
// for about two seconds (timeout -s INT). Meanwhile root and nobody each run a marked process
// that lives a second; root's in a directory nobody may enter.
PlainRun plain_user_run(const std::string& binary, const std::vector<std::string>& args,
                        const std::string& groups = "") {
  PlainRun p;
  p.own_mark = unique("own");
  p.root_mark = unique("root");
  const std::string priv = "/tmp/" + unique("private");
  std::filesystem::create_directories(priv);
  chmod(priv.c_str(), 0700);
  std::vector<std::string> argv = {"setpriv", "--reuid=65534", "--regid=65534"};
  if (groups.empty()) {
    argv.emplace_back("--clear-groups");
  } else {
    argv.push_back("--groups=" + groups);
  }
  for (const char* a : {"timeout", "--preserve-status", "-s", "INT"}) argv.emplace_back(a);
  argv.push_back(std::to_string(2 * time_scale()));
  argv.push_back(binary);
  argv.insert(argv.end(), args.begin(), args.end());
  pid_t worker = fork();
  if (worker == 0) {
    // Once the plain user's monitor has had time to start.
    usleep(static_cast<useconds_t>(1'000'000 * time_scale()));
    pid_t own = fork();
    if (own == 0) {
      // Becomes nobody before its one marked exec.
      if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
      if (chdir("/tmp") != 0) _exit(2);
      execl("/bin/sh", "sh", "-c", "sleep 1", p.own_mark.c_str(), nullptr);
      _exit(127);
    }
    if (chdir(priv.c_str()) != 0) _exit(2);
    pid_t root = fork();
    if (root == 0) {
      execl("/bin/sh", "sh", "-c", "sleep 1", p.root_mark.c_str(), nullptr);
      _exit(127);
    }
    waitpid(own, nullptr, 0);
    waitpid(root, nullptr, 0);
    _exit(0);
  }
  p.result = run(argv);
  waitpid(worker, nullptr, 0);
  std::filesystem::remove_all(priv);
  p.records = parse_records(p.result.out);
  return p;
}

// The exec records whose argv ends with `mark`.
std::vector<json> execs_marked(const std::vector<json>& records, const std::string& mark) {
  std::vector<json> v;
  for (const auto& x : records) {
    if (x["type"] == "exec" && !x.value("argv", json::array()).empty() &&
        x["argv"].back() == mark) {
      v.push_back(x);
    }
  }
  return v;
}

// A copy of the binary with the capabilities the setcap install gives, in a directory on a
// file system that keeps them; removed with the object.
class SetcapCopy {
 public:
  SetcapCopy() {
    dir_ = "/tmp/" + unique("setcap");
    std::filesystem::create_directories(dir_);
    chmod(dir_.c_str(), 0755);
    struct statvfs fs {};
    if (statvfs(dir_.c_str(), &fs) == 0 && (fs.f_flag & ST_NOSUID)) {
      why_not_ = "/tmp is mounted nosuid here, which ignores file capabilities";
      return;
    }
    path_ = dir_ + "/proctrail";
    std::filesystem::copy_file(proctrail_path(), path_);
    chmod(path_.c_str(), 0755);
    CommandResult cap =
        run({"setcap", "cap_bpf,cap_perfmon,cap_net_admin,cap_sys_ptrace,cap_sys_nice+ep", path_});
    if (cap.exit_code != 0)
      why_not_ = "this file system does not keep file capabilities: " + cap.err;
  }
  ~SetcapCopy() { std::filesystem::remove_all(dir_); }
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] const std::string& why_not() const { return why_not_; }

 private:
  std::string dir_, path_, why_not_;
};

class Privileges : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) PT_SKIP("needs-root") << "needs root (to become nobody, and setcap)";
  }
};

// Linux >= 6.6 lets anyone listen to the proc connector. A plain user's proctrail then shows
// that user's own processes, with every field, and nothing of root's.
TEST_F(Privileges, APlainUserSeesOnlyItsOwnProcesses) {
  if (!unprivileged_listen_allowed()) {
    PT_SKIP("no-unprivileged-listen")
        << "this kernel does not let unprivileged users listen; "
           "Netlink.UnprivilegedListenerFollowsTheKernelsRule checks the error";
  }
  auto p = plain_user_run(proctrail_path(),
                          {"-b", "netlink", "-f", "json", "--priority", "normal", "-e", "exec"});
  EXPECT_EQ(p.result.exit_code, 0) << p.result.err;
  ASSERT_FALSE(p.records.empty()) << p.result.err;
  EXPECT_EQ(p.records[0]["scope"], "own") << p.records[0].dump();
  auto own = execs_marked(p.records, p.own_mark);
  ASSERT_EQ(own.size(), 1u) << p.result.out;
  EXPECT_EQ(own[0]["cwd"], "/tmp") << "a user's own process: every field " << own[0].dump();
  EXPECT_TRUE(execs_marked(p.records, p.root_mark).empty())
      << "root's process is not the plain user's to see: " << p.result.out;
}

// The setcap install: the binary's capabilities do not widen what a plain user sees.
TEST_F(Privileges, FileCapabilitiesShowAPlainUserOnlyItsOwnProcesses) {
#ifndef PROCTRAIL_E2E_BPF
  PT_SKIP("no-bpf-backend") << "this build has no eBPF backend";
#endif
  SetcapCopy bin;
  if (!bin.why_not().empty()) PT_SKIP("no-file-capabilities") << bin.why_not();
  auto p = plain_user_run(bin.path(), {"-b", "bpf", "-f", "json", "-e", "exec"});
  EXPECT_EQ(p.result.exit_code, 0) << p.result.err;
  ASSERT_FALSE(p.records.empty()) << p.result.err;
  EXPECT_EQ(p.records[0]["backend"], "bpf");
  EXPECT_EQ(p.records[0]["scope"], "own");
  auto own = execs_marked(p.records, p.own_mark);
  ASSERT_EQ(own.size(), 1u) << p.result.out;
  EXPECT_EQ(own[0]["cwd"], "/tmp");
  EXPECT_TRUE(execs_marked(p.records, p.root_mark).empty())
      << "root's argv and cwd are not the plain user's to see: " << p.result.out;
}

// The record starts with the processes already running (the snapshot): for a plain user,
// only its own, whatever the binary's capabilities; root's process running before it is not
// in the file the plain user can read.
TEST_F(Privileges, APlainUsersRecordingHoldsOnlyItsOwnProcesses) {
#ifndef PROCTRAIL_E2E_BPF
  PT_SKIP("no-bpf-backend") << "this build has no eBPF backend";
#endif
  SetcapCopy bin;
  if (!bin.why_not().empty()) PT_SKIP("no-file-capabilities") << bin.why_not();
  const std::string dir = "/tmp/" + unique("record-dir");
  std::filesystem::create_directories(dir);
  ASSERT_EQ(chown(dir.c_str(), 65534, 65534), 0);
  chmod(dir.c_str(), 0700);
  const std::string db = dir + "/mine.db", secret = unique("root-secret");
  pid_t root_proc = fork();
  if (root_proc == 0) {
    execl("/bin/sh", "sh", "-c", "sleep 4", secret.c_str(), nullptr);
    _exit(127);
  }
  settle(100);
  auto p = plain_user_run(bin.path(), {"-b", "bpf", "-f", "json", "-e", "exec", "--record", db});
  kill(root_proc, SIGTERM);
  waitpid(root_proc, nullptr, 0);
  EXPECT_EQ(p.result.exit_code, 0) << p.result.err;
  auto rows = [&](const std::string& sql) {
    CommandResult r = run({"sqlite3", db, sql});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  };
  EXPECT_NE(rows("SELECT count(*) FROM processes WHERE snapshot = 1 AND uid = 65534"), "0\n")
      << "its own processes running at the start (its proctrail) are in the snapshot";
  EXPECT_EQ(rows("SELECT count(*) FROM processes WHERE uid IS NOT NULL AND uid <> 65534"), "0\n")
      << rows("SELECT pid, uid, argv FROM processes WHERE uid <> 65534 LIMIT 5");
  EXPECT_EQ(rows("SELECT count(*) FROM processes WHERE argv LIKE '%" + secret + "%'"), "0\n");
  std::filesystem::remove_all(dir);
}

// Membership of the monitor group is the admin's explicit opt-in to the machine-wide view.
TEST_F(Privileges, TheMonitorGroupSeesEveryUsersProcesses) {
#ifndef PROCTRAIL_E2E_BPF
  PT_SKIP("no-bpf-backend") << "this build has no eBPF backend";
#endif
  SetcapCopy bin;
  if (!bin.why_not().empty()) PT_SKIP("no-file-capabilities") << bin.why_not();
  const gid_t group = monitor_group();
  ASSERT_NE(group, static_cast<gid_t>(-1)) << "cannot create group " PROCTRAIL_GROUP;
  auto p =
      plain_user_run(bin.path(), {"-b", "bpf", "-f", "json", "-e", "exec"}, std::to_string(group));
  EXPECT_EQ(p.result.exit_code, 0) << p.result.err;
  ASSERT_FALSE(p.records.empty()) << p.result.err;
  EXPECT_EQ(p.records[0]["scope"], "all");
  EXPECT_EQ(execs_marked(p.records, p.root_mark).size(), 1u) << p.result.out;
  EXPECT_EQ(execs_marked(p.records, p.own_mark).size(), 1u) << p.result.out;
}

// --env: root reads every user's environment (it keeps CAP_DAC_READ_SEARCH for it). Without
// that capability another user's environment is not silently dropped: the start record names
// the field as missing and each such exec's note says why.
TEST_F(Privileges, EnvironmentsOfOtherUsersAreReadOrSaidToBeMissing) {
  const std::string mark = unique("env");
  Monitor root({"-f", "json", "-e", "exec", "--env"});
  ASSERT_TRUE(root.started()) << root.errors();
  pid_t p = fork();
  if (p == 0) {
    if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    char* env[] = {const_cast<char*>("SECRET_X=nobodys"), nullptr};
    execle("/bin/sh", "sh", "-c", "sleep 0.3", mark.c_str(), nullptr, env);
    _exit(127);
  }
  waitpid(p, nullptr, 0);
  ASSERT_EQ(root.stop(), 0) << root.errors();
  auto execs = execs_marked(root.records(), mark);
  ASSERT_EQ(execs.size(), 1u);
  EXPECT_EQ(execs[0]["env"], json({"SECRET_X=nobodys"}))
      << "root reads nobody's environment: " << execs[0].dump();
#ifdef PROCTRAIL_E2E_BPF
  // The setcap'd binary, run by a member of the monitor group: no CAP_DAC_READ_SEARCH.
  SetcapCopy bin;
  if (!bin.why_not().empty()) PT_SKIP("no-file-capabilities") << bin.why_not();
  auto run = plain_user_run(bin.path(), {"-b", "bpf", "-f", "json", "-e", "exec", "--env"},
                            std::to_string(monitor_group()));
  EXPECT_EQ(run.result.exit_code, 0) << run.result.err;
  ASSERT_FALSE(run.records.empty()) << run.result.err;
  EXPECT_EQ(run.records[0]["missing_fields"], json({"env"})) << run.records[0].dump();
  auto roots = execs_marked(run.records, run.root_mark);
  ASSERT_EQ(roots.size(), 1u) << run.result.out;
  EXPECT_FALSE(roots[0].contains("env")) << roots[0].dump();
  EXPECT_NE(roots[0].value("note", "").find("env not readable"), std::string::npos)
      << roots[0].dump();
  auto own = execs_marked(run.records, run.own_mark);
  ASSERT_EQ(own.size(), 1u) << run.result.out;
  EXPECT_TRUE(own[0].contains("env"))
      << "the user's own environment is theirs to read " << own[0].dump();
#endif
}

TEST_F(Privileges, TheWholeMachineNeedsRootOrTheGroup) {
  CommandResult r = run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                         proctrail_path(), "--scope", "all", "-f", "json"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(
      r.err.find(
          "--scope all: every user's processes are for root and members of group '" PROCTRAIL_GROUP
          "'"),
      std::string::npos)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
}

// What one instance costs the whole machine is not a plain user's to choose: watching failed
// execs (a detour on every system call, for every process), buffers beyond the stated limits,
// more than four instances.
TEST_F(Privileges, APlainUserCannotImposeMachineWideCosts) {
#ifndef PROCTRAIL_E2E_BPF
  PT_SKIP("no-bpf-backend") << "this build has no eBPF backend";
#endif
  SetcapCopy bin;
  if (!bin.why_not().empty()) PT_SKIP("no-file-capabilities") << bin.why_not();
  auto nobody = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {"setpriv",
                                     "--reuid=65534",
                                     "--regid=65534",
                                     "--clear-groups",
                                     "timeout",
                                     "--preserve-status",
                                     "-s",
                                     "INT",
                                     std::to_string(time_scale()),
                                     bin.path()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  };
  struct Refused {
    std::vector<std::string> args;
    std::string says;
  } refused[] = {
      {{"-b", "bpf", "-e", "exec-failed"}, "failed execs are watched only for root"},
      {{"-b", "bpf", "--ringbuf", "1G"}, "--ringbuf: at most 8M for a user other than root"},
      {{"-b", "netlink", "--rcvbuf", "1G"}, "--rcvbuf: at most"},
  };
  for (const auto& [args, says] : refused) {
    CommandResult r = nobody(args);
    EXPECT_NE(r.exit_code, 0) << args.back() << ": " << r.err;
    EXPECT_NE(r.err.find(says), std::string::npos) << r.err;
  }
  // --failed still works: without failed execs, and the start record says they are missing.
  CommandResult failed = nobody({"-b", "bpf", "-f", "json", "--failed"});
  EXPECT_EQ(failed.exit_code, 0) << failed.err;
  auto records = parse_records(failed.out);
  ASSERT_FALSE(records.empty()) << failed.err;
  EXPECT_EQ(records[0]["missing_events"], json({"exec_failed"})) << records[0].dump();

  // Four at once, not five.
  std::vector<pid_t> running;
  for (int i = 0; i < 4; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      dup2(null, 2);
      execlp("setpriv", "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             bin.path().c_str(), "-b", "bpf", "-e", "exec", nullptr);
      _exit(127);
    }
    running.push_back(pid);
  }
  settle(1500);
  CommandResult fifth = nobody({"-b", "bpf", "-e", "exec"});
  for (pid_t pid : running) {
    kill(pid, SIGINT);
    waitpid(pid, nullptr, 0);
  }
  EXPECT_NE(fifth.exit_code, 0) << fifth.err;
  EXPECT_NE(fifth.err.find("4 instances already run"), std::string::npos) << fifth.err;
}

}  // namespace
}  // namespace proctrail::e2e
