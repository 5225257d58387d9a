// Aiming the tool (issue 9), as root, on both backends: the run mode, -p trees, each filter
// against a workload with known matches and non-matches, failed execs, -D and --summary.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "enrich/cgroup_paths.hpp"
#include "harness.hpp"
#include "skip.hpp"

namespace proctrail::e2e {
namespace {

using nlohmann::json;

// A word no other process on the machine has in its argv.
std::string unique(const std::string& what) {
  static int n = 0;
  return "pt-" + what + "-" + std::to_string(getpid()) + "-" + std::to_string(++n);
}

std::vector<json> parse_lines(const std::string& text) {
  return parse_records(text);
}

// The argv of every exec record, joined by spaces.
std::vector<std::string> exec_lines(const std::vector<json>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) {
    if (r["type"] != "exec" || !r.contains("argv")) continue;
    std::string s;
    for (const auto& a : r["argv"]) s += (s.empty() ? "" : " ") + a.get<std::string>();
    out.push_back(s);
  }
  return out;
}

bool any_contains(const std::vector<std::string>& lines, const std::string& word) {
  for (const auto& l : lines) {
    if (l.find(word) != std::string::npos) return true;
  }
  return false;
}

// A loop of unrelated execs beside the test, until destroyed.
class Noise {
 public:
  explicit Noise(const std::string& tag) {
    pid_ = fork();
    if (pid_ == 0) {
      execl("/bin/sh", "sh", "-c", ("while :; do /bin/true " + tag + "; done").c_str(), nullptr);
      _exit(127);
    }
  }
  ~Noise() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }

 private:
  pid_t pid_;
};

class Aim : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (geteuid() != 0) PT_SKIP("needs-root") << "needs root";
  }
  std::vector<std::string> base() const {
    return {proctrail_path(), "-f", "json", "-b", GetParam()};
  }
};

// proctrail -- sh -c '...; exit 7' exits 7 and reports exactly that tree, while unrelated
// execs run beside it; the sleep it leaves in the background is waited for.
TEST_P(Aim, RunModeReportsExactlyTheCommandsTreeAndExitsWithItsStatus) {
  const std::string mark = unique("mark"), other = unique("other");
  Noise noise(other);
  auto argv = base();
  for (const char* a : {"-o", "/dev/stdout", "--summary", "--", "sh", "-c"}) argv.emplace_back(a);
  argv.push_back("sleep 0.1 & /bin/true " + mark + "; exit 7");
  CommandResult r = run(argv);
  EXPECT_EQ(r.exit_code, 7) << r.err;
  auto records = parse_lines(r.out);
  ASSERT_FALSE(records.empty());
  auto execs = exec_lines(records);
  EXPECT_EQ(execs.size(), 3u) << r.out;
  EXPECT_TRUE(any_contains(execs, "sh -c sleep 0.1 & /bin/true " + mark)) << r.out;
  EXPECT_TRUE(any_contains(execs, "sleep 0.1")) << r.out;
  EXPECT_TRUE(any_contains(execs, "/bin/true " + mark)) << r.out;
  EXPECT_FALSE(any_contains(execs, other)) << "an unrelated exec got in";
  // Every process record is one of the tree's: the command's pid (its first exec, argv
  // "sh -c ...") and, transitively, the children its forks name.
  std::set<long> tree;
  for (const auto& x : records) {
    if (x["type"] == "exec" && x.value("argv", json::array()).size() == 3 && x["argv"][0] == "sh") {
      tree.insert(x["pid"].get<long>());
      break;
    }
  }
  ASSERT_EQ(tree.size(), 1u) << r.out;
  for (const auto& x : records) {
    if (x["type"] == "fork" && tree.count(x["parent_pid"].get<long>())) {
      tree.insert(x["pid"].get<long>());  // a fork is about the new process
    }
  }
  int ends = 0;
  for (const auto& x : records) {
    const std::string t = x["type"];
    if (t == "start" || t == "summary" || t == "lost" || t == "resync") continue;
    EXPECT_TRUE(tree.count(x["pid"].get<long>())) << "not of the tree: " << x.dump();
    if (t == "exit" && !x["thread"].get<bool>()) ++ends;
  }
  EXPECT_EQ(ends, 3) << "sh, sleep and true each end once: " << r.out;
  const json& summary = records.back();
  ASSERT_EQ(summary["type"], "summary") << summary.dump();
  EXPECT_EQ(summary["execs"], 3);
  EXPECT_EQ(summary["exits"], 3);
  EXPECT_EQ(summary["failed"], 1) << "sh's exit 7";
  EXPECT_TRUE(summary["final"].get<bool>());
}

