// The SQLite record (docs/record.md). In WAL mode with synchronous=NORMAL, a commit every 250 ms
// of the batches the output thread hands over: a proctrail killed with SIGKILL loses at most
// those 250 ms and the batch it was writing, and the file opens cleanly afterwards. Every event row
// keeps the event's JSON line; the columns of every table come from the same walk over the event's
// fields that writes that line, so a column cannot say something the line does not.
#include "record.hpp"

#include "sqlite_db.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <optional>
#include <cerrno>
#include <cstring>
#include <vector>

#include "output/escape.hpp"
#include "output/fields.hpp"
#include "proctrail/format.hpp"
#include "source/replay/replayed.hpp"
#include "util/clock.hpp"
#include "util/unique_fd.hpp"

namespace proctrail::cli {

namespace {

constexpr char kFormatName[] = "proctrail-record";

// events has no index on exec_id: in a storm it was 9% of the recorder's instructions and about
// a fifth of its writes, and nothing proctrail reads needs it. A recording that has one (from
// an earlier build, or a user's CREATE INDEX) keeps it (docs/record.md).
constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs(
  run INTEGER PRIMARY KEY, started TEXT, ended TEXT, hostname TEXT, machine_id TEXT,
  boot_id TEXT, backend TEXT, version TEXT, start_json TEXT);
CREATE TABLE IF NOT EXISTS events(
  id INTEGER PRIMARY KEY, run INTEGER NOT NULL, type TEXT NOT NULL, time TEXT NOT NULL,
  ts_ns INTEGER NOT NULL, pid INTEGER, tid INTEGER, exec_id TEXT, json TEXT NOT NULL,
  uid INTEGER);
CREATE TABLE IF NOT EXISTS processes(
  exec_id TEXT NOT NULL PRIMARY KEY, parent_exec_id TEXT, run INTEGER, pid INTEGER, ppid INTEGER,
  argv TEXT, exe TEXT, cwd TEXT, user TEXT, uid INTEGER, gid INTEGER, cgroup TEXT,
  container TEXT, started TEXT, ended TEXT, ended_by TEXT, exit_code INTEGER, signal TEXT,
  core_dumped INTEGER, duration_ns INTEGER, snapshot INTEGER);
CREATE INDEX IF NOT EXISTS processes_by_parent ON processes(parent_exec_id);
CREATE INDEX IF NOT EXISTS processes_by_pid ON processes(pid);
CREATE TABLE IF NOT EXISTS losses(
  id INTEGER PRIMARY KEY, run INTEGER NOT NULL, type TEXT NOT NULL, time TEXT NOT NULL,
  ts_ns INTEGER NOT NULL, count INTEGER, reason TEXT);
)sql";

// Version 2: views for the questions a record is asked most (docs/record.md). A version 1
// recording gets them when a run is added to it (migrate()).
constexpr char kViews[] = R"sql(
CREATE VIEW IF NOT EXISTS commands AS
SELECT exec_id, parent_exec_id, run, pid, ppid, user, uid, gid, container, started, ended,
       ended_by, exit_code, signal, core_dumped, duration_ns, argv, exe, cwd, snapshot,
       CASE WHEN signal IS NOT NULL THEN 'killed'
            WHEN exit_code = 0 THEN 'success'
            WHEN exit_code IS NOT NULL THEN 'failure'
            WHEN ended_by = 'exec' THEN 'replaced'
            ELSE 'running' END AS outcome,
       (SELECT group_concat(value, ' ') FROM json_each(processes.argv)) AS command
  FROM processes WHERE argv IS NOT NULL OR exe IS NOT NULL;
CREATE VIEW IF NOT EXISTS failed AS
SELECT c.started, c.outcome, c.exit_code, c.signal, c.pid, c.user, c.command,
       coalesce(p.argv, g.argv) AS started_by, c.exec_id, c.parent_exec_id
  FROM commands AS c
  LEFT JOIN processes AS p ON p.exec_id = c.parent_exec_id
  LEFT JOIN processes AS g ON g.exec_id = p.parent_exec_id
 WHERE c.outcome IN ('failure', 'killed');
CREATE VIEW IF NOT EXISTS slowest AS
SELECT duration_ns / 1e9 AS seconds, outcome, pid, user, command, exec_id
  FROM commands WHERE duration_ns IS NOT NULL ORDER BY duration_ns DESC;
CREATE VIEW IF NOT EXISTS by_user AS
SELECT user, uid, count(*) AS commands, sum(outcome IN ('failure', 'killed')) AS failed,
       min(started) AS first, max(started) AS last
  FROM commands GROUP BY uid;
CREATE VIEW IF NOT EXISTS by_container AS
SELECT container, count(*) AS commands, sum(outcome IN ('failure', 'killed')) AS failed,
       min(started) AS first, max(started) AS last
  FROM commands WHERE container IS NOT NULL GROUP BY container;
CREATE VIEW IF NOT EXISTS process_tree AS
WITH RECURSIVE tree(exec_id, depth, path) AS (
  SELECT p.exec_id, 0, coalesce(p.started, '') || ' ' || p.exec_id FROM processes AS p
   WHERE p.parent_exec_id IS NULL
      OR NOT EXISTS (SELECT 1 FROM processes AS q WHERE q.exec_id = p.parent_exec_id)
  UNION ALL
  SELECT c.exec_id, tree.depth + 1, tree.path || '/' || coalesce(c.started, '') || ' ' || c.exec_id
    FROM processes AS c JOIN tree ON c.parent_exec_id = tree.exec_id
   WHERE tree.depth < 1000)
SELECT tree.depth, p.pid, p.started, p.ended, p.ended_by, p.exit_code, p.signal, p.user,
       printf('%.*c', tree.depth * 2, ' ') ||
         coalesce((SELECT group_concat(value, ' ') FROM json_each(p.argv)), p.exe,
                  '(forked, no exec)') AS command,
       p.exec_id, p.parent_exec_id, tree.path
  FROM tree JOIN processes AS p USING (exec_id)
 WHERE NOT (p.ended_by IS 'exec' AND p.argv IS NULL AND p.exe IS NULL)
 ORDER BY tree.path;
)sql";

// The parameters every statement below may use, bound from one walk over the event's fields
// (Col): ?1 the run, ?2 the event's JSON line, and the columns after them.
enum Col : int {
  kRunId = 1,
  kLine,
  kType,
  kTime,
  kTsNs,
  kPid,
  kTid,
  kExecId,
  kParentExecId,
  kParentPid,
  kArgv,
  kExe,
  kCwd,
  kUser,
  kUid,
  kGid,
  kCgroup,
  kContainer,
  kExitCode,
  kSignal,
  kCoreDumped,
  kDurationNs,
  kCount,
  kReason,
  kProcessPart,
  kHostname,
  kMachineId,
  kBootId,
  kBackend,
  kVersion,
  kEventUid,
  kColCount
};

