#include "enrich/proc_reader.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <charconv>

#include "enrich/container.hpp"
#include "util/clock.hpp"

namespace proctrail::procfs {

namespace {

template <class T>
bool parse_number(std::string_view s, T& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

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

void ProcReader::read_exec(int32_t pid, const verify::ExpectedProcess& expected, ExecDetails& d) {
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
  Strings argv;
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
  std::optional<Strings> env;
  bool env_more = false;
  Status env_status;
  if (options_.env) {
    env_status = read_file(fd, "environ", options_.max_env_bytes, &env_more);
    if (env_status) env = split_nul(buf_);
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

  if (auto problem = verify::identity_problem(stat->start_ticks, expected, tick_ns_)) {
    if (!have_argv) d.argv_source = ArgvSource::Unavailable;
    finish(*problem);
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
  if (!env_status && (env_status.error().code == EACCES || env_status.error().code == EPERM)) {
    if (!note.empty()) note += "; ";
    note +=
        "env not readable: permission denied (another user's environment is its own: proctrail "
        "needs CAP_DAC_READ_SEARCH, which root has, for it)";
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

Result<Stat> ProcReader::read_stat(int32_t pid) {
  auto dir = open_pid(pid);
  if (!dir) return dir.error();
  if (auto st = read_file(dir->get(), "stat", 4096); !st) return st.error();
  return parse_stat(buf_);
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
  if (read_file(dir->get(), "status", 64 * 1024)) {
    if (auto c = parse_status_creds(buf_)) s.creds = *c;
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