// SIGTERM sent to proctrail goes to the command; proctrail exits with its status, 143.
TEST_P(Aim, RunModePassesSigtermOnAndExits143) {
  Monitor m({"-f", "json", "-b", GetParam(), "--", "sleep", "60"});
  ASSERT_TRUE(m.started()) << m.errors();
  settle(300);
  EXPECT_EQ(m.stop(SIGTERM), 143) << m.errors();
  bool killed = false;
  for (const auto& x : m.records()) {
    if (x["type"] == "exit" && x.value("signal", "") == "SIGTERM") killed = true;
  }
  EXPECT_TRUE(killed) << m.output();
}

// Run mode keeps the command's output and the records apart, as strace does: records go to
// stderr unless -o says where, and `-o /dev/fd/3 ... 3>&1 >&2 | jq` pipes only records.
TEST_P(Aim, RunModeKeepsTheCommandsOutputApartFromTheRecords) {
  auto argv = base();
  for (const char* a : {"--", "sh", "-c", "echo out-line; echo err-line >&2"}) argv.emplace_back(a);
  CommandResult r = run(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "out-line\n") << "only the command's own output on stdout";
  EXPECT_NE(r.err.find("err-line"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\"type\":\"start\""), std::string::npos) << "records on stderr";

  const std::string records = "/tmp/" + unique("fd3") + ".jsonl";
  CommandResult piped = run(
      {"bash", "-c",
       proctrail_path() + " -b " + GetParam() +
           " -f json -o /dev/fd/3 -- sh -c 'echo out-line; echo err-line >&2' 3>&1 >&2 | cat > " +
           records});
  EXPECT_EQ(piped.exit_code, 0) << piped.err;
  std::ifstream in(records);
  std::stringstream text;
  text << in.rdbuf();
  unlink(records.c_str());
  auto parsed = parse_records(text.str());  // every line is a record: fails on anything else
  ASSERT_FALSE(parsed.empty());
  EXPECT_EQ(parsed[0]["type"], "start");
  EXPECT_NE(piped.err.find("out-line"), std::string::npos) << piped.err;
}

TEST_P(Aim, RunModeSaysWhenTheCommandCannotRun) {
  auto argv = base();
  argv.push_back("--");
  argv.push_back("/nonexistent-" + unique("cmd"));
  CommandResult r = run(argv);
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_NE(r.err.find("cannot run /nonexistent-"), std::string::npos) << r.err;
}

// -p on a shell that is already running: the grandchild it starts later is caught, and
// nothing else is.
TEST_P(Aim, PidFollowsARunningShellsLaterDescendantsAndNothingElse) {
  const std::string grand = unique("grand"), child = unique("child"), outside = unique("out");
  int gate[2];
  ASSERT_EQ(pipe(gate), 0);
  pid_t shell = fork();
  if (shell == 0) {
    dup2(gate[0], 0);
    close(gate[1]);
    const std::string script = "read go; sh -c '/bin/true " + grand + "'; /bin/true " + child;
    execl("/bin/sh", "sh", "-c", script.c_str(), nullptr);
    _exit(127);
  }
  close(gate[0]);
  Monitor m({"-f", "json", "-b", GetParam(), "-e", "exec,exit", "-p", std::to_string(shell)});
  ASSERT_TRUE(m.started()) << m.errors();
  scenario({"spawn-marked", "3", outside});
  ASSERT_EQ(write(gate[1], "go\n", 3), 3);
  close(gate[1]);
  int st = 0;
  waitpid(shell, &st, 0);
  settle(300);
  ASSERT_EQ(m.stop(), 0) << m.errors();
  auto execs = exec_lines(m.records());
  EXPECT_TRUE(any_contains(execs, "/bin/true " + grand)) << m.output();
  EXPECT_TRUE(any_contains(execs, "/bin/true " + child)) << m.output();
  EXPECT_FALSE(any_contains(execs, outside)) << m.output();
  for (const auto& x : m.records()) {
    if (x["type"] != "exit") continue;
    EXPECT_EQ(x.value("argv", json::array()).dump().find(outside), std::string::npos) << x.dump();
  }
}