constexpr char kInsertEvent[] =
    "INSERT INTO events(run, type, time, ts_ns, pid, tid, exec_id, json, uid)"
    " VALUES(?1, ?3, ?4, ?5, ?6, ?7, ?8, ?2, ?31)";

// A process that was running when the run began (Sink::running), as /proc showed it. A row
// the recording has already (from an earlier run) is better than the scan: kept.
constexpr char kSnapshot[] =
    "INSERT INTO processes(exec_id, parent_exec_id, run, pid, ppid, argv, exe, cwd, user, uid,"
    " gid, cgroup, container, started, snapshot) VALUES(?8, ?9, ?1, ?6, ?10, ?11, ?12, ?13, ?14,"
    " ?15, ?16, ?17, ?18, ?4, 1) ON CONFLICT(exec_id) DO NOTHING";

// The image an exec replaced: same process (the exec_id up to its ordinal, ?25, which ends in
// '-'), older image. The ordinal is digits, which sort below ':': a range on the primary key,
// not a scan of the table.
constexpr char kReplaced[] =
    "UPDATE processes SET ended = ?4, ended_by = 'exec'"
    " WHERE exec_id >= ?25 AND exec_id < ?25 || ':' AND ended IS NULL AND exec_id <> ?8";

// One image's row, written once per transaction with all that its events in it said (Pending):
// a fork makes the row of the new process's first image; an exec makes its image's row (with
// its argv, exe, cwd, user, uid, gid, cgroup and container) and ends the older ones still open
// (ended_by 'exec'); a process's end goes on its last image's row (ended_by 'exit', exit_code
// or signal, duration), made there when the recording began after its exec. A row that an
// earlier transaction or run wrote is merged: a fork changes nothing in it, and ?21 (an exec
// was seen), ?22 (its end) and ?23 (a later exec replaced it, if it was still open) say what
// this transaction's events change.
constexpr char kRow[] =
    "INSERT INTO processes(exec_id, parent_exec_id, run, pid, ppid, argv, exe, cwd, user, uid,"
    " gid, cgroup, container, started, ended, ended_by, exit_code, signal, core_dumped,"
    " duration_ns) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"
    " ?17, ?18, ?19, ?20)"
    " ON CONFLICT(exec_id) DO UPDATE SET"
    " argv = CASE WHEN ?21 THEN excluded.argv ELSE argv END,"
    " exe = CASE WHEN ?21 THEN excluded.exe ELSE exe END,"
    " cwd = CASE WHEN ?21 THEN excluded.cwd ELSE cwd END,"
    " user = CASE WHEN ?21 THEN excluded.user ELSE user END,"
    " uid = CASE WHEN ?21 THEN excluded.uid ELSE uid END,"
    " gid = CASE WHEN ?21 THEN excluded.gid ELSE gid END,"
    " cgroup = CASE WHEN ?21 THEN excluded.cgroup ELSE cgroup END,"
    " container = CASE WHEN ?21 THEN excluded.container ELSE container END,"
    " ended = CASE WHEN ?22 THEN excluded.ended WHEN ?23 AND ended IS NULL THEN excluded.ended"
    " ELSE ended END,"
    " ended_by = CASE WHEN ?22 THEN 'exit' WHEN ?23 AND ended IS NULL THEN 'exec'"
    " ELSE ended_by END,"
    " exit_code = CASE WHEN ?22 THEN excluded.exit_code ELSE exit_code END,"
    " signal = CASE WHEN ?22 THEN excluded.signal ELSE signal END,"
    " core_dumped = CASE WHEN ?22 THEN excluded.core_dumped ELSE core_dumped END,"
    " duration_ns = CASE WHEN ?22 THEN excluded.duration_ns ELSE duration_ns END";

constexpr char kLoss[] =
    "INSERT INTO losses(run, type, time, ts_ns, count, reason) VALUES(?1, ?3, ?4, ?5, ?23, ?24)";

constexpr char kRun[] =
    "INSERT INTO runs(started, hostname, machine_id, boot_id, backend, version, start_json)"
    " VALUES(?4, ?26, ?27, ?28, ?29, ?30, ?2)";

constexpr char kRunEnded[] = "UPDATE runs SET ended = ?4 WHERE run = ?1";

// One value per parameter: NULL, an integer or text.
struct Value {
  enum class Kind : uint8_t { Null, Int, Text } kind = Kind::Null;
  int64_t i = 0;
  std::string text;
  void set(int64_t v) {
    kind = Kind::Int;
    i = v;
  }
  void set(std::string_view v) {
    kind = Kind::Text;
    text.assign(v);
  }
};

// The record's columns from the same walk over the fields that writes the JSON line: the
// top-level fields, and the host's and container's parts. Text a process controls that is not
// UTF-8 stays NULL (its line has the _b64 form).
class Columns final : public FieldVisitor {
 public:
  void reset() {
    for (Value& v : values_) v.kind = Value::Kind::Null;
    depth_ = 0;
    object_.clear();
  }
  [[nodiscard]] const Value& operator[](Col c) const { return values_[c]; }
  Value& operator[](Col c) { return values_[c]; }

  void number(std::string_view name, int64_t v) override {
    if (auto c = column(name)) values_[*c].set(v);
  }
  void count(std::string_view name, uint64_t v) override {
    if (auto c = column(name)) values_[*c].set(static_cast<int64_t>(v));
  }
  void flag(std::string_view name, bool v) override {
    if (auto c = column(name)) values_[*c].set(int64_t{v});
  }
  void word(std::string_view name, std::string_view v) override {
    if (auto c = column(name)) values_[*c].set(v);
  }
  void words(std::string_view, const std::vector<std::string>&) override {}
  void text(std::string_view name, std::string_view v) override {
    if (auto c = column(name); c && is_valid_utf8(v)) values_[*c].set(v);
  }
  void texts(std::string_view, const Strings&) override {}  // argv: from the line (Line::argv)
  void time(std::string_view name, int64_t wall_ns) override {
    if (depth_ != 0 || name != "time") return;
    Value& t = values_[kTime];
    t.kind = Value::Kind::Text;
    t.text.clear();
    append_rfc3339(t.text, wall_ns);
  }
  void none(std::string_view) override {}
  void open(std::string_view name) override {
    if (++depth_ == 1) object_.assign(name);
  }
  void close() override { --depth_; }
  void open_list(std::string_view) override { ++depth_; }
  void item() override {}
  void close_list() override { --depth_; }

