#include "enrich/cgroup_paths.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "util/clock.hpp"

namespace proctrail {

std::string cgroup2_mount_point(const std::string& mountinfo) {
  std::istringstream in(mountinfo);
  std::string line, first;
  while (std::getline(in, line)) {
    // "36 25 0:30 / /sys/fs/cgroup rw,... shared:9 - cgroup2 cgroup2 rw,..."
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype;
    tail >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, devno, root, mount_point;
    head >> id >> parent >> devno >> root >> mount_point;
    // mountinfo writes space, tab, newline and backslash as \ooo octal escapes.
    std::string path;
    for (size_t i = 0; i < mount_point.size(); ++i) {
      if (mount_point[i] == '\\' && i + 3 < mount_point.size()) {
        int v = 0;
        bool octal = true;
        for (size_t k = 1; k <= 3; ++k) {
          char c = mount_point[i + k];
          octal = octal && c >= '0' && c <= '7';
          v = v * 8 + (c - '0');
        }
        if (octal) {
          path += static_cast<char>(v);
          i += 3;
          continue;
        }
      }
      path += mount_point[i];
    }
    // A mount of a subtree (root other than "/") would name ids below it by shorter paths.
    if (root == "/") return path;
    if (first.empty()) first = path;
  }
  return first;
}

CgroupPaths::CgroupPaths(std::string root) : root_(std::move(root)) {
  if (root_.empty()) {
    std::ifstream in("/proc/self/mountinfo");
    std::stringstream ss;
    ss << in.rdbuf();
    root_ = cgroup2_mount_point(ss.str());
  }
}

void CgroupPaths::scan() {
  if (root_.empty()) return;
  paths_.clear();  // cgroups come and go: the map holds what exists now
  // Depth-first over directories; cgroup trees are small (hundreds to a few thousand).
  std::vector<std::string> todo = {""};
  while (!todo.empty()) {
    std::string rel = std::move(todo.back());
    todo.pop_back();
    std::string abs = root_ + rel;
    struct stat st {};
    if (stat(abs.c_str(), &st) != 0) continue;
    paths_[st.st_ino] = rel.empty() ? "/" : rel;
    DIR* d = opendir(abs.c_str());
    if (!d) continue;
    while (dirent* e = readdir(d)) {
      if (e->d_type != DT_DIR || e->d_name[0] == '.') continue;
      todo.push_back(rel + "/" + e->d_name);
    }
    closedir(d);
  }
}

std::optional<std::string> CgroupPaths::lookup(uint64_t id) {
  auto it = paths_.find(id);
  // A new cgroup (a container starting) is seen at its first exec: rescan. Each id is looked
  // for once, whenever it comes (two containers may start a moment apart); one that is not
  // there even then is not looked for again.
  if (it == paths_.end() && !gone_.contains(id)) {
    scan();
    it = paths_.find(id);
    // Not there even now: removed before the scan. Ids are not reused, so never look again.
    if (it == paths_.end()) {
      if (gone_.size() >= 65536) gone_.clear();
      gone_.insert(id);
    }
  }
  if (it == paths_.end()) return std::nullopt;
  return it->second;
}

}  // namespace proctrail
