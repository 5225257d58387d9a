// CgroupPaths: cgroup v2 ids (what bpf_get_current_cgroup_id() returns: the inode number of
// the cgroup's directory) to paths, from a scan of the cgroup2 mount, cached.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace proctrail {

class CgroupPaths {
 public:
  // root: the cgroup2 mount point; empty: found in /proc/self/mountinfo.
  explicit CgroupPaths(std::string root = "");

  // The path below the cgroup2 root ("/" for the root cgroup). An unknown id triggers a
  // rescan, once per id.
  std::optional<std::string> lookup(uint64_t id);

  [[nodiscard]] const std::string& root() const { return root_; }

 private:
  void scan();

  std::string root_;
  std::unordered_map<uint64_t, std::string> paths_;
  std::unordered_set<uint64_t> gone_;  // ids a fresh scan did not find
};

// Where cgroup2 is mounted, from a mountinfo text; empty when it is not.
std::string cgroup2_mount_point(const std::string& mountinfo);

}  // namespace proctrail