 private:
  std::optional<Col> column(std::string_view name) const {
    if (depth_ == 1 && object_ == "host") {
      if (name == "hostname") return kHostname;
      if (name == "machine_id") return kMachineId;
      if (name == "boot_id") return kBootId;
      return std::nullopt;
    }
    if (depth_ == 1 && object_ == "container") {
      return name == "id" ? std::optional<Col>(kContainer) : std::nullopt;
    }
    if (depth_ != 0) return std::nullopt;
    static constexpr std::pair<std::string_view, Col> kTop[] = {{"type", kType},
                                                                {"ts_ns", kTsNs},
                                                                {"pid", kPid},
                                                                {"tid", kTid},
                                                                {"exec_id", kExecId},
                                                                {"parent_exec_id", kParentExecId},
                                                                {"parent_pid", kParentPid},
                                                                {"exe", kExe},
                                                                {"cwd", kCwd},
                                                                {"user", kUser},
                                                                {"uid", kUid},
                                                                {"gid", kGid},
                                                                {"cgroup", kCgroup},
                                                                {"exit_code", kExitCode},
                                                                {"signal", kSignal},
                                                                {"core_dumped", kCoreDumped},
                                                                {"duration_ns", kDurationNs},
                                                                {"count", kCount},
                                                                {"reason", kReason},
                                                                {"backend", kBackend},
                                                                {"version", kVersion}};
    for (const auto& [n, c] : kTop) {
      if (n == name) return c;
    }
    return std::nullopt;
  }

  std::array<Value, kColCount> values_;
  int depth_ = 0;
  std::string object_;
};

// The top-level "argv" array of a JSON line, as the line spells it (its escapes included), or
// empty. A key inside a string cannot match: its quotes would be escaped.
std::string_view argv_of(std::string_view line) {
  static constexpr std::string_view kKey = ",\"argv\":[";
  const size_t at = line.find(kKey);
  if (at == std::string_view::npos) return {};
  const size_t begin = at + kKey.size() - 1;
  bool in_string = false, escaped = false;
  for (size_t i = begin + 1; i < line.size(); ++i) {
    const char c = line[i];
    if (escaped) {
      escaped = false;
    } else if (in_string) {
      if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == ']') {
      return line.substr(begin, i + 1 - begin);
    }
  }
  return {};
}

// The page size of a new recording. A commit writes every page it changed to the WAL whole,
// and in a storm those are the right edges of six B-trees, again and again, each in a write of
// its own: with 16 KiB pages a storm cost the record about a quarter less CPU than with 4 KiB
// ones. The price is on a quiet machine, where each commit holds a few events and still
// writes those six pages: 2.4 times the bytes of 4 KiB pages (32 KiB pages: 4.4 times, for
// little more gain). bench/README.md has both.
constexpr uint64_t kPageSize = 16384;

// The database's page size, into size.
Status page_size_of(sqlite3* db, const std::string& path, uint64_t& size) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &raw, nullptr) != SQLITE_OK) {
    return db_error(db, path, "reading its page size");
  }
  Stmt s(raw);
  if (sqlite3_step(s.get()) != SQLITE_ROW) return db_error(db, path, "reading its page size");
  size = static_cast<uint64_t>(sqlite3_column_int64(s.get(), 0));
  return {};
}

// Whether the file starts with SQLite's 16-byte header ("SQLite format 3" and a NUL).
bool starts_like_sqlite(int fd) {
  static constexpr char kMagic[] = "SQLite format 3";
  char head[sizeof kMagic] = {};
  const ssize_t n = ::pread(fd, head, sizeof head, 0);
  return n == static_cast<ssize_t>(sizeof head) && std::memcmp(head, kMagic, sizeof head) == 0;
}

// The recording's schema version, or an error when the file is not a proctrail recording.
Result<int> recorded_version(sqlite3* db, const std::string& path) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db,
                         "SELECT (SELECT value FROM meta WHERE key = 'format'),"
                         " (SELECT value FROM meta WHERE key = 'schema_version')",
                         -1, &raw, nullptr) != SQLITE_OK) {
    return make_error(path + ": not a proctrail recording (" + sqlite3_errmsg(db) + ")");
  }
  Stmt s(raw);
  if (sqlite3_step(s.get()) != SQLITE_ROW) return db_error(db, path, "reading its meta table");
  const auto* format = sqlite3_column_text(s.get(), 0);
  if (!format || std::strcmp(reinterpret_cast<const char*>(format), kFormatName) != 0) {
    return make_error(path + ": not a proctrail recording (its meta table names no format)");
  }
  return sqlite3_column_int(s.get(), 1);
}

// The exec_id without its ordinal, up to and with the dash: what every image of one process
// shares. Empty when the key has no dash.
std::string process_part(std::string_view exec_id) {
  const size_t dash = exec_id.rfind('-');
  return dash == std::string_view::npos ? std::string() : std::string(exec_id.substr(0, dash + 1));
}

