#include "enrich/proc_tree.hpp"

#include <dirent.h>

#include <fstream>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "enrich/procfs_parse.hpp"

namespace proctrail::procfs {

std::vector<int32_t> tree_now(const std::vector<int32_t>& roots, const std::string& proc_root) {
  std::vector<int32_t> out;
  for (const ProcessKey& k : tree_keys_now(roots, proc_root)) out.push_back(k.pid);
  return out;
}

std::vector<ProcessKey> tree_keys_now(const std::vector<int32_t>& roots,
                                      const std::string& proc_root) {
  std::unordered_map<int32_t, std::vector<int32_t>> children;
  std::unordered_map<int32_t, uint64_t> alive;  // pid -> start ticks
  if (DIR* dir = opendir(proc_root.c_str())) {
    while (dirent* d = readdir(dir)) {
      if (d->d_name[0] < '1' || d->d_name[0] > '9') continue;
      std::ifstream in(proc_root + "/" + d->d_name + "/stat");
      std::stringstream text;
      text << in.rdbuf();
      if (auto st = parse_stat(text.str())) {
        children[st->ppid].push_back(st->pid);
        alive[st->pid] = st->start_ticks;
      }
    }
    closedir(dir);
  }
  std::vector<ProcessKey> out;
  std::unordered_set<int32_t> seen;
  std::vector<int32_t> todo(roots.begin(), roots.end());
  while (!todo.empty()) {
    int32_t pid = todo.back();
    todo.pop_back();
    auto a = alive.find(pid);
    if (a == alive.end() || !seen.insert(pid).second) continue;
    out.push_back(ProcessKey{pid, 0, a->second});
    if (auto it = children.find(pid); it != children.end()) {
      todo.insert(todo.end(), it->second.begin(), it->second.end());
    }
  }
  return out;
}

}  // namespace proctrail::procfs
