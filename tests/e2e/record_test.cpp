// --record: a live run kept in SQLite holds exactly the events the JSON record holds, one
// processes row per image joined on exec_id, and reads back through replay as the JSON does;
// the file is the caller's alone, nothing else is overwritten, and SIGKILL leaves it readable.
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "harness.hpp"
#include "skip.hpp"

namespace proctrail::e2e {
namespace {

using nlohmann::json;

std::string temp_path(const std::string& what) {
  static int n = 0;
  return "/tmp/pt-record-" + std::to_string(getpid()) + "-" + std::to_string(++n) + "-" + what;
}

void remove_db(const std::string& path) {
  for (const char* tail : {"", "-wal", "-shm"}) std::filesystem::remove(path + tail);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Writes to a recording with SQLite itself (to make one an older or newer proctrail made, or one
// recorded long ago).
void change(const std::string& db, const std::string& sql) {
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  char* message = nullptr;
  EXPECT_EQ(sqlite3_exec(h, sql.c_str(), nullptr, nullptr, &message), SQLITE_OK)
      << (message ? message : "");
  sqlite3_free(message);
  sqlite3_close(h);
}

// How many execs the record has committed, as another reader sees it while it is written;
// -1 when it cannot tell yet (no file, no table, busy).
long committed_execs(const std::string& db) {
  sqlite3* h = nullptr;
  long n = -1;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(h, "SELECT count(*) FROM events WHERE type = 'exec'", -1, &s, nullptr) ==
            SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
      n = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
  }
  sqlite3_close(h);
  return n;
}

// The rows of a query, each column as text (NULL as "NULL"), read with SQLite itself.
std::vector<std::vector<std::string>> query(const std::string& db, const std::string& sql) {
  std::vector<std::vector<std::string>> rows;
  sqlite3* h = nullptr;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << db << ": " << sqlite3_errmsg(h);
    sqlite3_close(h);
    return rows;
  }
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(h, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << sql << ": " << sqlite3_errmsg(h);
  } else {
    while (sqlite3_step(s) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int i = 0; i < sqlite3_column_count(s); ++i) {
        const auto* t = sqlite3_column_text(s, i);
        row.emplace_back(t ? reinterpret_cast<const char*>(t) : "NULL");
      }
      rows.push_back(std::move(row));
    }
  }
  sqlite3_finalize(s);
  sqlite3_close(h);
  return rows;
}

class Record : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (geteuid() != 0) PT_SKIP("needs-root") << "needs root";
  }
};