class RecordSink final : public Sink {
 public:
  static Result<std::unique_ptr<Sink>> open(const std::string& path, RecordRetention retention) {
    // Created for the caller alone, and never through a link, as -o's files are. SQLite makes
    // its -wal and -shm files with the database's mode; ones that exist already must be the
    // caller's too, or another user could hold them open and read what is written.
    for (const char* tail : {"", "-wal", "-shm", "-journal"}) {
      struct stat side {};
      const std::string name = path + tail;
      if (::lstat(name.c_str(), &side) != 0) continue;
      if (!S_ISREG(side.st_mode) || side.st_nlink != 1) {
        return make_error(name + ": not a regular file with one name (a recording's files are)");
      }
      if (side.st_uid != ::geteuid()) {
        return make_error(name + ": belongs to another user (a recording must be the caller's)");
      }
      if (*tail != '\0' && (side.st_mode & 077) != 0) {
        return make_error(name + ": others may read it (remove it, or record to a new file)");
      }
    }
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd.valid()) return make_error(path + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return make_error(path + ": " + std::strerror(errno));
    if (st.st_uid != ::geteuid() || st.st_nlink != 1) {
      return make_error(path + ": not the caller's alone (another owner, or more than one name)");
    }
    if (st.st_size > 0 && !starts_like_sqlite(fd.get())) {
      return make_error(path + ": exists and is not a recording (refusing to overwrite it)");
    }
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(
        path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX,
        nullptr);
    Db db(raw);
    if (rc != SQLITE_OK) return db_error(raw, path, "cannot open");
    // The file SQLite opened by name is the one checked above, not one put in its place.
    struct stat opened {};
    if (::stat(path.c_str(), &opened) != 0 || opened.st_dev != st.st_dev ||
        opened.st_ino != st.st_ino) {
      return make_error(path + ": replaced while it was being opened");
    }
    sqlite3_busy_timeout(db.get(), 2000);
    int found = kRecordSchemaVersion;
    if (st.st_size > 0) {
      auto version = recorded_version(db.get(), path);
      if (!version) return version.error();
      found = *version;
      if (found < kOldestReadable || found > kRecordSchemaVersion) {
        return make_error(path + ": a recording of schema " + std::to_string(found) +
                          ", this proctrail writes " + std::to_string(kRecordSchemaVersion) +
                          " (record to a new file)");
      }
    }
    // A recording others could read becomes the caller's alone, as -o's files do; only once it
    // is known to be one (a file refused above keeps its mode).
    if ((st.st_mode & 077) != 0 && ::fchmod(fd.get(), st.st_mode & 0700) != 0) {
      return make_error(path + ": cannot make it private: " + std::strerror(errno));
    }
    // A new file gives pruned pages back to the file system (incremental_vacuum after each
    // pruning); it must say so before its first table.
    if (st.st_size == 0) {
      const std::string first =
          "PRAGMA page_size = " + std::to_string(kPageSize) + "; PRAGMA auto_vacuum = INCREMENTAL";
      if (auto s = exec_sql(db.get(), path, first.c_str()); !s) return s.error();
    }
    uint64_t page_size = kPageSize;  // a recording added to keeps its own
    if (auto s = page_size_of(db.get(), path, page_size); !s) return s.error();
    // The WAL is checkpointed when it holds 16 MiB, and cut back to that after a checkpoint.
    // With a size bound the WAL stays small too: an eighth of the bound.
    const uint64_t wal_bytes =
        retention.max_bytes ? std::clamp<uint64_t>(retention.max_bytes / 8, 256 << 10, 16 << 20)
                            : 16 << 20;
    const uint64_t wal_pages = std::max<uint64_t>(wal_bytes / page_size, 8);
    // A small page cache: the writer appends, so the pages it touches are the right edges of
    // its B-trees, and a larger cache only grows with the file (in a storm's first seconds its
    // allocations and page faults were an eighth of the record's CPU).
    const std::string pragmas =
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -2048;"
        " PRAGMA wal_autocheckpoint = " +
        std::to_string(wal_pages) +
        "; PRAGMA journal_size_limit = " + std::to_string(wal_pages * page_size) + ";";
    if (auto s = exec_sql(db.get(), path, pragmas.c_str()); !s) return s.error();
    if (auto s = exec_sql(db.get(), path, "BEGIN IMMEDIATE"); !s) return s.error();
    if (auto s = exec_sql(db.get(), path, kSchema); !s) return s.error();
    if (found == 1) {
      if (auto s = exec_sql(db.get(), path,
                            "ALTER TABLE processes ADD COLUMN snapshot INTEGER;"
                            " ALTER TABLE events ADD COLUMN uid INTEGER");
          !s) {
        return s.error();
      }
    }
    // Migrations, in the same transaction as the run's first use of the file: version 1 had
    // the tables alone, version 2 adds processes.snapshot (above) and the views.
    if (auto s = exec_sql(db.get(), path, kViews); !s) return s.error();
    if (found < kRecordSchemaVersion) {
      const std::string bump = "UPDATE meta SET value = '" + std::to_string(kRecordSchemaVersion) +
                               "' WHERE key = 'schema_version'";
      if (auto s = exec_sql(db.get(), path, bump.c_str()); !s) return s.error();
    }
    const std::string meta =
        std::string("INSERT OR IGNORE INTO meta(key, value) VALUES('format', '") + kFormatName +
        "'), ('schema_version', '" + std::to_string(kRecordSchemaVersion) + "')";
    if (auto s = exec_sql(db.get(), path, meta.c_str()); !s) return s.error();
    if (auto s = exec_sql(db.get(), path, "COMMIT"); !s) return s.error();
    auto sink = std::unique_ptr<RecordSink>(new RecordSink(std::move(db), path, retention));
    if (auto s = sink->prepare_all(); !s) return s.error();
    // Only the size bound weighs users (reading every event of a recording added to, which
    // that bound keeps small); the age alone needs nothing.
    if (retention.max_bytes && st.st_size > 0) {
      if (auto s = sink->count_rows(); !s) return s.error();
    }
    return std::unique_ptr<Sink>(std::move(sink));
  }

  ~RecordSink() override { (void)close(); }

  // One transaction for the batches of up to kCommitEvery: they are in the record whole or,
  // when the commit fails (a full disk), not at all, and then the sink's failure policy counts
  // and reports them all (take_lost_earlier). A commit costs about the same whatever it holds
  // (every B-tree page it touches is written to the WAL whole), so fewer of them is most of
  // what keeps the record's CPU near the JSON stream's.
  Status write(std::span<const Event> events) override {
    if (!db_) return make_error(path_ + ": closed");
    if (events.empty()) return {};
    const uint64_t earlier = held_;  // this call's own events the route counts itself
    if (!in_transaction_) {
      if (auto s = exec_sql(db_.get(), path_, "BEGIN IMMEDIATE"); !s) return s;
      in_transaction_ = true;
      began_ = std::chrono::steady_clock::now();
      run_at_begin_ = run_;
    }
    bool at_once = false;
    for (const Event& e : events) {
      if (auto s = put(e); !s) return abandon(s, earlier);
      // The rows held for the commit stay few whatever the rate (about 1 KiB each): beyond
      // kMaxPending they go into the transaction now, and later events merge into them there.
      if (pending_.size() >= kMaxPending) {
        if (auto s = write_pending(); !s) return abandon(s, earlier);
      }
      at_once = at_once || e.type() == EventType::Lost || e.type() == EventType::Start;
    }
    // The run's end so far: its last event's time, kept with every batch (a SIGKILL too
    // leaves it right as of the last commit).
    if (auto s = run(ended_.get()); !s) return abandon(s, earlier);
    held_ += events.size();
    // A lost record is committed at once (its write's success says that its count is kept),
    // and a start record (the run's row and the snapshot of what was running).
    if (at_once || std::chrono::steady_clock::now() - began_ >= kCommitEvery) {
      return commit(earlier);
    }
    return {};
  }

  [[nodiscard]] uint64_t take_lost_earlier() override { return std::exchange(lost_earlier_, 0); }

  Status flush() override { return commit(held_); }

  [[nodiscard]] bool keeps_history() const override { return true; }

  Status running(std::span<const Event> processes) override {
    snapshot_.assign(processes.begin(), processes.end());
    return {};
  }

  // The open transaction's commit once it is kCommitEvery old, and retention
  // (--record-max-age, --record-max-size), checked once a second.
  Status tick() override {
    if (in_transaction_ && std::chrono::steady_clock::now() - began_ >= kCommitEvery) {
      if (auto s = commit(held_); !s) return s;
    }
    if (!db_ || run_ == 0 || in_transaction_ ||
        (retention_.max_bytes == 0 && retention_.max_age_ns == 0)) {
      return {};
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_prune_ < std::chrono::seconds(1)) return {};
    last_prune_ = now;
    return prune_now(true);
  }

