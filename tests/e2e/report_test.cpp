// A real build (a small C project made with make, one file that does not compile, one slow
// step, one recipe whose command line holds markup) recorded with --record, then asked the
// record's questions: from sqlite3's views and the docs' own queries, from the Perfetto trace
// (decoded by protoc against tests/data/perfetto_subset.proto), and from the HTML report as
// headless Chromium draws it. The recording replays as the JSON record of the same run.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "harness.hpp"
#include "skip.hpp"

#ifndef PROCTRAIL_SOURCE_DIR
#error "PROCTRAIL_SOURCE_DIR must name the source tree (docs/record.md, tests/data)"
#endif

namespace proctrail::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void spit(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

struct Rows {
  std::vector<std::vector<std::string>> rows;
  std::string error;  // empty when the statement ran
};

// Runs each statement of `sql` on the database; `?` parameters get `param`.
Rows query(const std::string& db, const std::string& sql, const std::string& param = "") {
  Rows out;
  sqlite3* h = nullptr;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    out.error = sqlite3_errmsg(h);
    sqlite3_close(h);
    return out;
  }
  const char* rest = sql.c_str();
  while (rest && *rest) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(h, rest, -1, &s, &rest) != SQLITE_OK) {
      out.error = sqlite3_errmsg(h);
      break;
    }
    if (!s) break;  // only a comment or spaces were left
    for (int i = 1; i <= sqlite3_bind_parameter_count(s); ++i) {
      sqlite3_bind_text(s, i, param.c_str(), -1, SQLITE_TRANSIENT);
    }
    int rc = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int i = 0; i < sqlite3_column_count(s); ++i) {
        const auto* t = sqlite3_column_text(s, i);
        row.emplace_back(t ? reinterpret_cast<const char*>(t) : "NULL");
      }
      out.rows.push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) out.error = sqlite3_errmsg(h);
    sqlite3_finalize(s);
    if (!out.error.empty()) break;
  }
  sqlite3_close(h);
  return out;
}

// The build: make -k -j2 over three C files (broken.c does not compile), a slow step and a
// recipe whose shell command line holds markup that must stay text in the report.
struct Build {
  std::string dir, db, jsonl;
  int make_exit = -1;
  std::string errors;
};

const Build& recorded_build() {
  static Build b = [] {
    Build r;
    r.dir = "/tmp/pt-report-" + std::to_string(getpid());
    fs::remove_all(r.dir);
    fs::create_directories(r.dir);
    spit(r.dir + "/main.c", "int util(void);\nint main(void) { return util() - 1; }\n");
    spit(r.dir + "/util.c", "int util(void) { return 1; }\n");
    spit(r.dir + "/broken.c", "int broken(void) { return }\n");
    spit(r.dir + "/Makefile",
         "all: prog broken.o slow odd\n"
         "prog: main.o util.o\n\tcc -o $@ main.o util.o\n"
         "%.o: %.c\n\tcc -c -o $@ $<\n"
         "slow:\n\tsleep 2\n"
         "odd:\n\ttrue '</script><b id=\"pwned\">x</b>' https://example.invalid/; "
         "ls /pt-report-nonexistent || true\n");
    r.db = r.dir + "/build.db";
    r.jsonl = r.dir + "/build.jsonl";
    CommandResult run_result = run({proctrail_path(), "--record", r.db, "--also-json", r.jsonl,
                                    "--", "make", "-C", r.dir, "-k", "-j2"},
                                   60000);
    r.make_exit = run_result.exit_code;
    r.errors = run_result.err;
    return r;
  }();
  return b;
}

class Report : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) PT_SKIP("needs-root") << "needs root";
    const Build& b = recorded_build();
    ASSERT_EQ(b.make_exit, 2) << "make -k stops with 2 when broken.c fails: " << b.errors;
    ASSERT_TRUE(fs::exists(b.db)) << b.errors;
  }
};

// The process part of an exec_id (what every image of one process shares).
std::string process_part(const std::string& exec_id) {
  return exec_id.substr(0, exec_id.rfind('-') + 1);
}

