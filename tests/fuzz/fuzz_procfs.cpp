// libFuzzer: the /proc parsers, the mountinfo and --events parsers, and the escapers, on
// arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "enrich/cgroup_paths.hpp"
#include "output/escape.hpp"
#include "proctrail/event.hpp"
#include "proctrail/filter.hpp"
#include "enrich/container.hpp"
#include "enrich/proc_reader.hpp"
#include "enrich/procfs_parse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace proctrail;
  std::string_view s(reinterpret_cast<const char*>(data), size);
  (void)procfs::parse_stat(s);
  (void)procfs::parse_status_creds(s);
  auto parts = procfs::split_nul(s);
  if (auto cg = procfs::parse_cgroup(s)) (void)procfs::container_from_cgroup(*cg);
  (void)procfs::container_from_cgroup(s);
  (void)cgroup2_mount_point(std::string(s));
  if (auto m = EventMask::parse(s); !m && m.error().message.empty()) __builtin_trap();  // says why
  std::string out;
  append_shell_word(out, s);
  // A shell word never carries a raw control byte.
  for (unsigned char c : out) {
    if (c < 0x20 || c == 0x7f) __builtin_trap();
  }
  bool exact = append_json_string(out, s);
  if (exact != is_valid_utf8(s)) __builtin_trap();
  append_base64(out, s);
  return 0;
}
