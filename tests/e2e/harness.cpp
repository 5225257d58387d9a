#include "harness.hpp"
#include "schema_check.hpp"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace proctrail::e2e {

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
  std::vector<char*> v;
  for (const auto& a : argv) v.push_back(const_cast<char*>(a.c_str()));
  v.push_back(nullptr);
  return v;
}

int temp_file(std::string& path, const char* tag) {
  path = std::string("/tmp/proctrail-e2e-") + tag + "-XXXXXX";
  int fd = mkstemp(path.data());
  if (fd < 0) throw std::runtime_error("mkstemp");
  return fd;
}

int decode_status(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return -1;
}

}  // namespace

std::vector<std::string> backends() {
  std::vector<std::string> b = {"netlink"};
#ifdef PROCTRAIL_E2E_BPF
  b.push_back("bpf");
#endif
  return b;
}

std::string proctrail_path() {
  // PROCTRAIL_E2E_BIN runs the suite against another binary (an installed one, an older build).
  if (const char* other = getenv("PROCTRAIL_E2E_BIN"); other && *other) return other;
  return PROCTRAIL_BIN;
}
std::string scenario_path() {
  return SCENARIO_BIN;
}

int time_scale() {
  static const int scale = [] {
    const char* v = getenv("PROCTRAIL_E2E_TIME_SCALE");
    int n = v ? atoi(v) : 1;
    return n >= 1 ? n : 1;
  }();
  return scale;
}

void settle(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms * time_scale()));
}

long storm_size(long n, long least) {
  return std::max(n / time_scale(), std::min(n, least));
}

CommandResult run(const std::vector<std::string>& argv, int timeout_ms) {
  timeout_ms *= time_scale();
  std::string out_path, err_path;
  int out_fd = temp_file(out_path, "out");
  int err_fd = temp_file(err_path, "err");
  pid_t pid = fork();
  if (pid == 0) {
    // A session of its own, without a controlling terminal, wherever the tests run: what
    // proctrail does on SIGHUP depends on whether it has one (Terminal gives it one).
    setsid();
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    int null_fd = open("/dev/null", O_RDONLY);
    dup2(null_fd, 0);
    auto v = c_argv(argv);
    execvp(v[0], v.data());
    _exit(127);
  }
  close(out_fd);
  close(err_fd);
  CommandResult r;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  int st = 0;
  for (;;) {
    pid_t w = waitpid(pid, &st, WNOHANG);
    if (w == pid) {
      r.exit_code = decode_status(st);
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      r.exit_code = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  unlink(out_path.c_str());
  unlink(err_path.c_str());
  return r;
}

Monitor::Monitor(std::vector<std::string> extra) {
  int out_fd = temp_file(out_path_, "monitor");
  close(out_fd);
  int err_fd = temp_file(err_path_, "monitor-err");
  std::vector<std::string> argv = {proctrail_path(), "-o", out_path_};
  argv.insert(argv.end(), extra.begin(), extra.end());
  pid_ = fork();
  if (pid_ == 0) {
    setsid();  // no controlling terminal: a hang-up means "reopen the output", as for a service
    dup2(err_fd, 2);
    auto v = c_argv(argv);
    execv(v[0], v.data());
    _exit(127);
  }
  close(err_fd);
  // Started when the first record is out (or the process died).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15 * time_scale());
  while (std::chrono::steady_clock::now() < deadline) {
    int st;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      errors_ = slurp(err_path_);
      return;
    }
    std::string out = slurp(out_path_);
    if (out.find('\n') != std::string::npos) {
      started_ = true;
      // A moment for the kernel subscription to be in force for what the test starts next;
      // the start record is written after the subscription was acknowledged.
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

Monitor::~Monitor() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  unlink(out_path_.c_str());
  unlink(err_path_.c_str());
}

int Monitor::stop(int sig) {
  int code = -1;
  if (pid_ > 0) {
    kill(pid_, sig);
    int st = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10 * time_scale());
    for (;;) {
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        code = decode_status(st);
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &st, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pid_ = -1;
  }
  output_ = slurp(out_path_);
  errors_ = slurp(err_path_);
  return code;
}

std::vector<nlohmann::json> Monitor::records() const {
  return parse_records(output_);
}

std::vector<nlohmann::json> parse_records(const std::string& text) {
  std::vector<nlohmann::json> v;
  std::istringstream in(text);
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) {
      ADD_FAILURE() << "line " << n << " is not JSON: " << line.substr(0, 300);
      continue;
    }
    // Every record of every real run must be what docs/event.schema.json documents.
    if (auto wrong = testing::schema_violations(j); !wrong.empty()) {
      ADD_FAILURE() << "record outside the schema: " << wrong << "\n" << line.substr(0, 2000);
    }
    v.push_back(std::move(j));
  }
  return v;
}

nlohmann::json parse_record(const std::string& line) {
  auto v = parse_records(line);
  if (v.size() != 1) {
    ADD_FAILURE() << "want one JSON record, got " << v.size() << ": " << line.substr(0, 300);
    return nlohmann::json::object();
  }
  return v[0];
}

Accounting account(const std::vector<nlohmann::json>& records) {
  static const std::set<std::string> kKernelTypes = {"fork", "exec",   "exit", "uid",     "gid",
                                                     "sid",  "ptrace", "comm", "coredump"};
  Accounting a;
  for (const auto& r : records) {
    const std::string type = r.value("type", "");
    if (kKernelTypes.count(type)) ++a.reported;
    if (type != "lost") continue;
    ++a.lost_records;
    if (r["count"].is_number_unsigned()) {
      a.lost += r["count"].get<uint64_t>();
    } else {
      a.count_missing = true;
    }
  }
  return a;
}

void expect_accounted(const Accounting& a, uint64_t made, uint64_t slack) {
  std::printf("accounting: made %llu, reported %llu, counted lost %llu in %llu lost records\n",
              static_cast<unsigned long long>(made), static_cast<unsigned long long>(a.reported),
              static_cast<unsigned long long>(a.lost),
              static_cast<unsigned long long>(a.lost_records));
  EXPECT_FALSE(a.count_missing) << "every lost record has a count";
  EXPECT_GE(a.reported + a.lost, made) << "reported " << a.reported << " + counted lost " << a.lost
                                       << " do not cover the " << made << " events made";
  EXPECT_LE(a.reported + a.lost, made + slack)
      << "reported " << a.reported << " + counted lost " << a.lost << " exceed the " << made
      << " events made by more than the " << slack
      << " the rest of the machine may have made: the lost counts are inflated";
}

Terminal::Terminal(const std::vector<std::string>& argv) {
  master_ = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master_ < 0 || grantpt(master_) != 0 || unlockpt(master_) != 0) {
    throw std::runtime_error("cannot open a pseudo-terminal");
  }
  const std::string slave = ptsname(master_);
  pid_ = fork();
  if (pid_ == 0) {
    setsid();
    int fd = open(slave.c_str(), O_RDWR);  // the session's first terminal: its controlling one
    if (fd < 0) _exit(126);
    dup2(fd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    auto v = c_argv(argv);
    execvp(v[0], v.data());
    _exit(127);
  }
}

Terminal::~Terminal() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (master_ >= 0) close(master_);
}

