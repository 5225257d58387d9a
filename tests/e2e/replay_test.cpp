// Replay: a live run's JSON record read back through `proctrail replay` gives what the live
// run printed, view by view, on both backends; a broken recording is a clear error.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness.hpp"
#include "skip.hpp"

namespace proctrail::e2e {
namespace {

std::string temp_path(const std::string& what) {
  static int n = 0;
  return "/tmp/pt-replay-" + std::to_string(getpid()) + "-" + std::to_string(++n) + "-" + what;
}

// The summary's first line says when it was written and how long the run was: live, until it
// was stopped; replayed, from the first record to the last. The rest of it must agree.
std::string without_summary_span(const std::string& text) {
  std::istringstream in(text);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    if (const size_t at = line.find("  summary  "); at != std::string::npos) {
      const size_t colon = line.find(':', line.find("summary over "));
      line = "TIME" + line.substr(at, line.find("summary over ") - at) + "summary over SPAN" +
             line.substr(colon);
    }
    out += line + "\n";
  }
  return out;
}

class Replay : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (geteuid() != 0) PT_SKIP("needs-root") << "needs root";
  }

  // A live run showing `view`, with --also-json keeping everything, over a workload with a
  // failure, a signal, a pipeline and a background job; then the replay of its record with the
  // same view. Returns {live output, replayed output}.
  std::pair<std::string, std::string> live_and_replayed(const std::vector<std::string>& view) {
    const std::string record = temp_path("record.jsonl");
    std::vector<std::string> opts = {"-b", GetParam(), "--also-json", record};
    opts.insert(opts.end(), view.begin(), view.end());
    std::string live;
    // A process that was running before the monitor started and ends during its run: the live
    // view knows its command line from /proc, and so must the replay. It waits for a line on a
    // pipe, written once the monitor is ready, so a slow start (a sanitizer) cannot outlast it.
    int go[2];
    if (pipe2(go, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe2: " << std::strerror(errno);
      return {};
    }
    const pid_t before = fork();
    if (before == 0) {
      if (dup2(go[0], 0) != 0) _exit(126);
      execl("/bin/sh", "/bin/sh", "-c", "read line", "replay-found-running",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    close(go[0]);
    {
      Monitor m(opts);
      EXPECT_TRUE(m.started()) << m.errors();
      EXPECT_EQ(write(go[1], "\n", 1), 1);
      close(go[1]);
      CommandResult w = run({"/bin/sh", "-c",
                             "ls /pt-replay-nonexistent 2>/dev/null; echo a | tr a b >/dev/null; "
                             "sleep 0.05 & wait; sh -c 'kill -TERM $$'; exit 0"});
      EXPECT_EQ(w.exit_code, 0) << w.err;
      int status = 0;
      EXPECT_EQ(waitpid(before, &status, 0), before);
      settle(300);
      EXPECT_EQ(m.stop(), 0) << m.errors();
      live = m.output();
    }
    std::vector<std::string> argv = {proctrail_path(), "replay", record};
    argv.insert(argv.end(), view.begin(), view.end());
    CommandResult r = run(argv);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    std::filesystem::remove(record);
    return {live, r.out};
  }
};

TEST_P(Replay, TextAsLive) {
  auto [live, replayed] = live_and_replayed({"--no-header"});
  EXPECT_NE(live.find("tr a b"), std::string::npos) << live;
  EXPECT_NE(live.find("/bin/sh -c 'read line' replay-found-running  exit 0"), std::string::npos)
      << "the exit of a process found running, with its command line: " << live;
  EXPECT_EQ(replayed, live);
}

TEST_P(Replay, TreeAsLive) {
  auto [live, replayed] = live_and_replayed({"--tree"});
  EXPECT_NE(live.find("SIGTERM"), std::string::npos) << live;
  EXPECT_EQ(replayed, live);
}

TEST_P(Replay, FiltersAsLive) {
  auto [live, replayed] = live_and_replayed({"--failed"});
  EXPECT_NE(live.find("ls /pt-replay-nonexistent"), std::string::npos) << live;
  EXPECT_EQ(live.find("tr a b"), std::string::npos) << live;
  EXPECT_EQ(replayed, live);
}

TEST_P(Replay, JsonAsLive) {
  auto [live, replayed] = live_and_replayed({"-f", "json", "-e", "exec,exit"});
  EXPECT_FALSE(parse_records(live).empty());
  EXPECT_EQ(replayed, live);
}

TEST_P(Replay, SummaryAsLive) {
  auto [live, replayed] = live_and_replayed({"--summary", "-e", "fork,exec,exit"});
  EXPECT_NE(live.find("summary over"), std::string::npos) << live;
  EXPECT_EQ(without_summary_span(replayed), without_summary_span(live));
}

INSTANTIATE_TEST_SUITE_P(Backends, Replay, ::testing::ValuesIn(backends()),
                         [](const auto& p) { return p.param; });

// --host-fields: every record says which machine and boot it is from, in the schema, and a
// replay of such a record writes the same bytes.
TEST(HostFields, EveryRecordCarriesTheHostAndReplaysToTheSameBytes) {
  if (geteuid() != 0) PT_SKIP("needs-root") << "needs root";
  const std::string path = temp_path("host.jsonl");
  CommandResult r = run({proctrail_path(), "-f", "json", "--host-fields", "-o", path, "--",
                         "/bin/sh", "-c", "true; /bin/true x"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  auto recs = parse_records(text.str());
  ASSERT_GE(recs.size(), 4u) << text.str();
  for (const auto& rec : recs) {
    ASSERT_TRUE(rec.contains("host")) << rec.dump();
    EXPECT_EQ(rec["host"]["machine_id"], recs[0]["host"]["machine_id"]);
    EXPECT_EQ(rec["host"]["boot_id"].get<std::string>().size(), 32u);
  }
  CommandResult again = run({proctrail_path(), "replay", path, "-f", "json", "--host-fields"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, text.str());
  std::filesystem::remove(path);
}

// ECS documents, one per line (not proctrail's schema, so not parse_records).
std::vector<nlohmann::json> ecs_documents(const std::string& text) {
  std::vector<nlohmann::json> v;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << line;
    if (!j.is_discarded()) v.push_back(std::move(j));
  }
  return v;
}

// --schema ecs: a live run's records under ECS names, each with its host, and the parent
// chain joins on process.entity_id; a JSON record replays into the same documents.
TEST(EcsSchema, ALiveRunAndItsReplayIndexUnderEcsNames) {
  if (geteuid() != 0) PT_SKIP("needs-root") << "needs root";
  const std::string ecs_path = temp_path("ecs.jsonl"), json_path = temp_path("all.jsonl");
  const std::string mark = "ecsmark-" + std::to_string(getpid());
  CommandResult r =
      run({proctrail_path(), "-f", "json", "--schema", "ecs", "-o", ecs_path, "--also-json",
           json_path, "--", "/bin/sh", "-c", "/bin/true " + mark + "; exit 0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(ecs_path);
  std::stringstream text;
  text << in.rdbuf();
  auto docs = ecs_documents(text.str());
  ASSERT_GE(docs.size(), 3u) << text.str();
  nlohmann::json shell, child;
  for (const auto& d : docs) {
    ASSERT_FALSE(d.contains("type"))
        << "ECS names only, proctrail's under proctrail.: " << d.dump();
    EXPECT_EQ(d["ecs"]["version"], "8.11.0");
    EXPECT_EQ(d["host"]["id"], docs[0]["host"]["id"]) << d.dump();
    if (d["event"]["action"] != "exec") continue;
    const auto& args = d["process"]["args"];
    if (args.size() == 3 && args[2] == "/bin/true " + mark + "; exit 0") shell = d;
    if (args.size() == 2 && args[1] == mark) child = d;
  }
  ASSERT_FALSE(shell.is_null()) << text.str();
  ASSERT_FALSE(child.is_null()) << text.str();
  EXPECT_EQ(child["process"]["executable"], "/usr/bin/true");
  EXPECT_EQ(child["process"]["parent"]["entity_id"], shell["process"]["entity_id"]);
  EXPECT_EQ(child["process"]["parent"]["pid"], shell["process"]["pid"]);
  EXPECT_EQ(child["user"]["id"], "0");
  CommandResult again =
      run({proctrail_path(), "replay", json_path, "-f", "json", "--schema", "ecs"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  auto replayed = ecs_documents(again.out);
  bool found = false;
  for (const auto& d : replayed) found |= d == child;
  EXPECT_TRUE(found) << "the replayed documents hold the live one:\n"
                     << child.dump() << "\n"
                     << again.out;
  std::filesystem::remove(ecs_path);
  std::filesystem::remove(json_path);
}

TEST(CommandLineReplay, MalformedLineIsNamed) {
  const std::string path = temp_path("broken.jsonl");
  {
    std::ofstream out(path);
    out << R"({"type":"sid","time":"2026-12-03T10:00:00.000000000Z","ts_ns":1,"cpu":0,"pid":5,"tid":5})"
        << "\n\n{\"type\": \"exec\", oops\n";
  }
  CommandResult r = run({proctrail_path(), "replay", path});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(path + ": line 3: "), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  std::filesystem::remove(path);
}

TEST(CommandLineReplay, MissingFileAndLiveOnlyOptionsAreErrors) {
  CommandResult missing = run({proctrail_path(), "replay", "/pt-replay-no-such-file"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("/pt-replay-no-such-file: No such file"), std::string::npos)
      << missing.err;
  CommandResult live_only = run({proctrail_path(), "replay", "/dev/null", "--backend", "bpf"});
  EXPECT_EQ(live_only.exit_code, 2);
  EXPECT_NE(live_only.err.find("--backend applies to live capture"), std::string::npos)
      << live_only.err;
  CommandResult none = run({proctrail_path(), "replay"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("FILE"), std::string::npos) << none.err;
}

// A stream from a pipe: a live proctrail's JSON, summed up by a replay at its end.
TEST(CommandLineReplay, ReadsAPipe) {
  CommandResult r =
      run({"/bin/sh", "-c",
           "printf '%s\\n' "
           "'{\"type\":\"sid\",\"time\":\"2026-12-03T10:00:00.000000000Z\",\"ts_ns\":1,"
           "\"cpu\":0,\"pid\":5,\"tid\":5}' | " +
               proctrail_path() + " replay - -f json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto recs = parse_records(r.out);
  ASSERT_EQ(recs.size(), 1u) << r.out;
  EXPECT_EQ(recs[0]["type"], "sid");
  EXPECT_EQ(recs[0]["pid"], 5);
}

}  // namespace
}  // namespace proctrail::e2e