  Status close() override {
    if (!db_) return {};
    Status committed = commit(held_);
    for (Stmt* s : {&event_, &replaced_, &loss_, &run_row_, &ended_, &snapshot_row_, &row_}) {
      s->reset();
    }
    // The last connection's close checkpoints the WAL into the database file.
    db_.reset();
    return committed;
  }

 private:
  // The open transaction's process rows, by exec_id, written by commit() (kRow): a storm's
  // process gets its fork, exec and exit within one: two rows written once each, where a
  // statement per event wrote them and then changed them twice.
  // Its own parameters, not Col's: a row has two times (its start, its end) from two events,
  // and its uid from the fork's process table or the exec's line.
  struct Pending {
    enum : int {
      kExecId = 1,
      kParent,
      kRun,
      kPid,
      kPpid,
      kArgv,
      kExe,
      kCwd,
      kUser,
      kUid,
      kGid,
      kCgroup,
      kContainer,
      kStarted,
      kEnded,
      kEndedBy,
      kExitCode,
      kSignal,
      kCoreDumped,
      kDurationNs,
      kCount  // the flags of kRow follow: ?21 exec, ?22 exit, ?23 replaced
    };
    std::array<Value, kCount> v;
    bool exec = false, exit = false, replaced = false;
  };
  struct Images {
    std::vector<size_t> rows;  // indices into pending_
    bool forked_here = false;  // its fork is in this transaction: every image is in pending_
  };

  RecordSink(Db db, std::string path, RecordRetention retention)
      : db_(std::move(db)), path_(std::move(path)), retention_(retention) {
    ctx_.host = HostIdentity::local();  // as the JSON formatter starts
  }

  // A parameter of an ad hoc statement: NULL, an integer or text.
  using Param = std::variant<std::monostate, int64_t, std::string>;

