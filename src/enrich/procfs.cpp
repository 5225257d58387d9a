#include "proctrail/procfs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <charconv>

#include "proctrail/clock.hpp"

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

bool is_container_id(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// "<prefix><64 hex><suffix>" exactly.
bool id_between(std::string_view s, std::string_view prefix, std::string_view suffix,
                std::string_view* id) {
  if (s.size() != prefix.size() + 64 + suffix.size()) return false;
  if (s.substr(0, prefix.size()) != prefix || s.substr(prefix.size() + 64) != suffix) return false;
  *id = s.substr(prefix.size(), 64);
  return is_container_id(*id);
}

std::optional<Container> container_in_component(std::string_view c, bool under_kubepods,
                                                bool after_docker) {
  struct Pattern {
    std::string_view prefix, suffix, runtime;
  };
  static constexpr Pattern kPatterns[] = {
      {"docker-", ".scope", "docker"}, {"cri-containerd-", ".scope", "containerd"},
      {"crio-", ".scope", "cri-o"},    {"libpod-", ".scope", "podman"},
      {"libpod-", "", "podman"},  // podman with the cgroupfs manager: /libpod_parent/libpod-ID
  };
  std::string_view id;
  for (const auto& p : kPatterns) {
    if (id_between(c, p.prefix, p.suffix, &id))
      return Container{std::string(p.runtime), std::string(id)};
  }
  if (is_container_id(c)) {
    if (after_docker) return Container{"docker", std::string(c)};  // /docker/ID (cgroupfs)
    if (under_kubepods) return Container{"kubernetes", std::string(c)};
  }
  return std::nullopt;
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

std::vector<std::string> split_nul(std::string_view data) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t z = data.find('\0', pos);
    if (z == std::string_view::npos) z = data.size();
    out.emplace_back(data.substr(pos, z - pos));
    pos = z + 1;
  }
  return out;
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

std::optional<Container> container_from_cgroup(std::string_view path) {
  std::optional<Container> found;
  bool kubepods = false, after_docker = false;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view c = path.substr(pos, slash - pos);
    pos = slash + 1;
    if (c.empty()) continue;
    if (c.starts_with("kubepods")) kubepods = true;
    // The innermost match wins: docker-in-docker names the inner container last.
    if (auto m = container_in_component(c, kubepods, after_docker)) found = std::move(m);
    after_docker = c == "docker";
  }
  return found;
}

uint64_t clock_ticks_per_second() {
  static const uint64_t hz = [] {
    long v = sysconf(_SC_CLK_TCK);
    return v > 0 ? static_cast<uint64_t>(v) : 100;
  }();
  return hz;
}

ProcReader::ProcReader(UniqueFd root, ReadOptions options)
    : root_(std::move(root)),
      options_(options),
      tick_ns_(1'000'000'000 / clock_ticks_per_second()) {
  buf_.reserve(64 * 1024);
}