size_t processes_in(const std::string& db) {
  std::set<std::string> parts;
  for (const auto& row : query(db, "SELECT exec_id FROM processes").rows) {
    parts.insert(process_part(row[0]));
  }
  return parts.size();
}

TEST_F(Report, TheViewsAnswerTheBuildsQuestionsAndTheDocsQueriesRun) {
  const Build& b = recorded_build();
  // Which step failed, and what started it.
  auto failed = query(b.db,
                      "SELECT command, exit_code, started_by FROM failed"
                      " WHERE command LIKE 'cc -c -o broken.o broken.c'");
  ASSERT_EQ(failed.error, "");
  ASSERT_EQ(failed.rows.size(), 1u);
  EXPECT_EQ(failed.rows[0][1], "1");
  EXPECT_EQ(json::parse(failed.rows[0][2])[0], "make") << failed.rows[0][2];
  // The compiler it ran failed too, and the failing ls of the odd recipe is there.
  EXPECT_EQ(query(b.db, "SELECT count(*) FROM failed WHERE command LIKE '%cc1 %broken.c%'").rows,
            (std::vector<std::vector<std::string>>{{"1"}}));
  EXPECT_EQ(
      query(b.db, "SELECT exit_code FROM failed WHERE command = 'ls /pt-report-nonexistent'").rows,
      (std::vector<std::vector<std::string>>{{"2"}}));
  // The slowest step of the build is the sleep (the make above it aside): two seconds, far
  // longer than any of its compiles, even under emulation.
  auto slowest = query(b.db,
                       "SELECT command FROM slowest WHERE command NOT LIKE 'make%'"
                       " AND command NOT LIKE '/bin/sh -c sleep%' LIMIT 1");
  ASSERT_EQ(slowest.rows.size(), 1u) << slowest.error;
  EXPECT_EQ(slowest.rows[0][0], "sleep 2");
  // The tree: the compiler under the cc driver under the shell... under make, depth by depth.
  auto tree = query(b.db, "SELECT depth, trim(command) FROM process_tree");
  ASSERT_EQ(tree.error, "");
  int make_depth = -1, cc_depth = -1;
  for (const auto& row : tree.rows) {
    if (row[1] == "make -C " + b.dir + " -k -j2") make_depth = std::stoi(row[0]);
    if (row[1] == "cc -c -o broken.o broken.c") cc_depth = std::stoi(row[0]);
  }
  ASSERT_GE(make_depth, 0);
  EXPECT_GT(cc_depth, make_depth) << "the compile is below make in the tree";
  auto users = query(b.db, "SELECT user, commands, failed FROM by_user WHERE uid = 0");
  ASSERT_EQ(users.rows.size(), 1u);
  EXPECT_GE(std::stoi(users.rows[0][2]), 3) << "cc, cc1 and ls failed";

  // Every query the documentation shows runs on a real recording (a ? gets an exec_id).
  const std::string doc = slurp(std::string(PROCTRAIL_SOURCE_DIR) + "/docs/record.md");
  const std::regex block("```sql\\n([\\s\\S]*?)```");
  size_t blocks = 0;
  for (auto it = std::sregex_iterator(doc.begin(), doc.end(), block); it != std::sregex_iterator();
       ++it) {
    ++blocks;
    const std::string sql = (*it)[1];
    auto r = query(b.db, sql, failed.rows.empty() ? "" : "x");
    EXPECT_EQ(r.error, "") << sql;
  }
  EXPECT_GE(blocks, 1u) << "docs/record.md shows its queries in ```sql blocks";
  // The one-line sqlite3 commands of its shell examples, run as the docs write them.
  const std::regex line("sqlite3 trail\\.db \"([^\"]+)\"");
  size_t lines = 0;
  for (auto it = std::sregex_iterator(doc.begin(), doc.end(), line); it != std::sregex_iterator();
       ++it) {
    ++lines;
    auto r = query(b.db, (*it)[1]);
    EXPECT_EQ(r.error, "") << (*it)[1];
    // The build ran in no container and was not pruned: those answers are empty.
    const std::string sql = (*it)[1];
    const bool empty =
        sql.find("by_container") != std::string::npos || sql.find("'pruned'") != std::string::npos;
    EXPECT_EQ(r.rows.empty(), empty) << sql << ": the build answers every other one";
  }
  EXPECT_GE(lines, 4u) << "docs/record.md answers its questions with sqlite3 one-liners";
  // The tables it describes are those of the version a recording says it has.
  const auto version = query(b.db, "SELECT value FROM meta WHERE key = 'schema_version'");
  ASSERT_EQ(version.rows.size(), 1u) << version.error;
  const std::string v = version.rows[0][0];
  EXPECT_NE(doc.find("\n## Schema, version " + v + "\n"), std::string::npos)
      << "docs/record.md describes another schema than version " << v;
  EXPECT_NE(doc.find("`schema_version` = `" + v + "`"), std::string::npos)
      << "docs/record.md's meta table names another version than " << v;
}