TEST_P(Record, KeepsWhatTheJsonRecordKeepsWithOneRowPerImage) {
  const std::string jsonl = temp_path("all.jsonl"), db = temp_path("trail.db");
  {
    // The view shows execs only; both records keep everything.
    Monitor m({"-b", GetParam(), "-e", "exec", "--also-json", jsonl, "--record", db});
    ASSERT_TRUE(m.started()) << m.errors();
    CommandResult w = run({"/bin/sh", "-c",
                           "ls /pt-record-nonexistent 2>/dev/null; sleep 0.1; "
                           "/bin/sh -c 'sleep 0.1; exit 3'; exit 0"});
    EXPECT_EQ(w.exit_code, 0) << w.err;
    settle(300);
    EXPECT_EQ(m.stop(), 0) << m.errors();
  }
  const auto lines = parse_records(slurp(jsonl));
  ASSERT_GT(lines.size(), 5u);

  // Every event, in order, as the same JSON line.
  auto events = query(db, "SELECT json, type, exec_id FROM events ORDER BY id");
  ASSERT_EQ(events.size(), lines.size()) << "the record keeps what the JSON keeps";
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(json::parse(events[i][0]), lines[i]) << "event " << i;
    EXPECT_EQ(events[i][1], lines[i]["type"].get<std::string>());
  }

  // One row per image: what each exec said, and the end each process's last image had.
  size_t execs = 0, ends = 0;
  for (const json& r : lines) {
    if (!r.contains("exec_id")) continue;
    const std::string id = r["exec_id"];
    auto row = query(db,
                     "SELECT argv, pid, parent_exec_id, ended_by, exit_code, signal "
                     "FROM processes WHERE exec_id = '" +
                         id + "'");
    if (r["type"] == "exec") {
      ++execs;
      ASSERT_EQ(row.size(), 1u) << r.dump();
      EXPECT_EQ(row[0][1], std::to_string(r["pid"].get<long>()));
      EXPECT_EQ(row[0][2], r["parent_exec_id"].get<std::string>());
      if (r.contains("argv")) {
        EXPECT_EQ(json::parse(row[0][0]), r["argv"]) << r.dump();
      }
    }
    if (r["type"] == "exit" && r["thread"] == false) {
      ++ends;
      ASSERT_EQ(row.size(), 1u) << r.dump();
      EXPECT_EQ(row[0][3], "exit") << r.dump();
      EXPECT_EQ(row[0][4],
                r.contains("exit_code") ? std::to_string(r["exit_code"].get<int>()) : "NULL");
      EXPECT_EQ(row[0][5], r.contains("signal") ? r["signal"].get<std::string>() : "NULL");
    }
  }
  EXPECT_GE(execs, 3u);
  EXPECT_GE(ends, 3u);

  // The image a process was forked with ends at its exec: same process, the exec's time.
  size_t replaced = 0;
  for (const json& f : lines) {
    if (f["type"] != "fork" || f["thread"] == true || !f.contains("exec_id")) continue;
    const std::string forked = f["exec_id"];
    const std::string process = forked.substr(0, forked.rfind('-') + 1);
    for (const json& x : lines) {
      if (x["type"] != "exec" || !x.contains("exec_id")) continue;
      const std::string image = x["exec_id"];
      if (image.rfind(process, 0) != 0 || image == forked) continue;
      auto row =
          query(db, "SELECT ended_by, ended FROM processes WHERE exec_id = '" + forked + "'");
      ASSERT_EQ(row.size(), 1u) << forked;
      EXPECT_EQ(row[0][0], "exec") << forked;
      EXPECT_EQ(row[0][1], x["time"].get<std::string>()) << forked;
      ++replaced;
      break;
    }
  }
  EXPECT_GE(replaced, 2u) << "the shells' children each exec'd after their fork";

  // The questions the record is for: which command failed, and what started it.
  auto failed = query(db,
                      "SELECT child.exit_code, parent.argv FROM processes AS child "
                      "JOIN processes AS parent ON parent.exec_id = child.parent_exec_id "
                      "WHERE child.argv = '[\"/bin/sh\",\"-c\",\"sleep 0.1; exit 3\"]'");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0][0], "3");
  EXPECT_EQ(json::parse(failed[0][1])[0], "/bin/sh");
  auto runs = query(db, "SELECT backend, ended IS NOT NULL FROM runs");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0][0], GetParam());
  EXPECT_EQ(runs[0][1], "1");

  // Read back, the recording is the JSON record: every view and filter gives the same.
  for (const std::vector<std::string>& view :
       {std::vector<std::string>{"-f", "json"}, {"--tree"}, {"--failed", "--no-header"}}) {
    std::vector<std::string> from_db = {proctrail_path(), "replay", db};
    std::vector<std::string> from_json = {proctrail_path(), "replay", jsonl};
    from_db.insert(from_db.end(), view.begin(), view.end());
    from_json.insert(from_json.end(), view.begin(), view.end());
    CommandResult a = run(from_db), b = run(from_json);
    EXPECT_EQ(a.exit_code, 0) << a.err;
    EXPECT_EQ(a.err, "");
    EXPECT_FALSE(a.out.empty());
    EXPECT_EQ(a.out, b.out) << view[0];
  }
  std::filesystem::remove(jsonl);
  remove_db(db);
}

// The command line /proc shows for pid ("" when none: a zombie, a kernel thread, gone).
std::string proc_cmdline(pid_t pid) {
  return slurp("/proc/" + std::to_string(pid) + "/cmdline");
}