  // Runs sql with params; calls row(statement) for each row it gives.
  template <class F>
  Status each_row(const std::string& sql, std::initializer_list<Param> params, F&& row) {
    return each_row(sql.c_str(), params, std::forward<F>(row));
  }
  template <typename F>
  Status each_row(const char* sql, std::initializer_list<Param> params, F&& row) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db_.get(), sql, -1, &raw, nullptr) != SQLITE_OK) {
      return db_error(db_.get(), path_, "preparing a statement");
    }
    Stmt s(raw);
    int i = 0;
    for (const Param& p : params) {
      ++i;
      if (const auto* n = std::get_if<int64_t>(&p)) {
        sqlite3_bind_int64(raw, i, *n);
      } else if (const auto* t = std::get_if<std::string>(&p)) {
        sqlite3_bind_text(raw, i, t->data(), static_cast<int>(t->size()), SQLITE_TRANSIENT);
      } else {
        sqlite3_bind_null(raw, i);
      }
    }
    int rc = 0;
    while ((rc = sqlite3_step(raw)) == SQLITE_ROW) row(raw);
    if (rc != SQLITE_DONE) return db_error(db_.get(), path_, "pruning");
    return {};
  }
  Status exec(const char* sql, std::initializer_list<Param> params) {
    return each_row(sql, params, [](sqlite3_stmt*) {});
  }

  static Param uid_param(int64_t uid) { return uid == kNoUid ? Param{} : Param{uid}; }

  // What the record holds without its free pages.
  uint64_t used_bytes() {
    uint64_t pages = 0, free_pages = 0, page_size = 0;
    (void)each_row("PRAGMA page_count", {}, [&](sqlite3_stmt* s) {
      pages = static_cast<uint64_t>(sqlite3_column_int64(s, 0));
    });
    (void)each_row("PRAGMA freelist_count", {}, [&](sqlite3_stmt* s) {
      free_pages = static_cast<uint64_t>(sqlite3_column_int64(s, 0));
    });
    (void)each_row("PRAGMA page_size", {}, [&](sqlite3_stmt* s) {
      page_size = static_cast<uint64_t>(sqlite3_column_int64(s, 0));
    });
    return (pages - std::min(pages, free_pages)) * page_size;
  }

  // Weighs the events of each uid in the record, for a recording added to.
  Status count_rows() {
    return each_row("SELECT uid, count(*), " + event_bytes_sql() + " FROM events GROUP BY uid", {},
                    [&](sqlite3_stmt* s) {
                      const int64_t uid = sqlite3_column_type(s, 0) == SQLITE_NULL
                                              ? kNoUid
                                              : sqlite3_column_int64(s, 0);
                      by_uid_[uid].add(static_cast<uint64_t>(sqlite3_column_int64(s, 1)),
                                       static_cast<uint64_t>(sqlite3_column_int64(s, 2)));
                    });
  }

  // One pruning in a transaction of its own; pages it frees go back to the file system.
  // A pruning that is rolled back (a full disk) leaves each user's weight as it was.
  Status prune_now(bool by_age) {
    if (auto s = exec_sql(db_.get(), path_, "BEGIN IMMEDIATE"); !s) return s;
    const auto weights_before = by_uid_;
    auto undo = [&](Status failed) {
      by_uid_ = weights_before;
      return rollback(std::move(failed));
    };
    if (auto s = prune(by_age); !s) return undo(s);
    if (auto s = exec_sql(db_.get(), path_, "COMMIT"); !s) return undo(s);
    return exec_sql(db_.get(), path_, "PRAGMA incremental_vacuum");
  }

  // Old events go by age; beyond the size, the oldest events of the user whose events weigh
  // the most in the record go first (bytes, not a count: a few huge command lines weigh more
  // than many short ones), so that a user's flood prunes its own history, not other users'.
  // Each pruning leaves a row in losses (type 'pruned'): the gap shows.
  Status prune(bool by_age) {
    const int64_t wall_now = ClockSync().to_wall_ns(monotonic_now_ns());
    std::string now_text;
    append_rfc3339(now_text, wall_now);
    std::vector<std::tuple<int64_t, uint64_t, std::string>> notes;  // uid, events, why
    if (by_age && retention_.max_age_ns > 0) {
      std::string cut;
      append_rfc3339(cut, wall_now - retention_.max_age_ns);
      int64_t first_kept = -1;
      if (auto s = each_row("SELECT id FROM events WHERE time >= ?1 ORDER BY id LIMIT 1", {cut},
                            [&](sqlite3_stmt* q) { first_kept = sqlite3_column_int64(q, 0); });
          !s) {
        return s;
      }
      if (first_kept < 0) first_kept = INT64_MAX;             // everything is older
      std::map<int64_t, std::pair<uint64_t, uint64_t>> gone;  // uid: events, bytes
      if (auto s = each_row(
              "SELECT uid, count(*), " + event_bytes_sql() +
                  " FROM events WHERE id < ?1 GROUP BY uid",
              {first_kept},
              [&](sqlite3_stmt* q) {
                auto& g =
                    gone[sqlite3_column_type(q, 0) == SQLITE_NULL ? kNoUid
                                                                  : sqlite3_column_int64(q, 0)];
                g.first += static_cast<uint64_t>(sqlite3_column_int64(q, 1));
                g.second += static_cast<uint64_t>(sqlite3_column_int64(q, 2));
              });
          !s) {
        return s;
      }
      if (!gone.empty()) {
        if (auto s = exec("DELETE FROM events WHERE id < ?1", {first_kept}); !s) return s;
        if (auto s = exec("DELETE FROM processes WHERE ended IS NOT NULL AND ended < ?1", {cut});
            !s) {
          return s;
        }
        if (auto s = exec("DELETE FROM losses WHERE time < ?1", {cut}); !s) return s;
        uint64_t total = 0;
        for (const auto& [uid, g] : gone) {
          by_uid_[uid].take(g.first, g.second);
          total += g.first;
        }
        notes.emplace_back(kNoUid, total,
                           "retention: older than --record-max-age (before " + cut + ")");
      }
    }
    if (retention_.max_bytes > 0 && used_bytes() > retention_.max_bytes) {
      const uint64_t target = retention_.max_bytes / 10 * 9;
      std::map<int64_t, uint64_t> gone;
      for (int round = 0; round < 256 && used_bytes() > target; ++round) {
        int64_t heaviest = kNoUid;
        uint64_t most = 0;
        for (const auto& [uid, w] : by_uid_) {
          if (uid != kNoUid && w.bytes > most) {
            heaviest = uid;
            most = w.bytes;
          }
        }
        if (most == 0) break;  // only records of no user left: the start and loss records
        // That user's oldest events, as many as should bring the record under the target by
        // their average weight (a few 100 KB lines, or many short ones), at least 16.
        const Weight& w = by_uid_[heaviest];
        const uint64_t average = std::max<uint64_t>(1, w.bytes / std::max<uint64_t>(1, w.events));
        const int64_t batch = static_cast<int64_t>(
            std::max<uint64_t>(16, (used_bytes() - std::min(used_bytes(), target)) / average + 1));
        int64_t last_id = 0;
        uint64_t n = 0, bytes = 0;
        std::string last_time;
        if (auto s = each_row("SELECT max(id), max(time), count(*), " + event_bytes_sql() +
                                  " FROM (SELECT id, time, json FROM events WHERE uid IS ?1"
                                  " ORDER BY id LIMIT ?2)",
                              {uid_param(heaviest), batch},
                              [&](sqlite3_stmt* q) {
                                last_id = sqlite3_column_int64(q, 0);
                                const auto* t = sqlite3_column_text(q, 1);
                                last_time = t ? reinterpret_cast<const char*>(t) : "";
                                n = static_cast<uint64_t>(sqlite3_column_int64(q, 2));
                                bytes = static_cast<uint64_t>(sqlite3_column_int64(q, 3));
                              });
            !s) {
          return s;
        }
        if (n == 0) {
          by_uid_[heaviest] = {};
          continue;
        }
        if (auto s = exec("DELETE FROM events WHERE uid IS ?1 AND id <= ?2",
                          {uid_param(heaviest), last_id});
            !s) {
          return s;
        }
        if (auto s = exec("DELETE FROM processes WHERE uid IS ?1 AND ended IS NOT NULL AND"
                          " ended <= ?2",
                          {uid_param(heaviest), last_time});
            !s) {
          return s;
        }
        by_uid_[heaviest].take(n, bytes);
        gone[heaviest] += n;
      }
      for (const auto& [uid, n] : gone) {
        notes.emplace_back(uid, n,
                           "retention: beyond --record-max-size, the oldest events of uid " +
                               std::to_string(uid) + ", the user with the most in the record");
      }
    }
    for (const auto& [uid, n, why] : notes) {
      (void)uid;
      if (auto s = exec("INSERT INTO losses(run, type, time, ts_ns, count, reason)"
                        " VALUES(?1, 'pruned', ?2, ?3, ?4, ?5)",
                        {static_cast<int64_t>(run_), now_text,
                         static_cast<int64_t>(monotonic_now_ns()), static_cast<int64_t>(n), why});
          !s) {
        return s;
      }
    }
    return {};
  }

  Status prepare_all() {
    const std::pair<Stmt*, const char*> all[] = {
        {&event_, kInsertEvent}, {&replaced_, kReplaced},     {&loss_, kLoss}, {&run_row_, kRun},
        {&ended_, kRunEnded},    {&snapshot_row_, kSnapshot}, {&row_, kRow}};
    for (const auto& [stmt, sql] : all) {
      auto s = prepare(db_.get(), path_, sql);
      if (!s) return s.error();
      *stmt = std::move(*s);
    }
    return {};
  }

  // The open transaction, committed. Of the events it holds, `earlier` came in calls that
  // returned success: if the commit fails they are counted lost by take_lost_earlier().
  Status commit(uint64_t earlier) {
    if (!in_transaction_) return {};
    if (auto s = write_pending(); !s) return abandon(s, earlier);
    if (auto s = exec_sql(db_.get(), path_, "COMMIT"); !s) return abandon(s, earlier);
    in_transaction_ = false;
    held_ = 0;
    for (const auto& [uid, w] : batch_weight_) by_uid_[uid].add(w.events, w.bytes);
    batch_weight_.clear();
    if (snapshot_written_) {
      snapshot_.clear();
      snapshot_written_ = false;
    }
    // The size bound holds commit by commit (the age is looked at once a second, in tick()).
    // The events are in: a pruning that fails (a full disk) is not their failure. tick() tries
    // again within a second, and its error is the one the route keeps.
    if (retention_.max_bytes > 0 && used_bytes() > retention_.max_bytes) {
      (void)prune_now(false);
    }
    return {};
  }

  Status rollback(Status failed) {
    (void)exec_sql(db_.get(), path_, "ROLLBACK");
    return failed;
  }

  // The open transaction, rolled back: a run row made in it is gone with it, and the
  // snapshot goes with the next run row.
  Status abandon(Status failed, uint64_t earlier) {
    in_transaction_ = false;
    forget_pending();
    run_ = run_at_begin_;
    batch_weight_.clear();
    snapshot_written_ = false;
    lost_earlier_ += earlier;
    held_ = 0;
    return rollback(std::move(failed));
  }

  static void bind_value(sqlite3_stmt* s, int i, const Value& v) {
    switch (v.kind) {
      case Value::Kind::Null:
        sqlite3_bind_null(s, i);
        break;
      case Value::Kind::Int:
        sqlite3_bind_int64(s, i, v.i);
        break;
      case Value::Kind::Text:
        sqlite3_bind_text(s, i, v.text.data(), static_cast<int>(v.text.size()), SQLITE_STATIC);
        break;
    }
  }

  // Runs one statement with the current event's values bound to the parameters it has.
  Status run(sqlite3_stmt* s) {
    sqlite3_reset(s);
    const int n = sqlite3_bind_parameter_count(s);
    for (int i = 1; i <= n; ++i) bind_value(s, i, cols_[static_cast<Col>(i)]);
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return db_error(db_.get(), path_, "writing");
    return {};
  }

  // The columns of e, from its JSON line and the same walk that writes it.
  void bind(const Event& e) {
    line_.clear();
    cols_.reset();
    learn_from(e, ctx_);
    append_json_line(e, ctx_, line_, &cols_);
    cols_[kLine].set(line_);
  }

  // The row of the current event's image in this transaction, made with what every event of a
  // process says (the first one's time is its start when it is a fork or an exec).
  Pending& pending_row(bool with_start, const std::string& part) {
    const std::string& id = cols_[kExecId].text;
    auto [at, made] = pending_at_.try_emplace(id, pending_.size());
    if (!made) return pending_[at->second];
    Pending& p = pending_.emplace_back();
    p.v[Pending::kExecId] = cols_[kExecId];
    p.v[Pending::kParent] = cols_[kParentExecId];
    p.v[Pending::kRun] = cols_[kRunId];
    p.v[Pending::kPid] = cols_[kPid];
    p.v[Pending::kPpid] = cols_[kParentPid];
    if (with_start) p.v[Pending::kStarted] = cols_[kTime];
    images_[part].rows.push_back(at->second);
    return p;
  }

  // A new process: its first image. Every later image of it is seen by this sink after this,
  // so while this transaction lasts, the images an exec replaces are all in pending_.
  void forked() {
    if (pending_at_.contains(cols_[kExecId].text)) return;  // kForked's DO NOTHING
    const std::string part = process_part(cols_[kExecId].text);
    Pending& p = pending_row(true, part);
    p.v[Pending::kUid] = cols_[kEventUid];
    images_[part].forked_here = true;
  }

  // A new image: it ends the process's older ones still open, here and in the file (kReplaced,
  // unless the process was forked in this transaction).
  Status execed() {
    const std::string part = process_part(cols_[kExecId].text);
    const Images& images = images_[part];
    for (size_t i : images.rows) {
      Pending& older = pending_[i];
      if (older.v[Pending::kExecId].text == cols_[kExecId].text ||
          older.v[Pending::kEnded].kind != Value::Kind::Null) {
        continue;
      }
      older.v[Pending::kEnded] = cols_[kTime];
      older.v[Pending::kEndedBy].set(std::string_view("exec"));
      older.replaced = true;
    }
    if (!images.forked_here) {
      cols_[kProcessPart].set(part);
      if (auto s = run(replaced_.get()); !s) return s;
    }
    Pending& p = pending_row(true, part);
    for (auto [to, from] : {std::pair{Pending::kArgv, kArgv},
                            {Pending::kExe, kExe},
                            {Pending::kCwd, kCwd},
                            {Pending::kUser, kUser},
                            {Pending::kUid, kUid},
                            {Pending::kGid, kGid},
                            {Pending::kCgroup, kCgroup},
                            {Pending::kContainer, kContainer}}) {
      p.v[to] = cols_[from];
    }
    p.exec = true;
    return {};
  }

  // The process's end, on its last image's row.
  void exited() {
    Pending& p = pending_row(false, process_part(cols_[kExecId].text));
    p.v[Pending::kEnded] = cols_[kTime];
    p.v[Pending::kEndedBy].set(std::string_view("exit"));
    for (auto [to, from] : {std::pair{Pending::kExitCode, kExitCode},
                            {Pending::kSignal, kSignal},
                            {Pending::kCoreDumped, kCoreDumped},
                            {Pending::kDurationNs, kDurationNs}}) {
      p.v[to] = cols_[from];
    }
    p.exit = true;
  }

  // This transaction's rows, each written once, in the order their first event came.
  Status write_pending() {
    sqlite3_stmt* s = row_.get();
    for (const Pending& p : pending_) {
      sqlite3_reset(s);
      for (int i = 1; i < Pending::kCount; ++i) bind_value(s, i, p.v[i]);
      sqlite3_bind_int(s, Pending::kCount, p.exec);
      sqlite3_bind_int(s, Pending::kCount + 1, p.exit);
      sqlite3_bind_int(s, Pending::kCount + 2, p.replaced);
      const int rc = sqlite3_step(s);
      sqlite3_reset(s);
      if (rc != SQLITE_DONE) return db_error(db_.get(), path_, "writing");
    }
    forget_pending();
    return {};
  }

  void forget_pending() {
    pending_.clear();
    pending_at_.clear();
    images_.clear();
  }

  // The processes running when the run began, one row each, in the run's first batch.
  Status put_snapshot() {
    for (const Event& p : snapshot_) {
      bind(p);
      if (cols_[kExecId].kind != Value::Kind::Text) continue;
      cols_[kRunId].set(static_cast<int64_t>(run_));
      if (auto argv = argv_of(line_); !argv.empty()) cols_[kArgv].set(argv);
      if (auto s = run(snapshot_row_.get()); !s) return s;
    }
    snapshot_written_ = true;
    return {};
  }

  Status put(const Event& e) {
    bind(e);
    if (e.type() == EventType::Start || run_ == 0) {
      // A run begins with its start record; events before one (none, from proctrail) get a
      // run of their own, with what is known of it left empty.
      if (auto s = run(run_row_.get()); !s) return s;
      run_ = sqlite3_last_insert_rowid(db_.get());
      if (!snapshot_.empty() && !snapshot_written_) {
        if (auto s = put_snapshot(); !s) return s;
        bind(e);
      }
    }
    cols_[kRunId].set(static_cast<int64_t>(run_));
    // Whose event it is, as the process table knew it (a line says it only for an exec).
    if (e.uid) cols_[kEventUid].set(static_cast<int64_t>(*e.uid));
    batch_weight_[e.uid ? static_cast<int64_t>(*e.uid) : kNoUid].add(1,
                                                                     line_.size() + kRowOverhead);
    if (auto s = run(event_.get()); !s) return s;
    // An event whose process nobody knew (after lost events) has no image to be a row of.
    if (cols_[kExecId].kind != Value::Kind::Text) {
      return e.type() == EventType::Lost || e.type() == EventType::Resync ? run(loss_.get())
                                                                          : Status{};
    }
    switch (e.type()) {
      case EventType::Fork:
        if (!std::get<ForkData>(e.data).is_thread()) forked();
        return {};
      case EventType::Exec:
        if (auto argv = argv_of(line_); !argv.empty()) cols_[kArgv].set(argv);
        return execed();
      case EventType::Exit:
        if (std::get<ExitData>(e.data).ends_process(e)) exited();
        return {};
      case EventType::Lost:
      case EventType::Resync:
        return run(loss_.get());
      default:
        return {};
    }
  }

  Db db_;
  std::string path_;
  std::string line_;
  FieldContext ctx_;
  Columns cols_;
  sqlite3_int64 run_ = 0;
  Stmt event_, replaced_, loss_, run_row_, ended_, snapshot_row_, row_;
  static constexpr size_t kMaxPending = 2048;
  std::vector<Pending> pending_;
  std::unordered_map<std::string, size_t> pending_at_;
  std::unordered_map<std::string, Images> images_;  // by process_part()
  RecordRetention retention_;
  static constexpr int64_t kNoUid = -1;
  // What a row costs beside its JSON line (the other columns, the index entries), roughly.
  static constexpr uint64_t kRowOverhead = 64;
  // The same weight in SQL, for a recording added to and for what a pruning takes away.
  static std::string event_bytes_sql() {
    return "sum(length(CAST(json AS BLOB)) + " + std::to_string(kRowOverhead) + ")";
  }
  // Events in the record per uid (kNoUid: start, lost and other records of no process), and
  // those of the batch being written.
  // Each uid's events in the record: how many, and their bytes (the JSON line and a row's
  // overhead), which is what --record-max-size weighs.
  struct Weight {
    uint64_t events = 0, bytes = 0;
    void add(uint64_t n, uint64_t b) {
      events += n;
      bytes += b;
    }
    void take(uint64_t n, uint64_t b) {
      events -= std::min(events, n);
      bytes -= std::min(bytes, b);
    }
  };
  std::map<int64_t, Weight> by_uid_, batch_weight_;
  // The open transaction: since when, the run before it, and the events it holds.
  static constexpr auto kCommitEvery = std::chrono::milliseconds(250);
  bool in_transaction_ = false;
  std::chrono::steady_clock::time_point began_{};
  sqlite3_int64 run_at_begin_ = 0;
  uint64_t held_ = 0;
  uint64_t lost_earlier_ = 0;  // held by calls that succeeded, lost by a failed commit
  std::chrono::steady_clock::time_point last_prune_{};
  // The processes running when the run began, until a batch with them is committed.
  std::vector<Event> snapshot_;
  bool snapshot_written_ = false;
};

