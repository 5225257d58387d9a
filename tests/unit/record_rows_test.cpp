// The record writes each image's row once per transaction, from what all of its events in that
// transaction said (src/cli/record.cpp, Pending). Whether a process's fork, execs and exit land
// in one transaction or each in its own, or in a run added to the file later, its rows must
// say the same.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cli/record.hpp"
#include "proctrail/format.hpp"

namespace proctrail {
namespace {

// The record writes exec_ids with the host it runs on (as the JSON stream does): the events
// are made with this machine's and this boot's ids, so that their keys come back as they went.
std::string id(int pid, int ordinal) {
  return format_exec_id(HostIdentity::local(),
                        ProcessKey{pid, static_cast<uint32_t>(ordinal), uint64_t(pid) * 10});
}

std::string time_at(int ms) {
  char t[64];
  std::snprintf(t, sizeof t, "2026-12-07T10:30:%02d.%03d000000Z", 10 + ms / 1000, ms % 1000);
  return t;
}

std::string fork_line(int ms, int pid, int parent) {
  return R"({"type":"fork","time":")" + time_at(ms) + R"(","ts_ns":)" +
         std::to_string(1'000'000'000LL + ms * 1'000'000LL) + R"(,"pid":)" + std::to_string(pid) +
         R"(,"tid":)" + std::to_string(pid) + R"(,"exec_id":")" + id(pid, 0) +
         R"(","parent_exec_id":")" + id(parent, 1) + R"(","parent_pid":)" + std::to_string(parent) +
         R"(,"parent_tid":)" + std::to_string(parent) + R"(,"thread":false})";
}

std::string exec_line(int ms, int pid, int ordinal, int parent, const std::string& program) {
  return R"({"type":"exec","time":")" + time_at(ms) + R"(","ts_ns":)" +
         std::to_string(1'000'000'000LL + ms * 1'000'000LL) + R"(,"pid":)" + std::to_string(pid) +
         R"(,"tid":)" + std::to_string(pid) + R"(,"exec_id":")" + id(pid, ordinal) +
         R"(","parent_exec_id":")" + id(parent, 1) + R"(","argv_source":"kernel","argv":[")" +
         program +
         R"(","-x"],"argv_truncated":false,)"
         R"("argv_bytes":10,"argc":2,"filename":")" +
         program + R"(","exe":")" + program + R"(","cwd":"/tmp","parent_pid":)" +
         std::to_string(parent) +
         R"(,"uid":1000,"euid":1000,"gid":100,"egid":100,"user":"alice","cgroup":"/user.slice"})";
}

std::string exit_line(int ms, int pid, int ordinal, int parent, int code) {
  return R"({"type":"exit","time":")" + time_at(ms) + R"(","ts_ns":)" +
         std::to_string(1'000'000'000LL + ms * 1'000'000LL) + R"(,"pid":)" + std::to_string(pid) +
         R"(,"tid":)" + std::to_string(pid) + R"(,"exec_id":")" + id(pid, ordinal) +
         R"(","parent_exec_id":")" + id(parent, 1) + R"(","exit_code":)" + std::to_string(code) +
         R"(,"core_dumped":false,"raw_exit_code":)" + std::to_string(code << 8) +
         R"(,"parent_pid":)" + std::to_string(parent) + R"(,"parent_tid":)" +
         std::to_string(parent) +
         R"(,"thread":false,"duration_ns":5000000,"duration_approximate":false})";
}

