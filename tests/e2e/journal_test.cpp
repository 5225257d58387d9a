// --journal against a real systemd-journald. The test starts one in a mount namespace of its
// own, with tmpfs on /run/systemd, /run/log and /var/log/journal, so this machine's journal, if
// it has one, is neither read nor written; proctrail runs in that namespace and journalctl reads
// the entries back.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "harness.hpp"
#include "skip.hpp"

namespace proctrail::e2e {
namespace {

using nlohmann::json;

constexpr char kJournald[] = "/lib/systemd/systemd-journald";

// Runs `body` (sh, with $1... from args) in a mount namespace with a journald of its own.
// Its output is the body's; exit 90: journald did not start.
CommandResult with_journald(const std::string& body, const std::vector<std::string>& args) {
  const std::string script =
      "set -u\n"
      "mkdir -p /run/systemd /run/log\n"
      "mount -t tmpfs tmpfs /run/systemd && mount -t tmpfs tmpfs /run/log || exit 91\n"
      "if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal || exit 91; fi\n"
      "/lib/systemd/systemd-journald & j=$!\n"
      "i=0\n"
      "while [ ! -S /run/systemd/journal/socket ]; do\n"
      "  i=$((i + 1)); [ $i -lt 400 ] || { kill $j; exit 90; }; sleep 0.05\n"
      "done\n" +
      body +
      "\nrc=$?\n"
      "kill $j; wait $j\n"
      "exit $rc\n";
  std::vector<std::string> argv = {"unshare", "-m", "--propagation", "private",
                                   "sh",      "-c", script,          "sh"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, 120000 * time_scale());
}

// A value as journalctl -o json gives it: a string, or its bytes as an array of numbers when
// they are not printable text.
std::string bytes_of(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  std::string out;
  if (v.is_array()) {
    for (const auto& b : v) out += static_cast<char>(b.get<int>());
  }
  return out;
}

std::vector<json> entries_in(const std::string& path) {
  std::ifstream in(path);
  std::vector<json> out;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

std::string slurp_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string field(const json& entry, const char* name) {
  return entry.contains(name) ? bytes_of(entry[name]) : std::string();
}

class Journal : public ::testing::TestWithParam<std::string> {};

// A run's events arrive as entries: each exec the JSON record has, with its exact bytes (a cwd
// with a newline in it, a 250 KB command line that no datagram holds), joined on exec_id,
// the exit status and its priority; journalctl finds them by the PROCTRAIL_ fields.
TEST_P(Journal, EntriesReadBackFromARealJournald) {
  if (access(kJournald, X_OK) != 0) PT_SKIP("no-journald") << kJournald << " is not installed";
  const std::string dir = "/tmp/pt-journal-" + std::to_string(getpid()) + "-" + GetParam();
  std::filesystem::remove_all(dir);
  const std::string odd = dir + "/cwd\nwith a newline";
  std::filesystem::create_directories(odd);
  const std::string workload =
      "cd \"$1\" && /bin/echo journal-marker 'two words' >/dev/null\n"
      "A=$(head -c 90000 /dev/zero | tr '\\0' a)\n"
      "/bin/sh -c 'sleep 1; :' \"$A\" \"$A\"  \"$A\"\n"
      "exit 3";
  const std::string body =
      "\"$1\" --journal -b \"$2\" -f json -o \"$3/events.jsonl\" --max-argv-bytes 256K "
      "  -- sh -c \"$4\" sh \"$5\"\n"
      "echo \"proctrail=$?\"\n"
      "journalctl --sync\n"
      "journalctl --no-pager --all -o json SYSLOG_IDENTIFIER=proctrail > \"$3/journal.json\"\n"
      "journalctl --no-pager -o json PROCTRAIL_EXE=/usr/bin/echo > \"$3/echo.json\"";
  auto r = with_journald(body, {proctrail_path(), GetParam(), dir, workload, odd});
  ASSERT_NE(r.exit_code, 90) << "systemd-journald did not start: " << r.err;
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("proctrail=3"), std::string::npos)
      << "run mode ends with the command's status: " << r.out << r.err;

  const auto entries = entries_in(dir + "/journal.json");
  std::map<std::string, json> execs;  // by exec_id
  std::map<std::string, json> exits;
  for (const auto& e : entries) {
    if (field(e, "PROCTRAIL_TYPE") == "exec") execs[field(e, "PROCTRAIL_EXEC_ID")] = e;
    if (field(e, "PROCTRAIL_TYPE") == "exit") exits[field(e, "PROCTRAIL_EXEC_ID")] = e;
  }
  // Every exec of the JSON record is an entry.
  std::set<std::string> recorded;
  for (const auto& rec : parse_records(slurp_file(dir + "/events.jsonl"))) {
    if (rec["type"] == "exec") recorded.insert(rec["exec_id"].get<std::string>());
  }
  ASSERT_GE(recorded.size(), 5u);
  for (const auto& id : recorded) EXPECT_EQ(execs.count(id), 1u) << id << " is not in the journal";

  const json* shell = nullptr;
  const json* echo = nullptr;
  const json* big = nullptr;
  for (const auto& [id, e] : execs) {
    const std::string argv = field(e, "PROCTRAIL_ARGV");
    if (argv.rfind("sh -c ", 0) == 0 && argv.find("journal-marker") != std::string::npos)
      shell = &e;
    if (argv == "/bin/echo journal-marker 'two words'") echo = &e;
    if (argv.rfind("/bin/sh -c 'sleep 1; :' aaaa", 0) == 0) big = &e;
  }
  ASSERT_TRUE(shell && echo && big) << entries.size() << " entries in " << dir;
  EXPECT_EQ(field(*echo, "PROCTRAIL_EXE"), "/usr/bin/echo");
  EXPECT_EQ(field(*echo, "PROCTRAIL_CWD"), odd) << "the exact bytes, the newline too";
  EXPECT_EQ(field(*echo, "PROCTRAIL_PARENT_EXEC_ID"), field(*shell, "PROCTRAIL_EXEC_ID"));
  EXPECT_EQ(field(*echo, "MESSAGE_ID"), "f8e57647f366404897c15f265028dac2");
  EXPECT_EQ(field(*echo, "PRIORITY"), "6");
  EXPECT_NE(field(*echo, "MESSAGE").find("exec "), std::string::npos);
  // Beyond a datagram: sent as a memfd, whole.
  EXPECT_GT(field(*big, "PROCTRAIL_ARGV").size(), 200'000u);
  EXPECT_EQ(field(*big, "PROCTRAIL_ARGV_TRUNCATED"), "true") << "270,025 bytes, 256K kept";

  const std::string shell_id = field(*shell, "PROCTRAIL_EXEC_ID");
  ASSERT_EQ(exits.count(shell_id), 1u);
  EXPECT_EQ(field(exits[shell_id], "PROCTRAIL_EXIT_CODE"), "3");
  EXPECT_EQ(field(exits[shell_id], "PRIORITY"), "5") << "a failure is a notice";
  EXPECT_EQ(field(exits[shell_id], "MESSAGE_ID"), "ded208c797ba4d089cfc7f4f3c0eb8ad");

  const auto found = entries_in(dir + "/echo.json");
  ASSERT_EQ(found.size(), 1u) << "journalctl PROCTRAIL_EXE=/usr/bin/echo finds the one echo";
  EXPECT_EQ(field(found[0], "PROCTRAIL_EXEC_ID"), field(*echo, "PROCTRAIL_EXEC_ID"));
  std::filesystem::remove_all(dir);
}

// --schema ecs: journalctl finds a process by its ECS fields in capitals, and the exec and the
// exit of one process are joined on PROCESS_ENTITY_ID.
TEST(JournalEcs, JournalctlFindsAProcessByItsEcsFields) {
  if (access(kJournald, X_OK) != 0) PT_SKIP("no-journald") << kJournald << " is not installed";
  const std::string dir = "/tmp/pt-journal-ecs-" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string body =
      "\"$1\" --journal --schema ecs -e exec,exit -o /dev/null "
      "  -- sh -c '/bin/echo ecs-marker >/dev/null; exit 4'\n"
      "echo \"proctrail=$?\"\n"
      "journalctl --sync\n"
      "journalctl --no-pager -o json PROCESS_EXECUTABLE=/usr/bin/echo > \"$2/echo.json\"\n"
      "journalctl --no-pager -o json PROCESS_EXIT_CODE=4 > \"$2/exit.json\"";
  auto r = with_journald(body, {proctrail_path(), dir});
  ASSERT_NE(r.exit_code, 90) << "systemd-journald did not start: " << r.err;
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("proctrail=4"), std::string::npos) << r.out << r.err;
  const auto echo = entries_in(dir + "/echo.json");
  ASSERT_EQ(echo.size(), 1u) << "journalctl PROCESS_EXECUTABLE=/usr/bin/echo finds the one echo";
  EXPECT_EQ(field(echo[0], "PROCESS_ARGS"), "/bin/echo ecs-marker");
  EXPECT_EQ(field(echo[0], "EVENT_ACTION"), "exec");
  EXPECT_EQ(field(echo[0], "ECS_VERSION"), "8.11.0");
  EXPECT_FALSE(field(echo[0], "TIMESTAMP").empty());
  EXPECT_EQ(field(echo[0], "PROCTRAIL_EXE"), "") << "no proctrail name for what ECS names";
  const auto exits = entries_in(dir + "/exit.json");
  ASSERT_EQ(exits.size(), 1u) << "journalctl PROCESS_EXIT_CODE=4 finds the shell's exit";
  EXPECT_EQ(field(exits[0], "PROCESS_ENTITY_ID"), field(echo[0], "PROCESS_PARENT_ENTITY_ID"));
  EXPECT_EQ(field(exits[0], "PRIORITY"), "5") << "a failure is a notice";
  std::filesystem::remove_all(dir);
}

// journald goes away mid-run and comes back: capture and the JSON record go on, the entries
// it could not take are counted, and once it is back a lost entry says how many, so that the
// journal plus that count is exactly what the JSON record holds.
TEST_P(Journal, AJournaldThatGoesAwayCostsCountedEntriesNotTheCapture) {
  if (access(kJournald, X_OK) != 0) PT_SKIP("no-journald") << kJournald << " is not installed";
  const std::string dir = "/tmp/pt-journal-gone-" + std::to_string(getpid()) + "-" + GetParam();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  // The command waits on FIFOs, which makes no process: no event is in flight when journald
  // is stopped.
  const std::string workload =
      "/bin/echo before\n"
      "read x < \"$1/go1\"\n"
      "/bin/echo during-one; /bin/echo during-two\n"
      "echo made > \"$1/made\"\n"
      "read x < \"$1/go2\"\n"
      "/bin/echo after";
  const std::string body = R"sh(
d=$3
mkfifo "$d/go1" "$d/made" "$d/go2"
"$1" --journal -b "$2" -f json -o "$d/events.jsonl" -- sh -c "$4" sh "$d" > "$d/out" 2>&1 &
p=$!
settled() {  # all of "before" is in the JSON record, and every event of that is in the journal
  before=$(sed -n 's/.*"pid":\([0-9]*\),.*"argv":\["\/bin\/echo","before"\].*/\1/p' "$d/events.jsonl")
  [ -n "$before" ] && grep -q "\"type\":\"exit\".*\"pid\":$before," "$d/events.jsonl" &&
    [ "$(wc -l < "$d/events.jsonl")" = "$(journalctl -q -o cat SYSLOG_IDENTIFIER=proctrail | wc -l)" ]
}
i=0
until settled; do i=$((i + 1)); [ $i -lt 600 ] || { echo "never settled"; exit 92; }; sleep 0.05; done
kill $j; wait $j
echo go > "$d/go1"
read x < "$d/made"
# Until the output has passed the events made meanwhile to the sinks (the journal's comes right
# after the file's).
i=0
until grep -q during-two "$d/events.jsonl"; do
  i=$((i + 1)); [ $i -lt 600 ] || { echo "no during-two"; exit 92; }; sleep 0.05
done
sleep 1
/lib/systemd/systemd-journald & j=$!
i=0
while ! journalctl -q -n 0 >/dev/null 2>&1 || [ ! -S /run/systemd/journal/socket ]; do
  i=$((i + 1)); [ $i -lt 400 ] || exit 90; sleep 0.05
done
sleep 0.2
echo go > "$d/go2"
wait $p
echo "proctrail=$?"
journalctl --sync
journalctl --no-pager -o json SYSLOG_IDENTIFIER=proctrail > "$d/journal.json")sh";
  auto r = with_journald(body, {proctrail_path(), GetParam(), dir, workload});
  ASSERT_NE(r.exit_code, 90) << "systemd-journald did not start: " << r.err;
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("proctrail=0"), std::string::npos) << r.out << slurp_file(dir + "/out");