// Events handed out per poll, so that one poll of a large recording does not hold it all.
constexpr int kRowsPerPoll = 4096;

class RecordSource final : public EventSource {
 public:
  RecordSource(Db db, Stmt rows, std::string name)
      : db_(std::move(db)), rows_(std::move(rows)), name_(std::move(name)) {}

  void set_exec_handler(ExecHandlerFactory) override {}
  Status start() override { return {}; }

  Status poll(std::chrono::milliseconds, std::vector<Event>& out) override {
    for (int i = 0; i < kRowsPerPoll && !done_; ++i) {
      const int rc = sqlite3_step(rows_.get());
      if (rc == SQLITE_DONE) {
        done_ = true;
        break;
      }
      if (rc != SQLITE_ROW) return db_error(db_.get(), name_, "reading its events");
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(rows_.get(), 0));
      const int size = sqlite3_column_bytes(rows_.get(), 0);
      auto e = decoder_.decode(std::string_view(text ? text : "", static_cast<size_t>(size)));
      if (!e) {
        return e.error().context(name_ + ": event " +
                                 std::to_string(sqlite3_column_int64(rows_.get(), 1)));
      }
      hand_out_replayed(std::move(*e), stats_, newest_, out);
    }
    return {};
  }

  [[nodiscard]] uint64_t watermark_ns() const override { return done_ ? UINT64_MAX : newest_; }
  [[nodiscard]] int fd() const override { return -1; }
  [[nodiscard]] SourceStats stats() const override { return stats_; }
  [[nodiscard]] std::string_view name() const override { return "replay"; }
  [[nodiscard]] std::vector<std::string> notes() const override {
    return {"replaying the recording " + name_ + ": " + std::to_string(stats_.received) +
            " events read"};
  }
  [[nodiscard]] bool live() const override { return false; }
  [[nodiscard]] bool exhausted() const override { return done_; }

 private:
  Db db_;
  Stmt rows_;
  std::string name_;
  JsonDecoder decoder_;
  bool done_ = false;
  uint64_t newest_ = 0;
  SourceStats stats_;
};

}  // namespace