Result<ProcReader> ProcReader::open(const std::string& proc_root, ReadOptions options) {
  int fd = ::open(proc_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return system_error("open " + proc_root);
  return ProcReader(UniqueFd(fd), options);
}

Result<UniqueFd> ProcReader::open_pid(int32_t pid) {
  char name[16];
  auto r = std::to_chars(name, name + sizeof name - 1, pid);
  *r.ptr = '\0';
  int fd = openat(root_.get(), name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return system_error(std::string("open /proc/") + name);
  return UniqueFd(fd);
}

Status ProcReader::read_file(int dir, const char* name, size_t limit, bool* more) {
  buf_.clear();
  if (more) *more = false;
  int fd = openat(dir, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return system_error(name);
  UniqueFd guard(fd);
  size_t chunk = 4096;
  for (;;) {
    size_t room = limit + 1 - buf_.size();  // one byte past the limit tells "more"
    if (room == 0) break;
    size_t want = std::min(chunk, room);
    size_t old = buf_.size();
    buf_.resize(old + want);
    ssize_t n = ::read(fd, buf_.data() + old, want);
    if (n < 0) {
      int err = errno;
      buf_.resize(old);
      if (err == EINTR) continue;
      return system_error(std::string("read ") + name, err);
    }
    buf_.resize(old + static_cast<size_t>(n));
    // /proc files fill the buffer until their end: a short read is the end, and saves the
    // read that would return 0.
    if (static_cast<size_t>(n) < want) break;
    chunk = std::min<size_t>(chunk * 2, 256 * 1024);
  }
  if (buf_.size() > limit) {
    buf_.resize(limit);
    if (more) *more = true;
  }
  return {};
}

Result<std::string> ProcReader::read_link(int dir, const char* name) {
  char buf[4097];
  ssize_t n = readlinkat(dir, name, buf, sizeof buf);
  if (n < 0) return system_error(name);
  // A full buffer may be a cut path: better none than a wrong one.
  if (static_cast<size_t>(n) == sizeof buf)
    return make_error(std::string(name) + ": path too long");
  return std::string(buf, static_cast<size_t>(n));
}

void ProcReader::read_exec(int32_t pid, const ExpectedProcess& expected, ExecDetails& d) {
  // Fields the kernel already gave (eBPF backend) are not read again; /proc adds the rest.
  const bool have_argv = d.argv_source == ArgvSource::Kernel;
  const bool have_creds = d.source(Field::Creds) == FieldSource::Kernel;
  ProcfsRead window;
  window.start_ns = monotonic_now_ns();
  auto finish = [&](std::string_view note) {
    window.end_ns = monotonic_now_ns();
    d.procfs_read = window;
    if (!note.empty()) d.note = note;
  };
  auto dir = open_pid(pid);
  if (!dir) {
    if (!have_argv) d.argv_source = ArgvSource::Unavailable;
    finish("process exited before /proc could be read");
    return;
  }
  const int fd = dir->get();

  // Order matters. Everything that a later exec would change (command line, executable,
  // credentials, environment) is read before stat, whose image identity then vouches for it
  // (see event_orderer.hpp). cwd and cgroup are not tied to the image: read last.
  bool argv_more = false;
  Status argv_status;
  std::vector<std::string> argv;
  size_t argv_read = 0;
  if (!have_argv) {
    argv_status = read_file(fd, "cmdline", options_.max_argv_bytes, &argv_more);
    if (argv_status) argv = split_nul(buf_);
    argv_read = buf_.size();
  }
  Result<std::string> exe = make_error("not read");
  if (options_.exe && d.source(Field::Exe) != FieldSource::Kernel) exe = read_link(fd, "exe");
  std::optional<Credentials> creds;
  if (options_.creds && !have_creds && read_file(fd, "status", 64 * 1024)) {
    if (auto c = parse_status_creds(buf_)) creds = *c;
  }
  std::optional<std::vector<std::string>> env;
  bool env_more = false;
  if (options_.env && read_file(fd, "environ", options_.max_env_bytes, &env_more)) {
    env = split_nul(buf_);
  }
  std::optional<Stat> stat;
  if (read_file(fd, "stat", 4096)) {
    if (auto s = parse_stat(buf_)) stat = std::move(*s);
  }
  Result<std::string> cwd = make_error("not read");
  if (options_.cwd && d.source(Field::Cwd) != FieldSource::Kernel) cwd = read_link(fd, "cwd");
  std::optional<std::string> cgroup;
  if (options_.cgroup && d.source(Field::Cgroup) != FieldSource::Kernel &&
      read_file(fd, "cgroup", 64 * 1024)) {
    cgroup = parse_cgroup(buf_);
  }

  if (!stat) {
    if (!have_argv) d.argv_source = ArgvSource::Unavailable;
    finish("process exited while /proc was being read");
    return;
  }

  // Is this still the process that exec'd? A process starts before its exec, so a start
  // time after the event means the pid now belongs to someone else. The table's record of
  // this pid's start pins it down to the tick.
  const uint64_t event_tick = expected.event_boottime_ns / tick_ns_;
  bool reused = stat->start_ticks > event_tick;
  if (!reused && expected.known_start_boottime_ns) {
    reused = !same_start_tick(stat->start_ticks, *expected.known_start_boottime_ns / tick_ns_);
  }
  if (reused) {
    if (!have_argv) d.argv_source = ArgvSource::Unavailable;
    finish("pid was reused by another process before /proc could be read");
    return;
  }

  auto set = [&d](Field f, auto& field, auto value) {
    if (d.source(f) == FieldSource::Kernel) return;
    field = std::move(value);
    d.set_source(f, FieldSource::Procfs);
  };
  set(Field::Comm, d.comm, stat->comm);
  set(Field::Ppid, d.ppid, stat->ppid);
  set(Field::StartTime, d.start_boottime_ns, stat->start_ticks * tick_ns_);
  if (creds) set(Field::Creds, d.creds, *creds);
  std::string note;
  if (!have_argv) {
    if (!argv_status) {
      d.argv_source = ArgvSource::Unavailable;
      note = argv_status.error().message;
    } else if (stat->exiting() && argv.empty()) {
      // An exiting process's command line reads empty once its memory is released (before it
      // is even a zombie): the process was gone, not argv-less.
      d.argv_source = ArgvSource::Unavailable;
      note = "process exited before its command line could be read";
    } else {
      d.argv_source = ArgvSource::Procfs;
      d.argv = std::move(argv);
      d.argv_truncated = argv_more;
      const ImageIdentity& im = stat->image;
      if (im.arg_end > im.arg_start) {
        d.argv_bytes = im.arg_end - im.arg_start;
      } else if (!argv_more) {
        d.argv_bytes = argv_read;
      }
    }
  }
  if (exe) set(Field::Exe, d.exe, std::move(*exe));
  if (cwd) set(Field::Cwd, d.cwd, std::move(*cwd));
  // A field asked for and refused while the process was still there is said, not dropped:
  // exe and cwd of another user's process need CAP_SYS_PTRACE (or root).
  std::string refused;
  for (auto [name, result] : {std::pair{"exe", &exe}, std::pair{"cwd", &cwd}}) {
    const int err = result->ok() ? 0 : result->error().code;
    if (err == EACCES || err == EPERM) refused += refused.empty() ? name : std::string(", ") + name;
  }
  if (!refused.empty()) {
    if (!note.empty()) note += "; ";
    note += refused +
            " not readable: permission denied (another user's process; proctrail needs "
            "CAP_SYS_PTRACE or root for these)";
  }
  if (cgroup) {
    d.container = container_from_cgroup(*cgroup);
    d.cgroup = std::move(*cgroup);
    d.set_source(Field::Cgroup, FieldSource::Procfs);
  }
  if (env) {
    set(Field::Env, d.env, std::move(*env));
    d.env_truncated = env_more;
  }
  if (stat->image != ImageIdentity{}) window.image = stat->image;
  finish(note);
}

ExpectedProcess ExpectedProcess::for_exec(uint64_t event_boottime_ns, const ExecDetails& d) {
  ExpectedProcess e;
  e.event_boottime_ns = event_boottime_ns;
  if (d.start_boottime_ns && d.source(Field::StartTime) == FieldSource::Kernel) {
    e.known_start_boottime_ns = d.start_boottime_ns;
  }
  return e;
}

Result<ProcReader::Snapshot> ProcReader::read_snapshot(int32_t pid) {
  auto dir = open_pid(pid);
  if (!dir) return dir.error();
  Snapshot s;
  if (auto st = read_file(dir->get(), "stat", 4096); !st) return st.error();
  auto stat = parse_stat(buf_);
  if (!stat) return stat.error();
  s.stat = std::move(*stat);
  if (read_file(dir->get(), "cmdline", options_.max_argv_bytes, &s.argv_truncated)) {
    s.argv = split_nul(buf_);
  }
  if (s.stat.num_threads <= 1) {
    s.tids = {pid};  // the common case costs no directory listing
  } else if (auto tids = list_numbers(dir->get(), "task")) {
    s.tids = std::move(*tids);
  }
  return s;
}

Result<std::vector<int32_t>> ProcReader::list_numbers(int dir, const char* name) {
  int fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return system_error(std::string("open ") + name);
  DIR* d = fdopendir(fd);
  if (!d) {
    int err = errno;
    ::close(fd);
    return system_error(std::string("read ") + name, err);
  }
  std::vector<int32_t> numbers;
  while (dirent* e = readdir(d)) {
    int32_t n = 0;
    std::string_view entry(e->d_name);
    if (parse_number(entry, n) && n > 0) numbers.push_back(n);
  }
  closedir(d);
  return numbers;
}

Result<std::vector<int32_t>> ProcReader::list_pids() {
  return list_numbers(root_.get(), ".");
}

}  // namespace proctrail::procfs
