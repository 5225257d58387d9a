// /proc: pure parsers for its files, and ProcReader, which reads what an exec event cannot
// carry through one /proc/PID directory fd, so every field comes from the same process.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proctrail/event.hpp"
#include "proctrail/result.hpp"
#include "proctrail/unique_fd.hpp"

namespace proctrail::procfs {

// /proc/PID/stat, the fields proctrail uses.
struct Stat {
  int32_t pid = 0;
  std::string comm;  // between the first '(' and the last ')': may itself hold ") " and spaces
  char state = '?';  // R, S, D, Z, X, ...
  int32_t ppid = 0;
  uint32_t flags = 0;        // field 9: PF_* task flags
  uint32_t num_threads = 0;  // field 20
  uint64_t start_ticks = 0;  // field 22: start time after boot (CLOCK_BOOTTIME) in clock ticks
  ImageIdentity image;       // fields 48-51; zero when hidden (no ptrace access) or no mm

  // Exiting (PF_EXITING) or a zombie: its memory, and so its command line, may be gone.
  [[nodiscard]] bool exiting() const;
};
Result<Stat> parse_stat(std::string_view text);

// Uid: and Gid: lines of /proc/PID/status (real and effective).
Result<Credentials> parse_status_creds(std::string_view text);

// A NUL-separated list (cmdline, environ): "a\0b\0" and "a\0b" are both {a, b}; "a\0\0b\0" is
// {a, "", b}; "" is {}. A final "\0" ends the last element, it does not start an empty one.
std::vector<std::string> split_nul(std::string_view data);

// The process's cgroup path from /proc/PID/cgroup: the v2 entry ("0::/path") when there is
// one, else the v1 name=systemd hierarchy, else the first v1 line's path.
std::optional<std::string> parse_cgroup(std::string_view text);

// The container a cgroup path names, for the runtimes whose naming is unambiguous: docker,
// containerd (cri-containerd), cri-o, podman (libpod), and kubepods paths ending in a bare
// container id. Anything else, conmon scopes included, is not a container: nullopt.
std::optional<Container> container_from_cgroup(std::string_view path);

// Clock ticks per second for /proc times (sysconf(_SC_CLK_TCK)).
uint64_t clock_ticks_per_second();

// What to read at exec besides argv and stat (which identify the process and its image and
// give comm, ppid and start time). Each costs a file read per exec.
struct ReadOptions {
  size_t max_argv_bytes = 128 * 1024;
  bool exe = true;
  bool cwd = true;
  bool creds = true;   // /proc/PID/status
  bool cgroup = true;  // and the container id it names
  bool env = false;
  size_t max_env_bytes = 128 * 1024;
};

// Expected identity of the process an exec event is about.
struct ExpectedProcess {
  uint64_t event_boottime_ns = 0;  // the exec event's time on CLOCK_BOOTTIME
  // Start time of the process with this pid as the process table knows it, on CLOCK_BOOTTIME:
  // precise from a fork event, or ticks-exact from an earlier /proc read.
  std::optional<uint64_t> known_start_boottime_ns;

  // For an exec event: its time, and the start time the kernel gave with it (eBPF), if any.
  static ExpectedProcess for_exec(uint64_t event_boottime_ns, const ExecDetails& d);
};

// Whether two start times in clock ticks are the same process's: /proc rounds to the tick,
// so one tick either way still agrees.
inline bool same_start_tick(uint64_t a, uint64_t b) {
  return a <= b + 1 && b <= a + 1;
}

class ProcReader {
 public:
  // proc_root is "/proc" except in tests, which point it at a fake tree.
  static Result<ProcReader> open(const std::string& proc_root, ReadOptions options);

  // Fills argv, exe, cwd, creds, comm, ppid, start time, cgroup, container (and env) for an
  // exec of pid, read in an order that lets the image identity taken last vouch for the rest.
  // Never fails: what could not be read is left empty and explained in note, and a pid that
  // now belongs to another process yields no data at all.
  void read_exec(int32_t pid, const ExpectedProcess& expected, ExecDetails& out);

  // stat, cmdline and threads of a running process, for seeding the process table.
  struct Snapshot {
    Stat stat;
    std::vector<std::string> argv;
    bool argv_truncated = false;
    std::vector<int32_t> tids;  // empty when they could not be listed
  };
  Result<Snapshot> read_snapshot(int32_t pid);

  // Numeric entries of the /proc directory.
  Result<std::vector<int32_t>> list_pids();

  [[nodiscard]] uint64_t tick_ns() const { return tick_ns_; }

 private:
  ProcReader(UniqueFd root, ReadOptions options);
  Result<UniqueFd> open_pid(int32_t pid);
  // Reads a whole file below dir into buf_, at most limit bytes; sets *more when bytes were
  // left unread. Returns the error of open or read.
  Status read_file(int dir, const char* name, size_t limit, bool* more = nullptr);
  Result<std::string> read_link(int dir, const char* name);
  // The numeric entries of the directory name below dir.
  Result<std::vector<int32_t>> list_numbers(int dir, const char* name);

  UniqueFd root_;
  ReadOptions options_;
  uint64_t tick_ns_;
  std::string buf_;
};

}  // namespace proctrail::procfs