// A recording taken mid-flight starts with the processes already running: a shell started
// before it has its row (argv from /proc, marked snapshot), its child forked before the
// recording too, its later child joins it on parent_exec_id, and its exit ends that row (the
// live exec_id is the snapshot's). A process that had ended already (a zombie nobody reaped
// yet) is not in the snapshot as running. The shell waits on a FIFO, not a clock: however
// slow proctrail's start (under emulation, seconds), it is still running when capture begins.
TEST_P(Record, StartsWithTheProcessesAlreadyRunning) {
  const std::string db = temp_path("midflight.db"), gate = temp_path("midflight.fifo");
  const std::string mark = "midflight-" + std::to_string(getpid());
  const std::string script = "head -c 1 \"$1\" >/dev/null; /bin/true \"$0\"; exit 0";
  ::unlink(gate.c_str());
  ASSERT_EQ(mkfifo(gate.c_str(), 0600), 0) << std::strerror(errno);
  pid_t shell = fork();
  if (shell == 0) {
    execl("/bin/sh", "sh", "-c", script.c_str(), mark.c_str(), gate.c_str(), nullptr);
    _exit(127);
  }
  pid_t zombie = fork();
  if (zombie == 0) _exit(0);
  // Both ready: the shell's child (head) running, waiting for the FIFO; the zombie a zombie.
  const std::string children =
      "/proc/" + std::to_string(shell) + "/task/" + std::to_string(shell) + "/children";
  bool ready = false;
  for (int i = 0; i < 600 && !ready; ++i) {
    const std::string kids = slurp(children);
    ready = !kids.empty() && proc_cmdline(std::atoi(kids.c_str())).rfind("head", 0) == 0 &&
            proc_cmdline(shell).rfind("sh", 0) == 0 && proc_cmdline(zombie).empty();
    if (!ready) settle(50);
  }
  ASSERT_TRUE(ready) << "the shell did not start its child within 30 s";
  {
    Monitor m({"-b", GetParam(), "-e", "exec", "--record", db});
    ASSERT_TRUE(m.started()) << m.errors();
    {
      std::ofstream release(gate);
      release << 'x';
    }
    int status = 0;
    waitpid(shell, &status, 0);
    EXPECT_EQ(status, 0);
    settle(300);
    EXPECT_EQ(m.stop(), 0) << m.errors();
  }
  waitpid(zombie, nullptr, 0);
  ::unlink(gate.c_str());
  auto row = query(db,
                   "SELECT snapshot, argv, ended_by, exit_code, exec_id FROM processes"
                   " WHERE pid = " +
                       std::to_string(shell) + " AND snapshot = 1");
  ASSERT_EQ(row.size(), 1u) << "the shell running before the recording has its row";
  ASSERT_NE(row[0][1], "NULL") << "the snapshot's row has the shell's argv: "
                               << testing::PrintToString(
                                      query(db, "SELECT * FROM processes WHERE pid = " +
                                                    std::to_string(shell)));
  EXPECT_EQ(json::parse(row[0][1]), json({"sh", "-c", script, mark, gate}));
  EXPECT_EQ(row[0][2], "exit") << "its exit, seen live, ended the snapshot's row";
  EXPECT_EQ(row[0][3], "0");
  auto child = query(db,
                     "SELECT c.parent_exec_id, p.snapshot FROM processes AS c"
                     " JOIN processes AS p ON p.exec_id = c.parent_exec_id"
                     " WHERE c.argv = '[\"/bin/true\",\"" +
                         mark + "\"]'");
  ASSERT_EQ(child.size(), 1u) << "the child's parent is a row to join on";
  EXPECT_EQ(child[0][0], row[0][4]);
  // The head forked before the recording is there too, under the shell.
  auto head = query(db, "SELECT count(*) FROM processes WHERE snapshot = 1 AND parent_exec_id = '" +
                            row[0][4] + "' AND argv = '[\"head\",\"-c\",\"1\",\"" + gate + "\"]'");
  EXPECT_EQ(head, (std::vector<std::vector<std::string>>{{"1"}}));
  // The zombie had ended: it is not a running process of the snapshot.
  EXPECT_EQ(query(db, "SELECT count(*) FROM processes WHERE pid = " + std::to_string(zombie) +
                          " AND snapshot = 1 AND ended IS NULL"),
            (std::vector<std::vector<std::string>>{{"0"}}))
      << "a zombie at the start is not drawn as running";
  // The snapshot is rows of processes, not events: the events table holds only what happened.
  EXPECT_EQ(query(db, "SELECT count(*) FROM events WHERE pid = " + std::to_string(shell) +
                          " AND type = 'exec'"),
            (std::vector<std::vector<std::string>>{{"0"}}));
  remove_db(db);
}

// Runs /bin/true with these arguments as user nobody, `times` times, and waits.
void flood_as_nobody(const std::string& arg, long times) {
  pid_t p = fork();
  if (p == 0) {
    if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    for (long i = 0; i < times; ++i) {
      pid_t c = fork();
      if (c == 0) {
        execl("/bin/true", "true", arg.c_str(), nullptr);
        _exit(127);
      }
      waitpid(c, nullptr, 0);
    }
    _exit(0);
  }
  waitpid(p, nullptr, 0);
}