// Started with sudo, the command runs as the user who ran sudo; --user-of-command chooses.
TEST_P(Aim, RunModeRunsTheCommandAsTheSudoCaller) {
  const std::string out = "/tmp/" + unique("sudo") + ".jsonl";
  auto argv = std::vector<std::string>{"env",
                                       "SUDO_UID=65534",
                                       "SUDO_GID=65534",
                                       "SUDO_USER=nobody",
                                       proctrail_path(),
                                       "-b",
                                       GetParam(),
                                       "-o",
                                       out,
                                       "--",
                                       "id",
                                       "-u"};
  CommandResult r = run(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "65534\n");
  argv = {"env", "SUDO_UID=65534",    proctrail_path(), "-b", GetParam(), "-o",
          out,   "--user-of-command", "root",           "--", "id",       "-u"};
  r = run(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "0\n");
  unlink(out.c_str());
}

TEST_P(Aim, PidOfNoProcessIsAnError) {
  auto argv = base();
  for (const char* a : {"-p", "4194300"}) argv.emplace_back(a);
  CommandResult r = run(argv);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "proctrail: error: --pid: no process 4194300 is running\n");
}

// One filter, a workload with one match and one non-match, both marked.
struct FilterCase {
  std::vector<std::string> filter;
  std::string yes, no;  // argv words that must and must not be shown
};

void expect_filter(const std::string& backend, const FilterCase& c,
                   const std::function<void()>& workload) {
  std::vector<std::string> opts = {"-f", "json", "-b", backend, "-e", "exec"};
  opts.insert(opts.end(), c.filter.begin(), c.filter.end());
  Monitor m(opts);
  ASSERT_TRUE(m.started()) << m.errors();
  workload();
  settle(300);
  ASSERT_EQ(m.stop(), 0) << m.errors();
  auto execs = exec_lines(m.records());
  EXPECT_TRUE(any_contains(execs, c.yes)) << "missing " << c.yes << ": " << m.output();
  EXPECT_FALSE(any_contains(execs, c.no)) << "shown: " << c.no;
}

void sh(const std::string& script) {
  CommandResult r = run({"/bin/sh", "-c", script});
  ASSERT_EQ(r.exit_code, 0) << script << ": " << r.err;
}

TEST_P(Aim, FilterUser) {
  const std::string yes = unique("nobody"), no = unique("root");
  expect_filter(GetParam(), {{"-u", "nobody"}, yes, no}, [&] {
    sh("setpriv --reuid=nobody --regid=nogroup --clear-groups /bin/true " + yes);
    sh("/bin/true " + no);
  });
}

TEST_P(Aim, FilterCommAndExe) {
  const std::string dir = "/tmp/" + unique("bin");
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file("/bin/true", dir + "/ptmatch");
  std::filesystem::copy_file("/bin/true", dir + "/ptother");
  const std::string yes = unique("yes"), no = unique("no");
  auto workload = [&] {
    sh(dir + "/ptmatch " + yes);
    sh(dir + "/ptother " + no);
  };
  expect_filter(GetParam(), {{"--comm", "^ptmatch$"}, yes, no}, workload);
  expect_filter(GetParam(), {{"--exe", "/ptmatch$"}, yes, no}, workload);
  std::filesystem::remove_all(dir);
}

TEST_P(Aim, FilterArgv) {
  const std::string yes = unique("argv") + "-yes", no = unique("argv") + "-no";
  expect_filter(GetParam(), {{"--argv", "^/bin/true .*-yes$"}, yes, no}, [&] {
    sh("/bin/true " + yes);
    sh("/bin/true " + no);
  });
}

// Where cgroup v2 is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host).
std::string cgroup2_root() {
  std::ifstream in("/proc/self/mountinfo");
  std::stringstream text;
  text << in.rdbuf();
  return cgroup2_mount_point(text.str());
}

// A cgroup of the test's own, and one named as docker names its containers.
class ScratchCgroup {
 public:
  explicit ScratchCgroup(const std::string& name) : path_(cgroup2_root() + "/" + name) {
    ok_ = path_.size() > name.size() + 1 && mkdir(path_.c_str(), 0755) == 0;
  }
  ~ScratchCgroup() {
    if (ok_) rmdir(path_.c_str());
  }
  [[nodiscard]] bool ok() const { return ok_; }
  // Runs /bin/true WORD inside it.
  void run_true(const std::string& word) const {
    sh("echo $$ > " + path_ + "/cgroup.procs && exec /bin/true " + word);
  }