TEST_F(Report, ReplaysAsTheJsonRecordOfTheSameRun) {
  const Build& b = recorded_build();
  for (const std::vector<std::string>& view :
       {std::vector<std::string>{"-f", "json"}, {"--tree", "--failed"}}) {
    std::vector<std::string> from_db = {proctrail_path(), "replay", b.db};
    std::vector<std::string> from_json = {proctrail_path(), "replay", b.jsonl};
    from_db.insert(from_db.end(), view.begin(), view.end());
    from_json.insert(from_json.end(), view.begin(), view.end());
    CommandResult a = run(from_db), j = run(from_json);
    EXPECT_EQ(a.exit_code, 0) << a.err;
    EXPECT_FALSE(a.out.empty());
    EXPECT_EQ(a.out, j.out) << view[0];
  }
}

// protoc's text form of the trace: every track's parent and name, every event's type.
struct Trace {
  std::map<uint64_t, uint64_t> parent;
  std::map<uint64_t, std::string> name;
  size_t begins = 0, ends = 0, instants = 0;
  std::set<std::string> annotations;
};

Trace decode_trace(const std::string& text) {
  Trace t;
  std::istringstream in(text);
  std::string l;
  uint64_t uuid = 0;
  const std::regex uuid_re(R"(^\s*uuid: (\d+))"), parent_re(R"(^\s*parent_uuid: (\d+))"),
      name_re(R"(^\s*name: \"(.*)\"$)"), type_re(R"(^\s*type: (\w+))");
  bool in_track = false;
  std::smatch m;
  while (std::getline(in, l)) {
    if (l.find("track_descriptor {") != std::string::npos) in_track = true;
    if (l.find("track_event {") != std::string::npos) in_track = false;
    if (in_track && std::regex_search(l, m, uuid_re)) uuid = std::stoull(m[1]);
    if (in_track && std::regex_search(l, m, parent_re)) t.parent[uuid] = std::stoull(m[1]);
    if (in_track && std::regex_search(l, m, name_re)) t.name[uuid] = m[1];
    if (!in_track && std::regex_search(l, m, name_re)) t.annotations.insert(m[1]);
    if (std::regex_search(l, m, type_re)) {
      t.begins += m[1] == "TYPE_SLICE_BEGIN";
      t.ends += m[1] == "TYPE_SLICE_END";
      t.instants += m[1] == "TYPE_INSTANT";
    }
  }
  return t;
}

