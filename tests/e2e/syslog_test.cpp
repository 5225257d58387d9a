// --syslog against a real rsyslogd (Debian's package), started by the test with a private
// configuration: a unix socket, a UDP and a TCP port on 127.0.0.1, each message written to a
// file with the fields rsyslog parsed out of it (priority, time, app-name, procid, msgid,
// structured data, message), read back here.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "harness.hpp"
#include "skip.hpp"

namespace proctrail::e2e {
namespace {

using nlohmann::json;

constexpr char kRsyslogd[] = "/usr/sbin/rsyslogd";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

int free_port(int type) {
  const int fd = socket(AF_INET, type, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(fd);
    return -1;
  }
  close(fd);
  return ntohs(a.sin_port);
}

bool tcp_accepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

// An rsyslogd of the test's own, in a directory of its own.
class Rsyslogd {
 public:
  explicit Rsyslogd(const std::string& dir)
      : dir_(dir), udp_(free_port(SOCK_DGRAM)), tcp_(free_port(SOCK_STREAM)) {
    std::filesystem::create_directories(dir_);
    std::ofstream conf(dir_ + "/rsyslog.conf");
    // rsyslog's own limits (maxMessageSize 8k): what a default installation takes.
    conf << "global(workDirectory=\"" << dir_ << "\")\n"
         << "module(load=\"imuxsock\" SysSock.Use=\"off\")\n"
         << "input(type=\"imuxsock\" Socket=\"" << socket_path()
         << "\" UseSpecialParser=\"off\" IgnoreTimestamp=\"off\" ParseHostname=\"on\")\n"
         << "module(load=\"imudp\")\n"
         << "input(type=\"imudp\" address=\"127.0.0.1\" port=\"" << udp_ << "\")\n"
         << "module(load=\"imtcp\")\n"
         << "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"" << tcp_ << "\")\n"
         << "template(name=\"fields\" type=\"list\" option.jsonf=\"on\") {\n"
         << "  property(outname=\"pri\" name=\"pri\" format=\"jsonf\")\n"
         << "  property(outname=\"time\" name=\"timereported\" dateFormat=\"rfc3339\" "
            "format=\"jsonf\")\n"
         << "  property(outname=\"host\" name=\"hostname\" format=\"jsonf\")\n"
         << "  property(outname=\"app\" name=\"app-name\" format=\"jsonf\")\n"
         << "  property(outname=\"procid\" name=\"procid\" format=\"jsonf\")\n"
         << "  property(outname=\"msgid\" name=\"msgid\" format=\"jsonf\")\n"
         << "  property(outname=\"sd\" name=\"structured-data\" format=\"jsonf\")\n"
         << "  property(outname=\"msg\" name=\"msg\" format=\"jsonf\")\n"
         << "  property(outname=\"raw\" name=\"rawmsg\" format=\"jsonf\")\n"
         << "}\n"
         << "*.* action(type=\"omfile\" file=\"" << output() << "\" template=\"fields\")\n";
  }
  ~Rsyslogd() { stop(); }

