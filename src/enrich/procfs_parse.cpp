#include "enrich/procfs_parse.hpp"

#include <unistd.h>

#include <charconv>

namespace proctrail::procfs {

namespace {

template <class T>
bool parse_number(std::string_view s, T& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// Splits on single spaces; /proc/PID/stat never doubles them after the comm field.
std::vector<std::string_view> split_spaces(std::string_view s) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t sp = s.find(' ', pos);
    if (sp == std::string_view::npos) sp = s.size();
    if (sp > pos) out.push_back(s.substr(pos, sp - pos));
    pos = sp + 1;
  }
  return out;
}

}  // namespace

Result<Stat> parse_stat(std::string_view text) {
  size_t open = text.find('(');
  size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return make_error("stat: no (comm) field");
  }
  Stat st;
  std::string_view pid = text.substr(0, open);
  while (!pid.empty() && pid.back() == ' ') pid.remove_suffix(1);
  if (!parse_number(pid, st.pid)) return make_error("stat: bad pid field");
  st.comm.assign(text.substr(open + 1, close - open - 1));
  std::string_view rest = text.substr(close + 1);
  while (!rest.empty() && (rest.back() == '\n' || rest.back() == ' ')) rest.remove_suffix(1);
  auto f = split_spaces(rest);  // f[0] is field 3 (state)
  if (f.size() < 20 || f[0].size() != 1) return make_error("stat: too few fields");
  st.state = f[0][0];
  if (!parse_number(f[1], st.ppid)) return make_error("stat: bad ppid field");
  if (!parse_number(f[6], st.flags)) return make_error("stat: bad flags field");
  if (!parse_number(f[17], st.num_threads)) return make_error("stat: bad num_threads field");
  if (!parse_number(f[19], st.start_ticks)) return make_error("stat: bad starttime field");
  if (f.size() >= 49) {
    bool ok = parse_number(f[45], st.image.arg_start) && parse_number(f[46], st.image.arg_end) &&
              parse_number(f[47], st.image.env_start) && parse_number(f[48], st.image.env_end);
    if (!ok) st.image = {};
  }
  return st;
}

bool Stat::exiting() const {
  constexpr uint32_t kPfExiting = 0x00000004;  // include/linux/sched.h, set as do_exit() begins
  return state == 'Z' || state == 'X' || (flags & kPfExiting) != 0;
}

Result<Credentials> parse_status_creds(std::string_view text) {
  Credentials c;
  bool have_uid = false, have_gid = false;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    bool uid = line.starts_with("Uid:"), gid = line.starts_with("Gid:");
    if (!uid && !gid) continue;
    std::string_view v = line.substr(4);
    uint32_t ids[2] = {0, 0};
    size_t n = 0;
    size_t p = 0;
    while (n < 2 && p < v.size()) {
      while (p < v.size() && (v[p] == '\t' || v[p] == ' ')) ++p;
      size_t e = p;
      while (e < v.size() && v[e] != '\t' && v[e] != ' ') ++e;
      if (e == p || !parse_number(v.substr(p, e - p), ids[n])) break;
      ++n;
      p = e;
    }
    if (n < 2) return make_error("status: malformed Uid/Gid line");
    if (uid) {
      c.uid = ids[0];
      c.euid = ids[1];
      have_uid = true;
    } else {
      c.gid = ids[0];
      c.egid = ids[1];
      have_gid = true;
    }
  }
  if (!have_uid || !have_gid) return make_error("status: no Uid/Gid lines");
  return c;
}

Strings split_nul(std::string_view data) {
  return Strings::from_nul_separated(data);
}

std::optional<std::string> parse_cgroup(std::string_view text) {
  std::optional<std::string> v2, systemd, first_v1;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    size_t c1 = line.find(':');
    size_t c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) continue;
    std::string_view id = line.substr(0, c1), controllers = line.substr(c1 + 1, c2 - c1 - 1);
    std::string path(line.substr(c2 + 1));
    if (id == "0" && controllers.empty()) {
      v2 = path;
    } else if (controllers == "name=systemd") {
      systemd = path;
    } else if (!first_v1 || *first_v1 == "/") {
      first_v1 = path;
    }
  }
  // On hybrid hosts the unified hierarchy may hold everything at "/" while v1 hierarchies
  // carry the real placement: prefer whichever says more.
  if (v2 && *v2 != "/") return v2;
  if (systemd && *systemd != "/") return systemd;
  if (first_v1 && *first_v1 != "/") return first_v1;
  if (v2) return v2;
  if (systemd) return systemd;
  return first_v1;
}

uint64_t clock_ticks_per_second() {
  static const uint64_t hz = [] {
    long v = sysconf(_SC_CLK_TCK);
    return v > 0 ? static_cast<uint64_t>(v) : 100;
  }();
  return hz;
}

}  // namespace proctrail::procfs