  const auto records = parse_records(slurp_file(dir + "/events.jsonl"));
  const auto entries = entries_in(dir + "/journal.json");
  uint64_t lost = 0, lost_entries = 0;
  std::set<std::string> argvs;
  for (const auto& e : entries) {
    argvs.insert(field(e, "PROCTRAIL_ARGV"));
    if (field(e, "PROCTRAIL_TYPE") != "lost") continue;
    ++lost_entries;
    lost += std::stoull(field(e, "PROCTRAIL_COUNT"));
    EXPECT_NE(field(e, "PROCTRAIL_REASON").find("journal could not take them"), std::string::npos)
        << field(e, "PROCTRAIL_REASON");
    EXPECT_EQ(field(e, "PRIORITY"), "4");
  }
  EXPECT_EQ(lost_entries, 1u) << "one outage, one count";
  EXPECT_GE(lost, 4u) << "two execs and two exits at least";
  EXPECT_EQ(records.size(), entries.size() - lost_entries + lost)
      << "the journal and its lost count add up to the JSON record";
  EXPECT_EQ(argvs.count("/bin/echo during-one"), 0u);
  for (const auto& rec : records) EXPECT_NE(rec["type"], "lost") << "the capture lost nothing";
  if (!HasFailure()) std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Backends, Journal, ::testing::ValuesIn(backends()),
                         [](const auto& p) { return p.param; });

// With no journald to take them, --journal is refused at start, in one line that says why.
TEST(JournalStart, NoJournaldIsAClearErrorAtStart) {
  const std::string script =
      "mkdir -p /run/systemd && mount -t tmpfs tmpfs /run/systemd || exit 91\n"
      "exec \"$1\" --journal -- true";
  auto r = run(
      {"unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", proctrail_path()});
  ASSERT_NE(r.exit_code, 91) << r.err;
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.err,
            "proctrail: error: no systemd journal to write to: /run/systemd/journal/socket does "
            "not exist (is systemd-journald running?)\n");
}

}  // namespace
}  // namespace proctrail::e2e
