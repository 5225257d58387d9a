// Running the real proctrail binary and the scenario program, for the end-to-end tests.
#pragma once

#include <sys/types.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace proctrail::e2e {

struct CommandResult {
  int exit_code = -1;  // -1: did not finish in time (killed)
  std::string out, err;
};

// How much longer than on real hardware things may take: PROCTRAIL_E2E_TIME_SCALE (a whole
// number, default 1). scripts/kernel-test.sh raises it, as emulation is many times slower.
int time_scale();
// A pause of ms milliseconds, stretched by time_scale().
void settle(int ms);
// How many processes a storm runs: n on real hardware, fewer under emulation (n divided by
// time_scale(), at least `least`), so that a bounded test stays bounded.
long storm_size(long n, long least = 20);

// Runs argv to completion (killed after timeout_ms times time_scale()), capturing stdout and
// stderr.
CommandResult run(const std::vector<std::string>& argv, int timeout_ms = 20000);

// proctrail running in the background, writing to a temporary file.
class Monitor {
 public:
  // Starts `proctrail -o FILE extra...` and waits until its first record is written.
  explicit Monitor(std::vector<std::string> extra);
  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  [[nodiscard]] bool started() const { return started_; }
  [[nodiscard]] pid_t pid() const { return pid_; }
  // SIGINT, wait, collect. Returns the exit code.
  int stop(int sig = 2);
  [[nodiscard]] const std::string& output() const { return output_; }
  [[nodiscard]] const std::string& errors() const { return errors_; }
  // The file given to -o.
  [[nodiscard]] const std::string& output_path() const { return out_path_; }
  // Output lines parsed as JSON (the test fails on an invalid line).
  [[nodiscard]] std::vector<nlohmann::json> records() const;

 private:
  pid_t pid_ = -1;
  bool started_ = false;
  std::string out_path_, err_path_;
  std::string output_, errors_;
};

// JSON lines as proctrail writes them, each checked against docs/event.schema.json: every
// test reads records through here. A line that is not JSON or not in the schema fails the test.
std::vector<nlohmann::json> parse_records(const std::string& text);
// One line: the first record of an output, say.
nlohmann::json parse_record(const std::string& line);

// Loss accounting over the kernel's event types (fork, exec, exit, uid, gid, sid, ptrace, comm,
// coredump): how many records a run wrote, and how many its lost records say it could not.
struct Accounting {
  uint64_t reported = 0;
  uint64_t lost = 0;
  uint64_t lost_records = 0;
  bool count_missing = false;  // a lost record without a count
};
Accounting account(const std::vector<nlohmann::json>& records);
// The rule of every loss test: made <= reported + lost <= made + slack. Every event made is
// written or counted lost, and the counts are not inflated; `slack` is what the rest of the
// machine may have done meanwhile (and one count wrong by a factor breaks it).
void expect_accounted(const Accounting& a, uint64_t made, uint64_t slack);

// A command with a terminal of its own, as when a user runs it: a pseudo-terminal is its
// controlling terminal, stdin, stdout and stderr, and it leads its session. Ctrl-C typed there
// and a hang-up reach it as they would from a real one.
class Terminal {
 public:
  explicit Terminal(const std::vector<std::string>& argv);
  ~Terminal();
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;
  // Types bytes at the terminal ("\x03" is Ctrl-C).
  void type(const std::string& bytes);
  // Closes the terminal: the kernel sends SIGHUP to the session's leader.
  void hang_up();
  // Waits up to ms (stretched under emulation) for it to exit: its exit code (128+N for a
  // signal), or -1 when it did not (it is then killed).
  int wait(int ms);
  // What it printed so far.
  std::string output();

 private:
  pid_t pid_ = -1;
  int master_ = -1;
  std::string out_;
};

// Runs the scenario program and returns the key=value lines it printed.
std::map<std::string, long> scenario(const std::vector<std::string>& args);

std::string proctrail_path();
// The backends this build has, for parameterized tests: netlink, and bpf when built.
std::vector<std::string> backends();
std::string scenario_path();

// A scenario run under `proctrail -f json monitor_opts...`: the scenario's keys and the
// monitor's records. Fails the test (without stopping it) when the monitor misbehaves.
struct Watched {
  std::map<std::string, long> keys;
  std::vector<nlohmann::json> records;
};
Watched watch(const std::vector<std::string>& monitor_opts,
              const std::vector<std::string>& scenario_args);

// proctrail run for a second as user nobody without capabilities, then stopped by SIGINT.
CommandResult run_as_nobody(const std::vector<std::string>& proctrail_args);

// Whether this kernel lets a process without CAP_NET_ADMIN join the proc connector's group
// (Linux 6.6 does), asked of the kernel as user nobody. A feature probe, not a version check.
bool unprivileged_listen_allowed();

// Base64 (RFC 4648, with padding) decoded; argv_b64 and env_b64 split at their NULs.
std::string decode_base64(const std::string& b64);
std::vector<std::string> split_nul(const std::string& area);

// The id of the monitor group (PROCTRAIL_GROUP), whose members see every user's processes;
// created for the test when the machine has none yet (as the setcap install does).
gid_t monitor_group();

// Records of a type about a pid.
std::vector<nlohmann::json> of(const std::vector<nlohmann::json>& records, const std::string& type,
                               long pid);

}  // namespace proctrail::e2e