TEST_F(Report, ThePerfettoTraceNestsEveryProcessUnderItsParent) {
  const Build& b = recorded_build();
  const std::string trace = b.dir + "/build.pftrace";
  CommandResult r = run({proctrail_path(), "report", b.db, "-o", trace});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  CommandResult decoded =
      run({"/bin/sh", "-c",
           "protoc --decode=perfetto.protos.Trace -I " + std::string(PROCTRAIL_SOURCE_DIR) +
               "/tests/data perfetto_subset.proto < " + trace});
  ASSERT_EQ(decoded.exit_code, 0) << "protoc: " << decoded.err;
  Trace t = decode_trace(decoded.out);
  // One track per process, and one for the recording; one slice per image, each closed.
  EXPECT_EQ(t.name.size(), processes_in(b.db) + 1);
  auto images = query(b.db, "SELECT count(*) FROM processes").rows;
  EXPECT_EQ(std::to_string(t.begins), images[0][0]);
  EXPECT_EQ(t.begins, t.ends);
  // The failing compiler's track lies under the cc driver, under make, to the recording's.
  uint64_t cc1 = 0, make = 0;
  for (const auto& [uuid, name] : t.name) {
    if (name.find("cc1 ") != std::string::npos && name.find("broken.c") != std::string::npos) {
      cc1 = uuid;
    }
    if (name.find(" make -C ") != std::string::npos) make = uuid;
  }
  ASSERT_NE(cc1, 0u) << decoded.out.substr(0, 2000);
  ASSERT_NE(make, 0u);
  std::vector<std::string> chain;
  bool under_make = false;
  for (uint64_t at = cc1; t.parent.count(at) != 0; at = t.parent[at]) {
    chain.push_back(t.name[at]);
    if (t.parent[at] == make) under_make = true;
    ASSERT_LT(chain.size(), 64u) << "a loop in the tracks' parents";
  }
  EXPECT_TRUE(under_make) << "cc1's track is not nested under make's";
  EXPECT_GE(chain.size(), 3u) << "cc1 < cc < make: at least three levels";
  // The slices carry the process's facts as arguments; the failed exec... none here.
  for (const char* arg : {"argv", "exe", "cwd", "user", "exit_code", "outcome", "exec_id"}) {
    EXPECT_EQ(t.annotations.count(arg), 1u) << arg;
  }
}

// A PNG's decompressed image data (the IDAT chunks), or empty when it is not a PNG.
std::string png_pixels(const std::string& png, uint32_t& width, uint32_t& height) {
  if (png.size() < 33 || png.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) return {};
  auto be32 = [&](size_t at) {
    return (uint32_t(uint8_t(png[at])) << 24) | (uint32_t(uint8_t(png[at + 1])) << 16) |
           (uint32_t(uint8_t(png[at + 2])) << 8) | uint32_t(uint8_t(png[at + 3]));
  };
  width = be32(16);
  height = be32(20);
  std::string idat;
  for (size_t at = 8; at + 12 <= png.size();) {
    const uint32_t len = be32(at);
    if (png.compare(at + 4, 4, "IDAT") == 0) idat += png.substr(at + 8, len);
    at += 12 + len;
  }
  std::string raw(size_t(width) * height * 4 + height, '\0');
  uLongf size = raw.size();
  if (uncompress(reinterpret_cast<Bytef*>(raw.data()), &size,
                 reinterpret_cast<const Bytef*>(idat.data()), idat.size()) != Z_OK) {
    return {};
  }
  raw.resize(size);
  return raw;
}