  bool start() {
    pid_ = fork();
    if (pid_ == 0) {
      execl(kRsyslogd, kRsyslogd, "-n", "-f", (dir_ + "/rsyslog.conf").c_str(), "-i",
            (dir_ + "/pid").c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 200 * time_scale(); ++i) {
      if (std::filesystem::exists(socket_path()) && tcp_accepts(tcp_)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  [[nodiscard]] std::string socket_path() const { return dir_ + "/log.sock"; }
  [[nodiscard]] std::string output() const { return dir_ + "/messages.jsonl"; }
  [[nodiscard]] int udp() const { return udp_; }
  [[nodiscard]] int tcp() const { return tcp_; }
  // The messages proctrail `pid` sent, as rsyslog parsed them.
  [[nodiscard]] std::vector<json> messages_of(pid_t pid) const {
    std::vector<json> out;
    std::istringstream in(slurp(output()));
    std::string line;
    while (std::getline(in, line)) {
      auto m = json::parse(line, nullptr, false);
      if (!m.is_discarded() && m.value("procid", "") == std::to_string(pid)) out.push_back(m);
    }
    return out;
  }

 private:
  std::string dir_;
  int udp_, tcp_;
  pid_t pid_ = -1;
};

// Each structured data element's parameters by its SD-ID: [ID name="value" ...]..., with \"
// \\ \] read back.
std::map<std::string, std::map<std::string, std::string>> elements_of(const std::string& sd) {
  std::map<std::string, std::map<std::string, std::string>> out;
  size_t i = 0;
  while (i < sd.size() && sd[i] == '[') {
    const size_t id_end = std::min(sd.find_first_of(" ]", i), sd.size());
    auto& params = out[sd.substr(i + 1, id_end - i - 1)];
    i = id_end;
    while (i < sd.size() && sd[i] == ' ') {
      const size_t eq = sd.find("=\"", i);
      if (eq == std::string::npos) break;
      const std::string name = sd.substr(i + 1, eq - i - 1);
      EXPECT_LE(name.size(), 32u) << "an SD-NAME longer than RFC 5424 allows: " << name;
      std::string value;
      size_t j = eq + 2;
      for (; j < sd.size() && sd[j] != '"'; ++j) {
        if (sd[j] == '\\' && j + 1 < sd.size()) ++j;
        value += sd[j];
      }
      EXPECT_EQ(params.count(name), 0u) << name << " twice in " << sd;
      params[name] = value;
      i = j + 1;
    }
    EXPECT_EQ(sd.substr(i, 1), "]") << sd;
    ++i;
  }
  EXPECT_EQ(i, sd.size()) << "after the structured data: " << sd;
  return out;
}

// proctrail's one element, [proctrail@32473 ...].
std::map<std::string, std::string> params_of(const std::string& sd) {
  auto elements = elements_of(sd);
  EXPECT_EQ(elements.size(), 1u) << sd;
  EXPECT_EQ(elements.count("proctrail@32473"), 1u) << sd;
  return elements["proctrail@32473"];
}

// A time to the microsecond in UTC, "Z" for "+00:00" (rsyslog writes either).
std::string to_micros(const std::string& t) {
  // 2026-12-04T18:16:31.611696902Z -> 2026-12-04T18:16:31.611696Z
  return t.substr(0, 26) + "Z";
}

// The same run arrives over each transport, every event a message that rsyslog parsed as RFC
// 5424: priority from facility and outcome, the event's own time, msgid the event type, the
// JSON record's fields in the structured data (with '"', '\' and ']' escaped, a control
// character as a shell escape, never raw).
TEST(Syslog, MessagesReadBackFromARealRsyslogdOverEachTransport) {
  if (access(kRsyslogd, X_OK) != 0) PT_SKIP("no-rsyslogd") << kRsyslogd << " is not installed";
  const std::string dir = "/tmp/pt-syslog-" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  Rsyslogd daemon(dir);
  ASSERT_TRUE(daemon.start()) << "rsyslogd did not start";
  struct Case {
    std::string address, facility;
    int code;  // the facility's
  };
  const std::vector<Case> cases = {
      {"unix:" + daemon.socket_path(), "", 10},
      {"udp:127.0.0.1:" + std::to_string(daemon.udp()), "local3", 19},
      {"tcp:127.0.0.1:" + std::to_string(daemon.tcp()), "daemon", 3},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.address);
    const std::string marker = "syslog-marker-" + c.address.substr(0, 3);
    const std::string events = dir + "/" + c.address.substr(0, 3) + ".jsonl";
    std::vector<std::string> args = {proctrail_path(), "--syslog", c.address, "-f",
                                     "json",           "-o",       events};
    if (!c.facility.empty()) {
      args.push_back("--syslog-facility");
      args.push_back(c.facility);
    }
    args.insert(args.end(),
                {"--", "sh", "-c",
                 "/bin/echo 'a]b\"c\\d' \"$(printf '\\033[2J')\" " + marker +
                     "; /bin/true \"$(head -c 20000 /dev/zero | tr '\\0' x)\"; exit 3"});
    // proctrail's pid is the messages' procid: run it from a shell that says it.
    std::string line = "echo $$; exec";
    for (const auto& a : args) line += " " + shell_quote(a);
    auto r = run({"sh", "-c", line});
    ASSERT_EQ(r.exit_code, 3) << r.err;
    const pid_t pid = std::stoi(r.out);
    const auto records = parse_records(slurp(events));
    std::vector<json> got;
    for (int i = 0; i < 200 * time_scale(); ++i) {
      got = daemon.messages_of(pid);
      if (got.size() >= records.size()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_EQ(got.size(), records.size()) << "one message per event";
    // Each message to its record by what the event was (a datagram may come in another order).
    std::map<std::string, json> by_event;
    const auto key = [](const std::string& type, const std::string& time, const std::string& tid) {
      return type + " " + time + " " + tid;
    };
    for (const auto& m : got) {
      const auto p = params_of(m["sd"].get<std::string>());
      by_event[key(p.at("type"), p.at("time"), p.at("tid"))] = m;
      EXPECT_EQ(m["raw"].get<std::string>().find('\x1b'), std::string::npos)
          << "an escape character sent raw: " << m["raw"];
    }
    bool saw_echo = false, saw_exit = false, saw_long = false;
    for (const auto& rec : records) {
      const std::string k = key(rec["type"], rec["time"], std::to_string(rec["tid"].get<int>()));
      ASSERT_EQ(by_event.count(k), 1u) << k;
      const auto& m = by_event[k];
      const auto p = params_of(m["sd"].get<std::string>());
      EXPECT_EQ(m["app"], "proctrail");
      EXPECT_EQ(m["msgid"], rec["type"]);
      EXPECT_EQ(p.at("type"), rec["type"]);
      EXPECT_EQ(to_micros(m["time"].get<std::string>()), to_micros(rec["time"].get<std::string>()))
          << "the event's own time";
      if (rec.contains("exec_id")) {
        EXPECT_EQ(p.at("exec_id"), rec["exec_id"]);
      }
      const int severity = std::stoi(m["pri"].get<std::string>()) % 8;
      EXPECT_EQ(std::stoi(m["pri"].get<std::string>()) / 8, c.code);
      if (rec["type"] == "exec" && rec["argv"].back() == marker) {
        saw_echo = true;
        EXPECT_EQ(p.at("argv"), "/bin/echo 'a]b\"c\\d' $'\\x1b[2J' " + marker);
        // As RFC 5424 has it: '"', '\' and ']' escaped in the value (rsyslog would take a bare
        // ']' inside quotes, a stricter reader would end the structured data there).
        EXPECT_NE(m["raw"].get<std::string>().find("argv=\"/bin/echo 'a\\]b\\\"c\\\\d'"),
                  std::string::npos)
            << m["raw"];
        EXPECT_EQ(p.at("exe"), "/usr/bin/echo");
        EXPECT_EQ(p.at("pid"), std::to_string(rec["pid"].get<int>()));
        EXPECT_EQ(severity, 6);
        EXPECT_EQ(m["msg"].get<std::string>().rfind("exec ", 0), 0u) << m["msg"];
      }
      if (rec["type"] == "exec" && rec["argv"].size() == 2 && rec["argv"][0] == "/bin/true") {
        // 20 KB of command line: cut to a value a default rsyslog (8 KB a message) takes
        // whole, and said to be cut; who ran it is all there.
        saw_long = true;
        EXPECT_EQ(p.at("argv_cut"), "true");
        EXPECT_LE(p.at("argv").size(), 2048u);
        EXPECT_EQ(p.at("exe"), "/usr/bin/true");
        EXPECT_EQ(p.at("uid"), "0");
        EXPECT_EQ(p.at("user"), "root");
      }
      if (rec["type"] == "exit" && rec.value("exit_code", 0) == 3) {
        saw_exit = true;
        EXPECT_EQ(p.at("exit_code"), "3");
        EXPECT_EQ(severity, 5) << "a failure is a notice";
      }
    }
    EXPECT_TRUE(saw_echo);
    EXPECT_TRUE(saw_exit);
    EXPECT_TRUE(saw_long);
  }
  if (!HasFailure()) std::filesystem::remove_all(dir);
}

// The daemon behind a TCP connection restarts mid-run: capture goes on, what could not be sent
// is counted, and once the daemon is back a lost message says how many, so that the messages
// plus that count are exactly the JSON record.
TEST(Syslog, ATcpDaemonThatRestartsCostsCountedMessagesNotTheCapture) {
  if (access(kRsyslogd, X_OK) != 0) PT_SKIP("no-rsyslogd") << kRsyslogd << " is not installed";
  const std::string dir = "/tmp/pt-syslog-gone-" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  Rsyslogd daemon(dir);
  ASSERT_TRUE(daemon.start()) << "rsyslogd did not start";
  for (const char* fifo : {"go1", "renamed", "go1b", "made", "go2"}) {
    ASSERT_EQ(mkfifo((dir + "/" + fifo).c_str(), 0600), 0);
  }
  const std::string events = dir + "/events.jsonl";
  // Waits on FIFOs, which makes no process: nothing is in flight when the daemon stops.
  const std::string workload =
      "/bin/echo before; read x < \"$1/go1\"; "
      // One event alone in its batch, the first after the daemon went: a comm change (the
      // shell's own, no process made).
      "printf renamed > /proc/$$/comm; echo > \"$1/renamed\"; read x < \"$1/go1b\"; "
      "/bin/echo during-one; /bin/echo during-two; "
      "echo made > \"$1/made\"; read x < \"$1/go2\"; /bin/echo after";
  std::string line = "echo $$ > " + shell_quote(dir + "/pid-of-proctrail") + "; exec " +
                     shell_quote(proctrail_path()) +
                     " --syslog tcp:127.0.0.1:" + std::to_string(daemon.tcp()) + " -f json -o " +
                     shell_quote(events) + " -- sh -c " + shell_quote(workload) + " sh " +
                     shell_quote(dir);
  CommandResult ran;
  std::thread monitor([&] { ran = run({"sh", "-c", line}, 120000); });
  const auto settled = [&](size_t extra) {
    for (int i = 0; i < 200 * time_scale(); ++i) {
      const std::string pid_text = slurp(dir + "/pid-of-proctrail");
      const std::string rec = slurp(events);
      if (!pid_text.empty() && !rec.empty()) {
        const size_t lines = static_cast<size_t>(std::count(rec.begin(), rec.end(), '\n'));
        if (daemon.messages_of(std::stoi(pid_text)).size() + extra == lines) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  };
  const auto write_fifo = [&](const char* name) { std::ofstream(dir + "/" + name) << "go\n"; };
  const auto read_fifo = [&](const char* name) {
    std::ifstream in(dir + "/" + name);
    std::string s;
    std::getline(in, s);
  };
  // The echo's exit in the JSON record first: until it is there, the counts can agree while the
  // echo's events are still on their way (under qemu they did, the daemon was stopped with them
  // in flight, and it took one and never wrote it: what plain TCP syslog cannot know).
  const auto echo_exited = [&] {
    std::istringstream in(slurp(events));
    std::string l;
    while (std::getline(in, l)) {
      if (l.find("\"type\":\"exit\"") != std::string::npos &&
          l.find("\"comm\":\"echo\"") != std::string::npos) {
        return true;
      }
    }
    return false;
  };
  for (int i = 0; i < 200 * time_scale() && !echo_exited(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(echo_exited()) << "the first echo's exit never reached the JSON record";
  EXPECT_TRUE(settled(0)) << "the first events never reached rsyslog";
  daemon.stop();
  write_fifo("go1");
  read_fifo("renamed");
  for (int i = 0;
       i < 200 * time_scale() && slurp(events).find("\"comm\":\"renamed\"") == std::string::npos;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  settle(1000);
  write_fifo("go1b");
  read_fifo("made");
  // Until the output has handed the events made meanwhile to the sinks.
  for (int i = 0; i < 200 * time_scale() && slurp(events).find("during-two") == std::string::npos;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  settle(1000);
  ASSERT_TRUE(daemon.start()) << "rsyslogd did not start again";
  settle(1500);  // past the sink's once-a-second reconnection
  write_fifo("go2");
  monitor.join();

  const pid_t pid = std::stoi(slurp(dir + "/pid-of-proctrail"));
  const auto records = parse_records(slurp(events));
  // Until rsyslog has written all it was sent (the messages and the counts add up), or 20 s
  // (stretched under emulation) have passed.
  std::vector<json> got;
  uint64_t lost = 0, lost_messages = 0;
  std::set<std::string> argvs;
  for (int i = 0; i < 400 * time_scale(); ++i) {
    got = daemon.messages_of(pid);
    lost = lost_messages = 0;
    argvs.clear();
    for (const auto& m : got) {
      const auto p = params_of(m["sd"].get<std::string>());
      if (p.count("argv")) argvs.insert(p.at("argv"));
      if (m["msgid"] != "lost") continue;
      ++lost_messages;
      lost += std::stoull(p.at("count"));
    }
    if (got.size() - lost_messages + lost >= records.size()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (const auto& m : got) {
    if (m["msgid"] != "lost") continue;
    const auto p = params_of(m["sd"].get<std::string>());
    EXPECT_NE(p.at("reason").find("syslog could not take them"), std::string::npos)
        << p.at("reason");
  }
  EXPECT_EQ(lost_messages, 1u) << "one outage, one count";
  EXPECT_GE(lost, 5u) << "a comm, two execs and two exits at least";
  // On a failure, which records the daemon does not have, and what proctrail said.
  const auto missing = [&] {
    std::set<std::string> have;
    std::string text;
    for (const auto& m : got) {
      const auto p = params_of(m["sd"].get<std::string>());
      if (p.count("time") && p.count("tid")) have.insert(p.at("type") + p.at("time") + p.at("tid"));
      if (m["msgid"] == "lost") text += "lost record: " + m["sd"].get<std::string>() + "\n";
    }
    for (const auto& rec : records) {
      if (!rec.contains("time") || !rec.contains("tid")) continue;
      const std::string type = rec["type"];
      if (have.count(type + rec["time"].get<std::string>() + std::to_string(rec["tid"].get<int>())))
        continue;
      text += "not at the daemon: " + rec.dump() + "\n";
    }
    return text + "proctrail's stderr: " + ran.err;
  };
  EXPECT_EQ(records.size(), got.size() - lost_messages + lost)
      << "the messages and the lost count add up to the JSON record\n"
      << missing();
  EXPECT_EQ(argvs.count("/bin/echo during-one"), 0u);
  if (!HasFailure()) std::filesystem::remove_all(dir);
}

// --schema ecs: rsyslog parses the ECS names as one element and the rest as another, and the
// exec and the exit of one process are joined on process.entity_id.
TEST(Syslog, UnderEcsTheMessagesCarryEcsNames) {
  if (access(kRsyslogd, X_OK) != 0) PT_SKIP("no-rsyslogd") << kRsyslogd << " is not installed";
  const std::string dir = "/tmp/pt-syslog-ecs-" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  Rsyslogd daemon(dir);
  ASSERT_TRUE(daemon.start()) << "rsyslogd did not start";
  std::string line = "echo $$; exec";
  for (const auto& a : std::vector<std::string>{
           proctrail_path(), "--syslog", "unix:" + daemon.socket_path(), "--schema", "ecs", "-e",
           "exec,exit", "-o", "/dev/null", "--", "sh", "-c", "/bin/echo ecs-marker; exit 4"}) {
    line += " " + shell_quote(a);
  }
  auto r = run({"sh", "-c", line});
  ASSERT_EQ(r.exit_code, 4) << r.err;
  const pid_t pid = std::stoi(r.out);
  std::map<std::string, std::string> echo, shell_exit;
  for (int i = 0; i < 200 * time_scale() && (echo.empty() || shell_exit.empty()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (const auto& m : daemon.messages_of(pid)) {
      auto elements = elements_of(m["sd"].get<std::string>());
      EXPECT_EQ(elements.size(), 2u) << m["sd"];
      EXPECT_EQ(elements.count("proctrail@32473"), 1u) << m["sd"];
      const auto& ecs = elements["ecs@32473"];
      for (const auto& [name, value] : ecs) {
        EXPECT_NE(name.rfind("proctrail.", 0), 0u) << name << ": not an ECS name";
      }
      if (ecs.count("process.args") && ecs.at("process.args") == "/bin/echo ecs-marker") {
        echo = ecs;
      }
      if (ecs.count("process.exit_code") && ecs.at("process.exit_code") == "4") shell_exit = ecs;
    }
  }
  ASSERT_FALSE(echo.empty()) << "the echo's exec";
  ASSERT_FALSE(shell_exit.empty()) << "the shell's exit";
  EXPECT_EQ(echo["event.action"], "exec");
  EXPECT_EQ(echo["process.executable"], "/usr/bin/echo");
  EXPECT_EQ(echo["ecs.version"], "8.11.0");
  EXPECT_EQ(echo.count("@timestamp"), 1u);
  EXPECT_EQ(echo.count("exe"), 0u) << "no proctrail name for what ECS names";
  EXPECT_EQ(echo["process.parent.entity_id"], shell_exit["process.entity_id"]);
  EXPECT_EQ(shell_exit["event.action"], "exit");
  if (!HasFailure()) std::filesystem::remove_all(dir);
}

TEST(SyslogStart, BadAddressesAndAnAbsentDaemonAreClearErrors) {
  auto r = run({proctrail_path(), "--syslog", "smtp:mail", "--", "true"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err,
            "proctrail: error: --syslog: 'smtp:mail' is not an address (tcp:HOST[:PORT], "
            "udp:HOST[:PORT], unix:PATH or a path; [ADDR] for IPv6) (see --help)\n");
  r = run({proctrail_path(), "--syslog", "tcp:127.0.0.1:99999", "--", "true"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("is not an address"), std::string::npos) << r.err;
  r = run({proctrail_path(), "--syslog", "/dev/log", "--syslog-facility", "kernel", "--", "true"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown facility 'kernel'"), std::string::npos) << r.err;
  r = run({proctrail_path(), "--syslog-facility", "daemon", "--", "true"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--syslog-facility goes with --syslog"), std::string::npos) << r.err;
  // Nothing listens: said at start, and nothing runs.
  const int port = free_port(SOCK_STREAM);
  r = run({proctrail_path(), "--syslog", "tcp:127.0.0.1:" + std::to_string(port), "--", "true"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.err, "proctrail: error: cannot reach syslog at tcp:127.0.0.1:" +
                       std::to_string(port) + ": Connection refused\n");
}

}  // namespace
}  // namespace proctrail::e2e