// --record-max-size: a user who floods the record prunes its own history, not other users'.
// The file stays near the bound, and the record says what it pruned and whose. Root makes more
// events than the flooder (small ones), the flooder more bytes: the size bound weighs bytes.
TEST(RecordRetention, BeyondTheSizeTheFloodersOldestEventsGoFirst) {
  if (geteuid() != 0) PT_SKIP("needs-root") << "needs root";
  const std::string db = temp_path("bounded.db");
  const std::string early = "retention-early-" + std::to_string(getpid()),
                    late = "retention-late-" + std::to_string(getpid());
  {
    Monitor m({"-e", "exec", "--record", db, "--record-max-size", "4M"});
    ASSERT_TRUE(m.started()) << m.errors();
    run({"/bin/true", early});
    scenario({"spawn-marked", std::to_string(storm_size(400, 100)), "root-small"});
    settle(200);
    // 100 KB command lines, each kept twice (the event, the process's argv): 20 MB on real
    // hardware, 8 MB under emulation, in fewer events than root's (a fork, an exec, an exit
    // for each of its processes, about 1 MB in all).
    flood_as_nobody(std::string(100000, 'x'), storm_size(100, 40));
    run({"/bin/true", late});
    settle(500);
    EXPECT_EQ(m.stop(), 0) << m.errors();
  }
  EXPECT_EQ(query(db, "SELECT count(*) FROM events WHERE json LIKE '%" + early + "%'"),
            (std::vector<std::vector<std::string>>{{"1"}}))
      << "root's exec from before the flood is still in the record";
  EXPECT_EQ(query(db, "SELECT count(*) FROM events WHERE json LIKE '%" + late + "%'"),
            (std::vector<std::vector<std::string>>{{"1"}}));
  EXPECT_EQ(query(db, "SELECT count(*) FROM events WHERE json LIKE '%root-small-%'"),
            (std::vector<std::vector<std::string>>{{std::to_string(storm_size(400, 100))}}))
      << "root's many small events are all kept";
  auto used = query(db,
                    "SELECT (SELECT page_count FROM pragma_page_count()) -"
                    " (SELECT freelist_count FROM pragma_freelist_count())");
  ASSERT_EQ(used.size(), 1u);
  EXPECT_LE(std::stol(used[0][0]) * 4096, 4L << 20) << "pages in use within the bound";
  EXPECT_LE(std::filesystem::file_size(db), 8u << 20) << "the file near the bound";
  auto pruned = query(db, "SELECT sum(count), min(reason) FROM losses WHERE type = 'pruned'");
  ASSERT_EQ(pruned.size(), 1u);
  ASSERT_NE(pruned[0][0], "NULL") << "the record says it pruned";
  EXPECT_GT(std::stol(pruned[0][0]), 10);
  EXPECT_NE(pruned[0][1].find("uid 65534"), std::string::npos) << pruned[0][1];
  EXPECT_EQ(query(db, "PRAGMA integrity_check"), (std::vector<std::vector<std::string>>{{"ok"}}));
  remove_db(db);
}