TEST_F(Report, TheHtmlPageDrawsEveryProcessAndNoRecordedTextBecomesMarkup) {
  const Build& b = recorded_build();
  const std::string page = b.dir + "/build.html", shot = b.dir + "/build.png";
  CommandResult r = run({proctrail_path(), "report", b.db, "-o", page, "--title", "a <b> build"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  struct stat st {};
  ASSERT_EQ(stat(page.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "a report holds every argv: the caller's alone";
  const std::string html = slurp(page);
  EXPECT_EQ(html.find("<b id=\"pwned\">"), std::string::npos);
  // Recorded command lines may hold URLs (the build's own 'odd' recipe does, and so may any
  // process running when the recording began); they are data in the page's JSON element. The
  // page's own markup and code name no address to fetch, and its policy forbids fetching.
  const std::string open_data = "<script type=\"application/json\" id=\"data\">";
  const size_t data_at = html.find(open_data);
  ASSERT_NE(data_at, std::string::npos);
  const size_t data_end = html.find("</script>", data_at + open_data.size());
  ASSERT_NE(data_end, std::string::npos);
  EXPECT_NE(html.find("example.invalid", data_at), std::string::npos)
      << "the recorded URL is in the page's data";
  EXPECT_LT(html.find("example.invalid", data_at), data_end);
  const std::string own = html.substr(0, data_at) + html.substr(data_end);
  EXPECT_EQ(own.find("http://"), std::string::npos) << "nothing fetched from the network";
  EXPECT_EQ(own.find("https://"), std::string::npos) << "nothing fetched from the network";
  EXPECT_NE(own.find("content=\"default-src 'none';"), std::string::npos)
      << "the page's policy allows no fetch";

  // Headless Chromium runs the page's script; its self-check is in the DOM it leaves.
  const std::vector<std::string> chromium = {"chromium", "--headless", "--no-sandbox",
                                             "--disable-gpu", "--window-size=1280,800"};
  std::vector<std::string> dump = chromium;
  dump.insert(dump.end(), {"--dump-dom", "file://" + page});
  CommandResult dom = run(dump, 60000);
  ASSERT_EQ(dom.exit_code, 0) << "chromium: " << dom.err.substr(0, 2000);
  std::smatch m;
  const std::regex check(
      R"re(<output id="selfcheck" data-processes="(\d+)" data-drawn="(\d+)" data-painted="(\d+)" data-success-pixels="(\d+)" data-failure-pixels="(\d+)")re");
  ASSERT_TRUE(std::regex_search(dom.out, m, check)) << dom.out.substr(0, 3000);
  const size_t in_db = processes_in(b.db);
  EXPECT_EQ(std::stoul(m[1]), in_db) << "the page holds every process of the recording";
  EXPECT_EQ(std::stoul(m[2]), in_db) << "every process has its bar on the time axis";
  EXPECT_GT(std::stoul(m[3]), 5u) << "rows were painted";
  EXPECT_GT(std::stoul(m[4]), 100u) << "green bars (success) on the canvas";
  EXPECT_GT(std::stoul(m[5]), 20u) << "red bars (the failed compile) on the canvas";
  EXPECT_EQ(dom.out.find("id=\"pwned\""), std::string::npos)
      << "a command line's markup became an element";
  EXPECT_NE(dom.out.find("<title>a &lt;b&gt; build"), std::string::npos);

  // And the picture is not blank.
  std::vector<std::string> screenshot = chromium;
  screenshot.insert(screenshot.end(), {"--screenshot=" + shot, "file://" + page});
  CommandResult s = run(screenshot, 60000);
  ASSERT_EQ(s.exit_code, 0) << s.err.substr(0, 2000);
  uint32_t w = 0, h = 0;
  const std::string pixels = png_pixels(slurp(shot), w, h);
  ASSERT_FALSE(pixels.empty()) << "not a PNG";
  EXPECT_EQ(w, 1280u);
  EXPECT_EQ(h, 800u);
  std::set<unsigned char> distinct(pixels.begin(), pixels.end());
  EXPECT_GT(distinct.size(), 64u) << "a blank page has a handful of byte values";
}

TEST_F(Report, BadInputsAreOneLineErrors) {
  const Build& b = recorded_build();
  struct Case {
    std::vector<std::string> args;
    int exit_code;
    std::string says;
  } cases[] = {
      {{"report", b.dir + "/missing.db", "-o", b.dir + "/x.html"}, 1, "No such file"},
      {{"report", b.jsonl, "-o", b.dir + "/x.html"}, 1, "not a recording"},
      {{"report", b.db, "--format", "svg", "-o", b.dir + "/x.svg"}, 2, "not a format"},
      {{"report"}, 2, "FILE is required"},
      {{"report", b.db, "-o", b.dir + "/no/such/dir/x.html"}, 1, "does not exist"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {proctrail_path()};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    CommandResult r = run(argv);
    EXPECT_EQ(r.exit_code, c.exit_code) << c.args.back() << ": " << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.out, "");
  }
  EXPECT_FALSE(fs::exists(b.dir + "/x.html"));
}

}  // namespace
}  // namespace proctrail::e2e