 private:
  std::string path_;
  bool ok_ = false;
};

TEST_P(Aim, FilterCgroupAndContainer) {
  const std::string name = unique("cg");
  ScratchCgroup cg(name);
  const std::string id = std::string(56, 'c') + "0123abcd";
  ScratchCgroup box("docker-" + id + ".scope");
  if (!cg.ok() || !box.ok()) PT_SKIP("no-writable-cgroup2") << "no writable cgroup v2 hierarchy here";
  const std::string in_cg = unique("incg"), in_box = unique("inbox"), out = unique("host");
  auto workload = [&] {
    cg.run_true(in_cg);
    box.run_true(in_box);
    sh("/bin/true " + out);
  };
  expect_filter(GetParam(), {{"--cgroup", "/" + name}, in_cg, out}, workload);
  expect_filter(GetParam(), {{"--container", id.substr(0, 12)}, in_box, out}, workload);
  expect_filter(GetParam(), {{"--container", id.substr(0, 12)}, in_box, in_cg}, workload);
}

// --failed: non-zero exits and signals in, clean exits out; on eBPF the failed exec itself
// with its errno.
TEST_P(Aim, FailedShowsFailuresOnly) {
  const std::string bad = "/nonexistent-" + unique("prog");
  Monitor m({"-f", "json", "-b", GetParam(), "--failed"});
  ASSERT_TRUE(m.started()) << m.errors();
  run({"/bin/sh", "-c", "exit 3"});
  run({"/bin/sh", "-c", "exit 0"});
  run({"/bin/sh", "-c", bad + " arg1"});
  settle(300);
  ASSERT_EQ(m.stop(), 0) << m.errors();
  int exit3 = 0, exit0 = 0, exit127 = 0, failed_exec = 0;
  for (const auto& x : m.records()) {
    if (x["type"] == "exit") {
      EXPECT_FALSE(x["thread"].get<bool>());
      const long code = x.value("exit_code", -1L);
      exit3 += code == 3;
      exit0 += code == 0;
      exit127 += code == 127;
    }
    if (x["type"] == "exec_failed" && x["filename"] == bad) {
      ++failed_exec;
      EXPECT_EQ(x["error_name"], "ENOENT");
      EXPECT_EQ(x["error"], ENOENT);
      EXPECT_EQ(x["argv"], json({bad, "arg1"}));
    }
    EXPECT_NE(x["type"], "exec") << x.dump();
    EXPECT_NE(x["type"], "fork") << x.dump();
  }
  EXPECT_GE(exit3, 1);
  EXPECT_GE(exit127, 1);
  EXPECT_EQ(exit0, 0);
  if (GetParam() == "bpf") {
    EXPECT_EQ(failed_exec, 1) << m.output();
  } else {
    EXPECT_EQ(failed_exec, 0);
    EXPECT_NE(m.errors().find("warning: no failed execs"), std::string::npos) << m.errors();
  }
}