// --record-max-age: events older than the age leave as the recording goes on.
// The age is measured against the clock, so a test that waits for it depends on how fast the
// machine is (under emulation, seconds pass between two commands). Instead, a first run is
// recorded and then dated a year back, as if it were last year's: a second run with a bound of
// ten minutes must prune it at once and keep what it records itself.
TEST(RecordRetention, EventsOlderThanTheAgeArePruned) {
  if (geteuid() != 0) PT_SKIP("needs-root") << "needs root";
  const std::string db = temp_path("aged.db");
  const std::string old_mark = "retention-old-" + std::to_string(getpid()),
                    new_mark = "retention-new-" + std::to_string(getpid());
  {
    Monitor m({"-e", "exec", "--record", db});
    ASSERT_TRUE(m.started()) << m.errors();
    run({"/bin/true", old_mark});
    settle(300);
    EXPECT_EQ(m.stop(), 0) << m.errors();
  }
  ASSERT_EQ(query(db, "SELECT count(*) FROM events WHERE json LIKE '%" + old_mark + "%'"),
            (std::vector<std::vector<std::string>>{{"1"}}));
  const std::string last_year = "'" +
                                std::to_string(1900 +
                                               [] {
                                                 const time_t now = ::time(nullptr);
                                                 struct tm t {};
                                                 gmtime_r(&now, &t);
                                                 return t.tm_year;
                                               }() -
                                               1) +
                                "-01-01T00:00:00.000000000Z'";
  change(db, "UPDATE events SET time = " + last_year + "; UPDATE losses SET time = " + last_year +
                 "; UPDATE processes SET started = " + last_year + ", ended = " + last_year +
                 " WHERE ended IS NOT NULL");
  {
    Monitor m({"-e", "exec", "--record", db, "--record-max-age", "10m"});
    ASSERT_TRUE(m.started()) << m.errors();
    run({"/bin/true", new_mark});
    // The age is looked at once a second: wait for the pruning to show in the record.
    bool pruned = false;
    for (int i = 0; i < 300 && !pruned; ++i) {
      settle(100);
      pruned = query(db, "SELECT count(*) FROM losses WHERE type = 'pruned'") !=
               std::vector<std::vector<std::string>>{{"0"}};
    }
    EXPECT_TRUE(pruned) << "no pruning within 30 s";
    EXPECT_EQ(m.stop(), 0) << m.errors();
  }
  EXPECT_EQ(query(db, "SELECT count(*) FROM events WHERE json LIKE '%" + old_mark + "%'"),
            (std::vector<std::vector<std::string>>{{"0"}}));
  EXPECT_EQ(query(db, "SELECT count(*) FROM processes WHERE argv LIKE '%" + old_mark + "%'"),
            (std::vector<std::vector<std::string>>{{"0"}}));
  EXPECT_EQ(query(db, "SELECT count(*) FROM events WHERE json LIKE '%" + new_mark + "%'"),
            (std::vector<std::vector<std::string>>{{"1"}}))
      << "what the run recorded is younger than the bound";
  EXPECT_EQ(query(db, "SELECT count(*) FROM processes WHERE argv LIKE '%" + new_mark + "%'"),
            (std::vector<std::vector<std::string>>{{"1"}}));
  auto pruned = query(db,
                      "SELECT count(*) FROM losses WHERE type = 'pruned' AND"
                      " reason LIKE '%--record-max-age%'");
  EXPECT_NE(pruned, (std::vector<std::vector<std::string>>{{"0"}}));
  remove_db(db);
}

