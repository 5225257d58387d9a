// ProcReader: reads what an exec event cannot carry through one /proc/PID directory fd, so
// every field comes from the same process; what the read saw is recorded for verify/ to judge.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "enrich/procfs_parse.hpp"
#include "proctrail/event.hpp"
#include "proctrail/result.hpp"
#include "util/unique_fd.hpp"
#include "verify/exec_read.hpp"

namespace proctrail::procfs {

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

class ProcReader {
 public:
  // proc_root is "/proc" except in tests, which point it at a fake tree.
  static Result<ProcReader> open(const std::string& proc_root, ReadOptions options);

  // Fills argv, exe, cwd, creds, comm, ppid, start time, cgroup, container (and env) for an
  // exec of pid, read in an order that lets the image identity taken last vouch for the rest.
  // Never fails: what could not be read is left empty and explained in note, and a pid that
  // now belongs to another process yields no data at all.
  void read_exec(int32_t pid, const verify::ExpectedProcess& expected, ExecDetails& out);

  // stat, cmdline and threads of a running process, for seeding the process table.
  struct Snapshot {
    Stat stat;
    Strings argv;
    bool argv_truncated = false;
    std::vector<int32_t> tids;  // empty when they could not be listed
    std::optional<Credentials> creds;
  };
  Result<Snapshot> read_snapshot(int32_t pid);
  // /proc/PID/stat alone.
  Result<Stat> read_stat(int32_t pid);

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