// Processes of every shape a row can take, their events interleaved as a storm has them.
std::vector<Event> events() {
  const std::vector<std::string> lines = {
      fork_line(0, 200, 100),                 // 200: forked, two execs, exits
      exec_line(1, 200, 1, 100, "/bin/sh"),   //
      fork_line(2, 300, 100),                 // 300: forked, one exec, still running
      exec_line(3, 200, 2, 100, "/bin/ls"),   //
      exec_line(4, 300, 1, 100, "/bin/cat"),  //
      exit_line(5, 200, 2, 100, 2),           //
      exit_line(6, 400, 1, 100, 0),           // 400: only its end (exec'd before the recording)
      exec_line(7, 500, 1, 100, "/bin/df"),   // 500: exec'd, no fork seen, then a second exec
      exec_line(8, 500, 2, 100, "/bin/du"),   //
      fork_line(9, 600, 100),                 // 600: forked, never exec'd, exits
      exit_line(10, 600, 0, 100, 1),          //
  };
  JsonDecoder decoder;
  std::vector<Event> out;
  for (const std::string& l : lines) {
    auto e = decoder.decode(l);
    EXPECT_TRUE(e) << (e ? "" : e.error().message) << "\n" << l;
    if (!e) return {};
    // Whose event it is, as the process table knew it: a fork's row takes it, an exec's row
    // the uid its line says (1000).
    e->uid = 0;
    out.push_back(std::move(*e));
  }
  return out;
}

struct TempDb {
  std::string path = ::testing::TempDir() + "/record_rows_" + std::to_string(::getpid()) + "_" +
                     std::to_string(counter++) + ".db";
  static inline int counter = 0;
  ~TempDb() {
    for (const char* tail : {"", "-wal", "-shm"}) ::unlink((path + tail).c_str());
  }
};

// The processes table, one line per row, in exec_id order (the run left out: it differs when a
// recording is added to).
std::vector<std::string> rows(const std::string& path) {
  sqlite3* db = nullptr;
  std::vector<std::string> out;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db,
                               "SELECT exec_id, parent_exec_id, pid, ppid, argv, exe, cwd, user,"
                               " uid, gid, cgroup, started, ended, ended_by, exit_code, signal,"
                               " core_dumped, duration_ns FROM processes ORDER BY exec_id",
                               -1, &s, nullptr),
            SQLITE_OK);
  while (sqlite3_step(s) == SQLITE_ROW) {
    std::string line;
    for (int i = 0; i < sqlite3_column_count(s); ++i) {
      const auto* t = sqlite3_column_text(s, i);
      line += (i ? " | " : "") + std::string(t ? reinterpret_cast<const char*>(t) : "NULL");
    }
    out.push_back(line);
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return out;
}

// Writes the events in groups of `per_commit`, each one write and then a commit (0: all in
// one write, one transaction, whatever the time it takes). `reopen_at`: the recording is
// closed there and the rest added to it as a second run.
std::vector<std::string> record(const std::vector<Event>& all, size_t per_commit,
                                size_t reopen_at = SIZE_MAX) {
  TempDb file;
  auto sink = cli::open_record_sink(file.path);
  EXPECT_TRUE(sink) << (sink ? "" : sink.error().message);
  if (!sink) return {};
  for (size_t at = 0; at < all.size();) {
    if (at == reopen_at) {
      EXPECT_TRUE((*sink)->close());
      sink = cli::open_record_sink(file.path);
      EXPECT_TRUE(sink) << (sink ? "" : sink.error().message);
      if (!sink) return {};
    }
    size_t end = per_commit ? std::min(all.size(), at + per_commit) : all.size();
    if (reopen_at > at && reopen_at < end) end = reopen_at;
    EXPECT_TRUE((*sink)->write(std::span<const Event>(all.data() + at, end - at)));
    if (per_commit) {
      EXPECT_TRUE((*sink)->flush());
    }
    at = end;
  }
  EXPECT_TRUE((*sink)->close());
  return rows(file.path);
}