// Killed in the middle of a storm, the recording opens cleanly and keeps what it committed.
TEST_P(Record, SigkillLeavesAReadableRecording) {
  const std::string db = temp_path("killed.db");
  long seen = -1;  // execs a second reader saw committed before the kill
  {
    Monitor m({"-b", GetParam(), "-e", "exec", "--record", db});
    ASSERT_TRUE(m.started()) << m.errors();
    // The kill comes while the storm still runs, once a batch of it is in the record: in the
    // middle of the next transaction, or between two. Not at a fixed time: how long the first
    // commit takes (it waits up to 250 ms for more events) depends on the machine, and a kill
    // before it keeps nothing of the storm, which is the documented bound, not this test.
    CommandResult w;
    std::atomic<bool> storm_over{false};
    std::thread storm([&] {
      // The storm is only the load the kill falls into, so its time is not bounded tightly:
      // 3,000 spawns took 12 s on an idle 2-core VM, 25 s there with one core kept busy, and
      // over 20 s (run()'s default) on CI's machine.
      w = run({scenario_path(), "spawn", std::to_string(storm_size(3000))}, 120000);
      storm_over = true;
    });
    for (int i = 0; i < 600 * time_scale() && seen <= 0 && !storm_over; ++i) {
      seen = committed_execs(db);
      if (seen <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    settle(300);
    const bool mid_storm = !storm_over;
    m.stop(SIGKILL);
    storm.join();
    EXPECT_EQ(w.exit_code, 0) << (w.exit_code == -1 ? "the storm did not end in 120 s" : w.err);
    EXPECT_GT(seen, 0) << "no exec of the storm was committed while it ran";
    EXPECT_TRUE(mid_storm) << "the storm ended before the kill: it should run for seconds";
  }
  EXPECT_EQ(query(db, "PRAGMA integrity_check"), (std::vector<std::vector<std::string>>{{"ok"}}));
  auto count = query(db, "SELECT count(*) FROM events WHERE type = 'exec'");
  ASSERT_EQ(count.size(), 1u);
  EXPECT_GE(std::stol(count[0][0]), std::max(seen, 1L))
      << "what was committed before the kill is kept";
  CommandResult r = run({proctrail_path(), "replay", db, "-f", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GT(parse_records(r.out).size(), 0u);
  remove_db(db);
}

// A full disk stops the record, not the capture: the view gets every exec, what the record
// committed stays readable, and once there is room again the record says how many it missed.
TEST_P(Record, AFullDiskCostsTheRecordNotTheCapture) {
  const std::string dir = temp_path("small-fs");
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  ASSERT_EQ(mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=2m"), 0) << strerror(errno);
  struct Unmount {  // also when an assertion ends the test early
    std::string path;
    ~Unmount() {
      umount2(path.c_str(), MNT_DETACH);
      std::filesystem::remove(path);
    }
  } unmount{dir};
  const std::string db = dir + "/trail.db", filler = dir + "/filler";
  constexpr int kMarked = 200;
  std::string view;
  {
    Monitor m({"-b", GetParam(), "-f", "json", "--record", db});
    ASSERT_TRUE(m.started()) << m.errors();
    {
      std::ofstream fill(filler, std::ios::binary);
      const std::string chunk(64 * 1024, 'x');
      while (fill.write(chunk.data(), static_cast<std::streamsize>(chunk.size())) && fill.flush()) {
      }
    }
    scenario({"spawn-marked", std::to_string(kMarked), "on-a-full-disk"});
    settle(500);
    std::filesystem::remove(filler);
    scenario({"spawn-marked", "20", "with-room-again"});
    settle(500);
    EXPECT_EQ(m.stop(), 0) << m.errors();
    view = m.output();
  }
  int shown = 0, events_shown = 0;
  std::map<std::string, int> shown_by_type;  // for the message, when the counts differ
  for (const json& r : parse_records(view)) {
    events_shown += r["type"] != "summary";
    ++shown_by_type[r["type"].get<std::string>()];
    if (r["type"] == "exec" && r.contains("argv") && r["argv"].size() == 2 &&
        r["argv"][1].get<std::string>().rfind("on-a-full-disk-", 0) == 0) {
      ++shown;
    }
  }
  EXPECT_EQ(shown, kMarked) << "the view lost nothing to the record's full disk";
  EXPECT_EQ(query(db, "PRAGMA integrity_check"), (std::vector<std::vector<std::string>>{{"ok"}}));
  auto lost = query(db,
                    "SELECT count, reason FROM losses WHERE type = 'lost'"
                    " AND reason LIKE '%could not take them%'");
  ASSERT_FALSE(lost.empty()) << "the record says that it missed events";
  EXPECT_GT(std::stol(lost[0][0]), 0) << lost[0][1];
  auto later = query(db, "SELECT count(*) FROM events WHERE json LIKE '%with-room-again%'");
  ASSERT_EQ(later.size(), 1u);
  EXPECT_GT(std::stol(later[0][0]), 0) << "the record takes events again once there is room";
  // Exactly: the unfiltered view and the record get the same events (the kernel's lost and
  // resync records too), so every event the view shows is in the record or in the count of a
  // lost record that the record itself says about what it could not take.
  auto kept = query(db,
                    "SELECT (SELECT count(*) FROM events WHERE type <> 'summary')"
                    " - (SELECT count(*) FROM losses WHERE type = 'lost'"
                    " AND reason LIKE '%could not take them%'),"
                    " (SELECT coalesce(sum(count), 0) FROM losses WHERE type = 'lost'"
                    " AND reason LIKE '%could not take them%')");
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(std::stol(kept[0][0]) + std::stol(kept[0][1]), events_shown)
      << kept[0][0] << " events in the record and " << kept[0][1] << " counted lost, of "
      << events_shown
      << " the view showed; by type, the view: " << testing::PrintToString(shown_by_type)
      << ", the record: "
      << testing::PrintToString(query(db, "SELECT type, count(*) FROM events GROUP BY type"));
}

INSTANTIATE_TEST_SUITE_P(Backends, Record, ::testing::ValuesIn(backends()),
                         [](const auto& p) { return p.param; });

// The file is made for the caller alone, is never reached through a link, and a file that is
// not a recording is left as it was. A second run is added to a recording.
// A version 1 recording (tables, no views) gets the views and version 2 when a run is added to
// it; one of a version this proctrail does not know is refused by all that read or write it.
TEST(RecordFile, AnOlderRecordingIsMigratedAndANewerOneRefused) {
  if (geteuid() != 0) PT_SKIP("needs-root") << "needs root";
  const std::string db = temp_path("versions.db");
  CommandResult first = run({proctrail_path(), "--record", db, "--", "true"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  change(db,
         "DROP VIEW commands; DROP VIEW failed; DROP VIEW slowest; DROP VIEW by_user;"
         " DROP VIEW by_container; DROP VIEW process_tree;"
         " ALTER TABLE processes DROP COLUMN snapshot; ALTER TABLE events DROP COLUMN uid;"
         " UPDATE meta SET value = '1' WHERE key = 'schema_version'");
  // Version 1 as it is: replay and report read it.
  CommandResult old_replay = run({proctrail_path(), "replay", db, "-f", "json"});
  EXPECT_EQ(old_replay.exit_code, 0) << old_replay.err;
  EXPECT_FALSE(old_replay.out.empty());
  CommandResult second = run({proctrail_path(), "--record", db, "--", "sh", "-c", "exit 3"});
  ASSERT_EQ(second.exit_code, 3) << second.err;
  EXPECT_EQ(query(db, "SELECT value FROM meta WHERE key = 'schema_version'"),
            (std::vector<std::vector<std::string>>{{"2"}}));
  EXPECT_EQ(query(db, "SELECT count(*) FROM runs"), (std::vector<std::vector<std::string>>{{"2"}}));
  EXPECT_EQ(query(db, "SELECT exit_code FROM failed WHERE command = 'sh -c exit 3'"),
            (std::vector<std::vector<std::string>>{{"3"}}))
      << "the views are there, over both runs";

  change(db, "UPDATE meta SET value = '3' WHERE key = 'schema_version'");
  for (const std::vector<std::string>& argv :
       {std::vector<std::string>{proctrail_path(), "--record", db, "--", "true"},
        {proctrail_path(), "replay", db},
        {proctrail_path(), "report", db, "-o", db + ".html"}}) {
    CommandResult r = run(argv);
    EXPECT_NE(r.exit_code, 0) << argv[1];
    EXPECT_NE(r.err.find("a recording of schema 3"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  EXPECT_EQ(query(db, "SELECT count(*) FROM runs"), (std::vector<std::vector<std::string>>{{"2"}}))
      << "a refused recording is left as it was";
  remove_db(db);
}

TEST(RecordFile, IsTheCallersAloneAndNothingElseIsOverwritten) {
  if (geteuid() != 0) PT_SKIP("needs-root") << "needs root";
  const std::string db = temp_path("mine.db");
  const mode_t old_mask = umask(0);  // the mode must not come from the umask
  CommandResult first = run({proctrail_path(), "--record", db, "-e", "exec", "--", "/bin/true"});
  umask(old_mask);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  struct stat st {};
  ASSERT_EQ(stat(db.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  CommandResult second = run({proctrail_path(), "--record", db, "-e", "exec", "--", "/bin/true"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(query(db, "SELECT count(*) FROM runs"), (std::vector<std::vector<std::string>>{{"2"}}));

  const std::string text = temp_path("notes.txt"), link = temp_path("link.db");
  { std::ofstream(text) << "not a recording\n"; }
  ASSERT_EQ(chmod(text.c_str(), 0644), 0);
  std::filesystem::create_symlink(db, link);
  for (const std::string& target : {text, link}) {
    CommandResult r = run({proctrail_path(), "--record", target, "--", "/bin/true"});
    EXPECT_EQ(r.exit_code, 1) << target;
    EXPECT_NE(r.err.find(target), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  }
  EXPECT_EQ(slurp(text), "not a recording\n");
  struct stat text_st {};
  ASSERT_EQ(stat(text.c_str(), &text_st), 0);
  EXPECT_EQ(text_st.st_mode & 07777, 0644u) << "a refused file keeps its mode";

  // An existing recording others could read is made the caller's alone.
  ASSERT_EQ(chmod(db.c_str(), 0644), 0);
  CommandResult third = run({proctrail_path(), "--record", db, "-e", "exec", "--", "/bin/true"});
  ASSERT_EQ(third.exit_code, 0) << third.err;
  ASSERT_EQ(stat(db.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  // A second name for the file, or a -wal file another user made (and could keep open to read
  // what is written), is refused.
  const std::string hard = temp_path("hard.db");
  ASSERT_EQ(::link(db.c_str(), hard.c_str()), 0);
  CommandResult linked = run({proctrail_path(), "--record", db, "--", "/bin/true"});
  EXPECT_EQ(linked.exit_code, 1) << linked.err;
  std::filesystem::remove(hard);
  { std::ofstream(db + "-wal") << ""; }
  ASSERT_EQ(chown((db + "-wal").c_str(), 65534, 65534), 0);
  ASSERT_EQ(chmod((db + "-wal").c_str(), 0600), 0);  // private, but not the caller's
  CommandResult foreign = run({proctrail_path(), "--record", db, "--", "/bin/true"});
  EXPECT_EQ(foreign.exit_code, 1) << foreign.err;
  EXPECT_NE(foreign.err.find("-wal"), std::string::npos) << foreign.err;
  std::filesystem::remove(db + "-wal");
  CommandResult replayed = run({proctrail_path(), "replay", text});
  EXPECT_NE(replayed.exit_code, 0) << "a text file is not replayed as a recording";
  std::filesystem::remove(text);
  std::filesystem::remove(link);
  remove_db(db);
}

// replay --since/--until: only the window is shown, and the process table still learns from
// what came before it (an exit in the window names a command that began before it).
TEST(ReplayWindow, ShowsTheWindowAndKnowsWhatCameBeforeIt) {
  if (geteuid() != 0) PT_SKIP("needs-root") << "needs root";
  const std::string record = temp_path("window.jsonl");
  CommandResult live = run({proctrail_path(), "-f", "json", "-o", record, "--", "/bin/sh", "-c",
                            "/bin/true before; sleep 0.2; /bin/true after; sleep 0.2; exit 4"});
  ASSERT_EQ(live.exit_code, 4) << live.err;
  std::string cut;
  for (const json& r : parse_records(slurp(record))) {
    if (r["type"] == "exec" && r.value("argv", json::array()) == json({"/bin/true", "after"})) {
      cut = r["time"];
    }
  }
  ASSERT_FALSE(cut.empty()) << "the exec of '/bin/true after' was recorded";

  // What a replay shows: the execs of /bin/true by their word, and whether the shell's exit 4 is
  // there.
  struct Shown {
    bool before = false, after = false, start = false, shell_exit = false;
  };
  auto shown = [&](const std::vector<std::string>& window) {
    std::vector<std::string> argv = {proctrail_path(), "replay", record, "-f", "json"};
    argv.insert(argv.end(), window.begin(), window.end());
    CommandResult r = run(argv);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    Shown s;
    for (const json& rec : parse_records(r.out)) {
      const json argv_of = rec.value("argv", json::array());
      if (rec["type"] == "exec" && argv_of == json({"/bin/true", "before"})) s.before = true;
      if (rec["type"] == "exec" && argv_of == json({"/bin/true", "after"})) s.after = true;
      if (rec["type"] == "start") s.start = true;
      if (rec["type"] == "exit" && rec.value("exit_code", 0) == 4) s.shell_exit = true;
    }
    return s;
  };
  Shown since = shown({"--since", cut});
  EXPECT_FALSE(since.before);
  EXPECT_TRUE(since.after);
  EXPECT_TRUE(since.start) << "the start record says what the stream is, whatever its time";
  EXPECT_TRUE(since.shell_exit);
  Shown until = shown({"--until", cut});
  EXPECT_TRUE(until.before);
  EXPECT_FALSE(until.after);
  EXPECT_FALSE(until.shell_exit);
  // Relative to now: the recording was made in the last day, and none of it in the future.
  Shown last_day = shown({"--since=-1d"});
  EXPECT_TRUE(last_day.before);
  EXPECT_TRUE(last_day.after);
  Shown from_now = shown({"--since", "-0s"});
  EXPECT_FALSE(from_now.before);
  EXPECT_FALSE(from_now.after);
  EXPECT_TRUE(from_now.start);

  // The shell's exit, in the window, names the command it began before the window.
  CommandResult text = run({proctrail_path(), "replay", record, "--since", cut, "--no-header"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  bool exit_named = false;
  std::istringstream lines(text.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(" exit 4  after ") != std::string::npos) {
      exit_named = line.find("/bin/sh -c") != std::string::npos;
    }
  }
  EXPECT_TRUE(exit_named) << text.out;

  for (const std::vector<std::string>& bad : {std::vector<std::string>{"--since", "yesterday"},
                                              {"--until", "2026-13-01"},
                                              {"--since=-10y"},
                                              {"--since", "2026-12-03", "--until", "2026-12-02"}}) {
    std::vector<std::string> argv = {proctrail_path(), "replay", record};
    argv.insert(argv.end(), bad.begin(), bad.end());
    CommandResult r = run(argv);
    EXPECT_EQ(r.exit_code, 2) << bad.back();
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  std::filesystem::remove(record);
}

}  // namespace
}  // namespace proctrail::e2e
