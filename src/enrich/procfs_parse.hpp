// /proc: pure parsers for the files proctrail reads. No I/O, so every awkward input can be
// written in a unit test or thrown at a fuzzer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proctrail/event.hpp"
#include "proctrail/result.hpp"

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
Strings split_nul(std::string_view data);

// The process's cgroup path from /proc/PID/cgroup: the v2 entry ("0::/path") when there is
// one, else the v1 name=systemd hierarchy, else the first v1 line's path.
std::optional<std::string> parse_cgroup(std::string_view text);

// Clock ticks per second for /proc times (sysconf(_SC_CLK_TCK)).
uint64_t clock_ticks_per_second();

}  // namespace proctrail::procfs
