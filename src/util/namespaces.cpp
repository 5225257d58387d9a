#include "util/namespaces.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <array>

namespace proctrail {

namespace {
// Inode numbers of the initial namespaces (include/linux/proc_ns.h); stable kernel ABI.
constexpr ino_t kInitUserNsIno = 0xEFFFFFFDU;
constexpr ino_t kInitPidNsIno = 0xEFFFFFFCU;
}  // namespace

std::string namespace_name(const std::string& proc_root, const char* kind) {
  std::string path = proc_root + "/self/ns/" + kind;
  std::array<char, 64> buf{};
  ssize_t n = readlink(path.c_str(), buf.data(), buf.size() - 1);
  return n > 0 ? std::string(buf.data(), static_cast<size_t>(n)) : std::string(kind) + ":[?]";
}

Status require_initial_namespaces(const std::string& proc_root, std::string_view why) {
  struct Check {
    const char* kind;
    ino_t init;
  };
  for (Check c : {Check{"user", kInitUserNsIno}, Check{"pid", kInitPidNsIno}}) {
    struct stat st {};
    std::string path = proc_root + "/self/ns/" + c.kind;
    if (stat(path.c_str(), &st) != 0) continue;  // no /proc to tell: the caller finds out later
    if (st.st_ino != c.init) {
      return make_error(std::string(why) + ", so it must run in the initial " + c.kind +
                        " namespace, and this process is in " + namespace_name(proc_root, c.kind) +
                        "; run proctrail on the host");
    }
  }
  return {};
}

}  // namespace proctrail