void Terminal::type(const std::string& bytes) {
  if (write(master_, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
    ADD_FAILURE() << "cannot type at the terminal";
  }
}

void Terminal::hang_up() {
  output();
  close(master_);
  master_ = -1;
}

std::string Terminal::output() {
  if (master_ < 0) return out_;
  char buf[4096];
  for (;;) {
    pollfd p{master_, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN)) break;
    ssize_t n = read(master_, buf, sizeof buf);
    if (n <= 0) break;
    out_.append(buf, static_cast<size_t>(n));
  }
  return out_;
}

int Terminal::wait(int ms) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(ms * time_scale());
  int st = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    output();  // the terminal's reader: its output must not fill up and block it
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      output();
      return decode_status(st);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

std::map<std::string, long> scenario(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {scenario_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  // 120 s, not run()'s 20: a storm of 2,000 spawns takes 8 s on an idle 2-core VM and about
  // twice that with a core busy, and the storms are loads, not what the tests time.
  CommandResult r = run(argv, 120000);
  if (r.exit_code != 0) {
    throw std::runtime_error("scenario " + args[0] + " failed (" + std::to_string(r.exit_code) +
                             "): " + r.err);
  }
  std::map<std::string, long> keys;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq != std::string::npos) keys[line.substr(0, eq)] = std::stol(line.substr(eq + 1));
  }
  return keys;
}

Watched watch(const std::vector<std::string>& monitor_opts,
              const std::vector<std::string>& scenario_args) {
  std::vector<std::string> opts = {"-f", "json"};
  opts.insert(opts.end(), monitor_opts.begin(), monitor_opts.end());
  Monitor m(opts);
  EXPECT_TRUE(m.started()) << m.errors();
  Watched w;
  w.keys = scenario(scenario_args);
  EXPECT_EQ(m.stop(), 0) << m.errors();
  w.records = m.records();
  return w;
}

CommandResult run_as_nobody(const std::vector<std::string>& proctrail_args) {
  std::vector<std::string> argv = {"setpriv",
                                   "--reuid=65534",
                                   "--regid=65534",
                                   "--clear-groups",
                                   "--inh-caps=-all",
                                   "timeout",
                                   "--preserve-status",
                                   "-s",
                                   "INT",
                                   "1",
                                   proctrail_path()};
  argv.insert(argv.end(), proctrail_args.begin(), proctrail_args.end());
  return run(argv);
}

bool unprivileged_listen_allowed() {
  pid_t child = fork();
  if (child == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    int s = socket(PF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR);
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    addr.nl_groups = 1;  // CN_IDX_PROC
    _exit(s >= 0 && bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 ? 0 : 1);
  }
  int st = 0;
  waitpid(child, &st, 0);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

gid_t monitor_group() {
  if (group* g = getgrnam(PROCTRAIL_GROUP)) return g->gr_gid;
  run({"groupadd", "--system", PROCTRAIL_GROUP});
  group* g = getgrnam(PROCTRAIL_GROUP);
  return g ? g->gr_gid : static_cast<gid_t>(-1);
}

std::string decode_base64(const std::string& b64) {
  static const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string raw;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : b64) {
    if (c == '=') break;
    acc = (acc << 6) | static_cast<uint32_t>(alphabet.find(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      raw += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return raw;
}

std::vector<std::string> split_nul(const std::string& area) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < area.size()) {
    size_t z = area.find('\0', pos);
    if (z == std::string::npos) z = area.size();
    out.push_back(area.substr(pos, z - pos));
    pos = z + 1;
  }
  return out;
}

std::vector<nlohmann::json> of(const std::vector<nlohmann::json>& records, const std::string& type,
                               long pid) {
  std::vector<nlohmann::json> v;
  for (const auto& r : records) {
    if (r.value("type", "") == type && r.value("pid", -1L) == pid) v.push_back(r);
  }
  return v;
}

}  // namespace proctrail::e2e