TEST(RecordRows, EachImageSaysTheSameWhateverItsEventsTransactionsWere) {
  const auto all = events();
  ASSERT_EQ(all.size(), 11u);
  const auto together = record(all, 0);
  // What each row must say, checked once here; the other groupings must equal it.
  ASSERT_EQ(together.size(), 9u);
  auto row_of = [&](const std::string& exec_id) {
    for (const std::string& r : together) {
      if (r.rfind(exec_id + " | ", 0) == 0) return r;
    }
    return std::string("(none)");
  };
  EXPECT_NE(row_of(id(200, 0))
                .find("| 2026-12-07T10:30:10.000000000Z | "
                      "2026-12-07T10:30:10.001000000Z | exec | NULL"),
            std::string::npos)
      << row_of(id(200, 0));
  EXPECT_NE(row_of(id(200, 1))
                .find("[\"/bin/sh\",\"-x\"] | /bin/sh | /tmp | alice | 1000 | 100 | "
                      "/user.slice | 2026-12-07T10:30:10.001000000Z | "
                      "2026-12-07T10:30:10.003000000Z | exec | NULL"),
            std::string::npos)
      << row_of(id(200, 1));
  EXPECT_NE(row_of(id(200, 2))
                .find("| 2026-12-07T10:30:10.005000000Z | exit | 2 | NULL | 0 | "
                      "5000000"),
            std::string::npos)
      << row_of(id(200, 2));
  EXPECT_NE(row_of(id(300, 1))
                .find("/bin/cat | /tmp | alice | 1000 | 100 | /user.slice | "
                      "2026-12-07T10:30:10.004000000Z | NULL | NULL"),
            std::string::npos)
      << row_of(id(300, 1));
  EXPECT_NE(row_of(id(400, 1)).find("| NULL | 2026-12-07T10:30:10.006000000Z | exit | 0 |"),
            std::string::npos)
      << row_of(id(400, 1));
  EXPECT_NE(row_of(id(500, 1))
                .find("/bin/df | /tmp | alice | 1000 | 100 | /user.slice | "
                      "2026-12-07T10:30:10.007000000Z | "
                      "2026-12-07T10:30:10.008000000Z | exec |"),
            std::string::npos)
      << row_of(id(500, 1));
  EXPECT_NE(row_of(id(600, 0))
                .find("| 0 | NULL | NULL | 2026-12-07T10:30:10.009000000Z | "
                      "2026-12-07T10:30:10.010000000Z | exit | 1 |"),
            std::string::npos)
      << row_of(id(600, 0));

  EXPECT_EQ(record(all, 1), together) << "each event in its own transaction";
  EXPECT_EQ(record(all, 2), together) << "two events a transaction";
  EXPECT_EQ(record(all, 3), together) << "three events a transaction";
  for (size_t at = 1; at < all.size(); ++at) {
    EXPECT_EQ(record(all, 0, at), together) << "a second run from event " << at;
  }
}

}  // namespace
}  // namespace proctrail

namespace proctrail {
namespace {

// More images than the record holds back for one commit (src/cli/record.cpp, kMaxPending): the
// rows go into the transaction early, and the execs and exits after that merge into them.
// Each group is one write(), so that the 250 ms commit cannot come first.
TEST(RecordRows, AStormBeyondWhatACommitHoldsBackKeepsEveryRow) {
  std::vector<std::string> lines;
  constexpr int kProcesses = 1500;  // 3,000 images
  for (int i = 0; i < kProcesses; ++i) lines.push_back(fork_line(i % 1000, 1000 + i, 100));
  for (int i = 0; i < kProcesses; ++i) {
    lines.push_back(exec_line(i % 1000, 1000 + i, 1, 100, "/bin/true"));
  }
  for (int i = 0; i < kProcesses; ++i)
    lines.push_back(exit_line(i % 1000, 1000 + i, 1, 100, i % 3));
  JsonDecoder decoder;
  std::vector<Event> all;
  for (const std::string& l : lines) {
    auto e = decoder.decode(l);
    ASSERT_TRUE(e) << e.error().message;
    all.push_back(std::move(*e));
  }
  const auto together = record(all, 0);
  ASSERT_EQ(together.size(), 2u * kProcesses);
  size_t replaced = 0, exited = 0;
  for (const std::string& r : together) {
    replaced += r.find(" | exec | NULL | NULL | NULL | NULL") != std::string::npos;
    exited += r.find("/bin/true | /tmp | alice") != std::string::npos &&
              r.find(" | exit | ") != std::string::npos;
  }
  EXPECT_EQ(replaced, size_t{kProcesses}) << "each first image ended by its exec";
  EXPECT_EQ(exited, size_t{kProcesses}) << "each exec'd image with its argv and its end";
  // The first 2,500 events (1,500 forks, 1,000 execs) are more rows than are held back.
  EXPECT_EQ(record(all, 2500), together) << "the same in transactions of 2,500 events";
}

}  // namespace
}  // namespace proctrail