// A failed exec is reported with its errno (eBPF); netlink cannot see them and says so.
TEST_P(Aim, AFailedExecIsReportedWithItsErrno) {
  if (GetParam() != "bpf") {
    CommandResult r = run({proctrail_path(), "-b", "netlink", "-e", "exec-failed"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("failed execs are seen only by the eBPF backend"), std::string::npos)
        << r.err;
    return;
  }
  const std::string file = "/tmp/" + unique("noexec");
  std::ofstream(file) << "not a program\n";
  chmod(file.c_str(), 0644);
  Monitor m({"-f", "json", "-b", "bpf", "-e", "exec-failed"});
  ASSERT_TRUE(m.started()) << m.errors();
  run({"/bin/sh", "-c", file + " x"});
  settle(300);
  ASSERT_EQ(m.stop(), 0) << m.errors();
  unlink(file.c_str());
  int seen = 0;
  for (const auto& x : m.records()) {
    if (x["type"] != "exec_failed" || x["filename"] != file) continue;
    ++seen;
    EXPECT_EQ(x["error_name"], "EACCES") << x.dump();
    EXPECT_EQ(x["comm"], "sh");
  }
  EXPECT_GE(seen, 1) << m.output();
}

// A PATH search is one record, and none when it found its program (issue 18: `--failed --
// make` printed 18 ENOENT lines before the one real failure). env searches with execvp, one
// execve per directory. eBPF only: the proc connector does not see failed execs.
#ifdef PROCTRAIL_E2E_BPF
TEST(PathSearch, IsOneRecordAndNoneWhenItSucceeds) {
  if (geteuid() != 0) PT_SKIP("needs-root") << "needs root";
  const std::string missing = unique("nosuch");
  std::vector<std::string> argv = {proctrail_path(), "-f", "json", "-b", "bpf"};
  for (const char* a : {"-o", "/dev/stdout", "-e", "exec,exec-failed", "--"}) argv.emplace_back(a);
  argv.insert(argv.end(), {"env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                           "sh", "-c", "env true; env " + missing + "; exit 0"});
  CommandResult r = run(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<json> failures;
  for (const auto& x : parse_lines(r.out)) {
    if (x["type"] == "exec_failed") failures.push_back(x);
  }
  ASSERT_EQ(failures.size(), 1u) << "one record for the search that failed, none for `env true`: "
                                 << r.out;
  EXPECT_EQ(failures[0]["filename"], "/bin/" + missing);
  EXPECT_EQ(failures[0]["tried"].size(), 5u) << failures[0].dump();
  EXPECT_EQ(failures[0]["tried"][0], "/usr/local/sbin/" + missing);
}

// proctrail's own search for the command it runs is not the command's and never shows: with
// every try kept (--raw-path-search) and a PATH whose first directory has no `true`, `proctrail
// -- true` has not one failed exec. (It showed under TSan, where execvp's tries were slow
// enough to escape the fold; the command is now looked up without failed execs at all.)
TEST(PathSearch, ProctrailsOwnSearchIsNeverShown) {
  if (geteuid() != 0) PT_SKIP("needs-root") << "needs root";
  const std::string nowhere = "/" + unique("nodir");
  CommandResult r = run({"env", "PATH=" + nowhere + ":/usr/bin:/bin", proctrail_path(), "-f",
                         "json", "-b", "bpf", "-o", "/dev/stdout", "-e", "exec,exec-failed",
                         "--raw-path-search", "--", "true"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  int trues = 0;
  for (const auto& x : parse_lines(r.out)) {
    EXPECT_NE(x["type"], "exec_failed") << x.dump();
    if (x["type"] == "exec" && x.value("exe", "") == "/usr/bin/true") ++trues;
  }
  EXPECT_EQ(trues, 1) << r.out;
}
#endif

// The tree draws a child that failed before it could exec (bash's fork for a missing program,
// exit 127), and --tree --failed draws only failures, each under the commands that led to it
// (issue 18: such children were left out, and --tree --failed was refused).
TEST_P(Aim, TheTreeDrawsFailuresAndWhatLedToThem) {
  const std::string ok = unique("fine"), bad = unique("bad");
  auto argv = base();
  argv.erase(argv.begin() + 1, argv.begin() + 3);  // text, not JSON
  for (const char* a : {"--tree", "--failed", "-o", "/dev/stdout", "--", "bash", "-c"}) {
    argv.emplace_back(a);
  }
  argv.push_back("/bin/true " + ok + "; /no/such/" + bad + "; sh -c 'exit 4'; exit 0");
  CommandResult r = run(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("/bin/true " + ok + "\n"), std::string::npos)
      << "a command that succeeded and has no failure below it is not drawn:\n" << r.out;
  EXPECT_NE(r.out.find("bash -c"), std::string::npos) << "the failures' parent:\n" << r.out;
  EXPECT_NE(r.out.find("no exec) exit 127"), std::string::npos)
      << "the fork whose exec failed:\n" << r.out;
  EXPECT_NE(r.out.find("sh -c 'exit 4'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("exit 4 after"), std::string::npos) << r.out;
}

// Two sinks with their own filters at once (issue 19): the filtered output shows what the
// filters let through, --also-json keeps everything; and that second sink failing (a full
// device) is counted while capture and the first output go on.
TEST_P(Aim, TwoOutputsWithTheirOwnFiltersAndADegradingOne) {
  const std::string mine = unique("mine"), other = unique("other");
  const std::string filtered = "/tmp/" + unique("filtered") + ".jsonl";
  const std::string all = "/tmp/" + unique("all") + ".jsonl";
  auto workload = "/bin/true " + mine + "; /bin/echo " + other + " >/dev/null";
  auto argv = base();
  for (const auto& a : std::vector<std::string>{"-e", "exec", "--comm", "^true$", "-o", filtered,
                                                "--also-json", all, "--", "sh", "-c", workload}) {
    argv.push_back(a);
  }
  CommandResult r = run(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    unlink(path.c_str());
    return ss.str();
  };
  const std::string f = read(filtered), a = read(all);
  EXPECT_NE(f.find(mine), std::string::npos) << f;
  EXPECT_EQ(f.find(other), std::string::npos) << "the filtered output shows what matches: " << f;
  EXPECT_NE(a.find(mine), std::string::npos) << a;
  EXPECT_NE(a.find(other), std::string::npos) << "--also-json keeps everything: " << a;
  EXPECT_NE(a.find("\"type\":\"fork\""), std::string::npos) << "whatever -e says: " << a;
  for (const auto& rec : parse_lines(a)) EXPECT_TRUE(rec.is_object());

  // The second output on a device that is always full: capture and the first output go on.
  auto full = base();
  for (const auto& x : std::vector<std::string>{"--stats", "-o", filtered, "--also-json",
                                                "/dev/full", "--", "sh", "-c", workload}) {
    full.push_back(x);
  }
  CommandResult d = run(full);
  EXPECT_EQ(d.exit_code, 0) << d.err;
  EXPECT_NE(read(filtered).find(mine), std::string::npos);
  EXPECT_NE(d.err.find("/dev/full took 0 events, could not take"), std::string::npos) << d.err;
  EXPECT_NE(d.err.find("No space left on device"), std::string::npos) << d.err;
}

// A filter that can match nothing on this host now is not accepted in silence (issue 18).
TEST_P(Aim, ACgroupThatDoesNotExistIsSaid) {
  auto argv = base();
  for (const char* a : {"--cgroup", "/no-such-slice.slice", "-D", "0.3"}) argv.emplace_back(a);
  CommandResult r = run(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: --cgroup /no-such-slice.slice: no cgroup on this host starts "
                       "with it now"),
            std::string::npos)
      << r.err;
}

// The summary says what it could not see rather than 0, lists the failures, and keeps the
// commands that ended apart from those exec'd (issue 18): with -e exec,exit it sees no forks.
TEST_P(Aim, TheSummarySaysWhatItCouldNotSee) {
  auto argv = base();
  for (const char* a : {"-o", "/dev/stdout", "-e", "exec,exit", "--summary", "--", "sh", "-c",
                        "/bin/false; exit 3"}) {
    argv.emplace_back(a);
  }
  CommandResult r = run(argv);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  auto records = parse_lines(r.out);
  ASSERT_FALSE(records.empty());
  const json& s = records.back();
  ASSERT_EQ(s["type"], "summary") << s.dump();
  EXPECT_TRUE(s["processes"].is_null()) << "forks were not watched: " << s.dump();
  EXPECT_TRUE(s["max_depth"].is_null()) << s.dump();
  EXPECT_TRUE(s["exec_failed"].is_null()) << "failed execs were not watched: " << s.dump();
  EXPECT_EQ(s["failed"], 2) << s.dump();
  ASSERT_EQ(s["failures"].size(), 2u) << s.dump();
  EXPECT_EQ(s["failures"][0]["command"], "false");
  EXPECT_EQ(s["failures"][0]["exit_code"], 1);
  EXPECT_EQ(s["failures"][1]["command"], "sh");
  EXPECT_EQ(s["failures"][1]["exit_code"], 3);
  for (const auto& c : s["top_by_time"]) EXPECT_GT(c["ended"].get<int>(), 0) << s.dump();
}

// -D stops by itself, exit status 0.
TEST_P(Aim, DurationStopsByItself) {
  auto argv = base();
  for (const char* a : {"-e", "exec", "-D", "0.5"}) argv.emplace_back(a);
  CommandResult r = run(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto records = parse_lines(r.out);
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records[0]["type"], "start");
}

INSTANTIATE_TEST_SUITE_P(Backends, Aim, ::testing::ValuesIn(backends()),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace proctrail::e2e