Error db_error(sqlite3* db, const std::string& path, const std::string& what) {
  return make_error(path + ": " + what + ": " + sqlite3_errmsg(db));
}

Status exec_sql(sqlite3* db, const std::string& path, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string m = message ? message : sqlite3_errmsg(db);
    sqlite3_free(message);
    return make_error(path + ": " + m);
  }
  return {};
}

Result<Stmt> prepare(sqlite3* db, const std::string& path, const char* sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
    return db_error(db, path, "preparing a statement");
  }
  return Stmt(s);
}

bool is_sqlite_file(const std::string& path) {
  // Only a regular file is looked into: a FIFO's first bytes belong to the reader that follows.
  // Links are followed, as replay follows them for JSON lines.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  return fd.valid() && starts_like_sqlite(fd.get());
}

Result<std::unique_ptr<Sink>> open_record_sink(const std::string& path, RecordRetention retention) {
  if (path.empty()) return make_error("--record: no file given");
  return RecordSink::open(path, retention);
}

Result<Db> open_recording_readonly(const std::string& path) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK) return db_error(raw, path, "cannot open");
  sqlite3_busy_timeout(db.get(), 2000);
  auto version = recorded_version(db.get(), path);
  if (!version) return version.error();
  if (*version < kOldestReadable || *version > kRecordSchemaVersion) {
    return make_error(path + ": a recording of schema " + std::to_string(*version) +
                      ", this proctrail reads " + std::to_string(kOldestReadable) + " to " +
                      std::to_string(kRecordSchemaVersion));
  }
  return db;
}

Result<std::unique_ptr<EventSource>> open_record_source(const std::string& path) {
  // Read-only: replay never changes a recording (and may run while one is being written).
  auto db = open_recording_readonly(path);
  if (!db) return db.error();
  auto rows = prepare(db->get(), path, "SELECT json, id FROM events ORDER BY id");
  if (!rows) return rows.error();
  return std::unique_ptr<EventSource>(new RecordSource(std::move(*db), std::move(*rows), path));
}

}  // namespace proctrail::cli
