// The JSON decoder: every event type, every optional field, encoded, decoded and encoded again
// gives the same bytes; malformed lines give one clear error with the line number.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "output/escape.hpp"
#include "output/journal.hpp"
#include "output/syslog.hpp"
#include "proctrail/format.hpp"
#include "schema_check.hpp"

namespace proctrail {
namespace {

Event base(uint64_t ts, int32_t pid, EventData data) {
  Event e;
  e.ts_ns = ts;
  e.wall_ns = 1'700'000'000'123'456'789 + static_cast<int64_t>(ts);
  e.cpu = 1;
  e.pid = pid;
  e.tid = pid;
  e.key = ProcessKey{pid, 1, 4200};
  e.parent_key = ProcessKey{1, 0, 7};
  e.data = std::move(data);
  return e;
}

std::vector<Event> every_kind() {
  std::vector<Event> v;
  StartData s;
  s.backend = "bpf";
  s.reason = "chosen with --backend bpf";
  s.version = "0.3.0";
  s.missing_events = {"exec_failed"};
  s.missing_fields = {"env"};
  s.table_ready_ns = 99;
  s.scope = "own";
  s.host = HostIdentity{"0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210",
                        "host\xffname"};
  s.boottime_offset_ns = 5'000;
  Event start = base(10, 0, s);
  start.key = {};
  start.parent_key = {};
  start.cpu = -1;
  v.push_back(start);
  v.push_back(base(11, 0, AckData{0, 0}));
  Event fork = base(12, 100, ForkData{100, 101, 200, 200, 40'000'000});
  v.push_back(fork);
  Event thread = base(13, 200, ForkData{50, 50, 200, 203, std::nullopt});
  thread.tid = 203;
  v.push_back(thread);

  auto d = std::make_shared<ExecDetails>();
  d->argv_source = ArgvSource::Procfs;
  d->argv = {"/bin/echo", "a b", "", "\x1b[2J"};
  d->argv_truncated = true;
  d->argv_bytes = 4096;
  d->argc = 4;
  d->filename = "/bin/echo";
  d->exe =
      "/usr/bin/\xfe"
      "echo";
  d->cwd = "/tmp";
  d->ppid = 100;
  d->exec_tid = 201;
  d->creds = Credentials{1000, 0, 1000, 1000};
  d->user = "alice";
  d->comm = "echo";
  d->start_boottime_ns = 42'000'000;
  d->cgroup = "/user.slice";
  d->cgroup_id = 77;
  d->container = Container{"docker", std::string(64, 'a')};
  d->env = Strings{"A=1", "B=\xff"};
  d->env_truncated = false;
  d->ancestry = {{100, "sh"}, {1, "init"}};
  d->set_source(Field::Exe, FieldSource::Procfs);
  d->set_source(Field::Cwd, FieldSource::Kernel);
  d->set_source(Field::Creds, FieldSource::Table);
  d->set_source(Field::Ancestry, FieldSource::Table);
  d->note = "why not";
  v.push_back(base(14, 200, ExecData{d}));
  auto gone = std::make_shared<ExecDetails>();
  gone->argv_source = ArgvSource::Unavailable;
  gone->note = "process exited before /proc could be read";
  v.push_back(base(15, 201, ExecData{gone}));

  v.push_back(base(16, 200, UidData{0, 65534}));
  v.push_back(base(17, 200, GidData{0, 65534}));
  v.push_back(base(18, 200, SidData{}));
  v.push_back(base(19, 200, PtraceData{50, 51}));
  v.push_back(base(20, 200, CommData{"new\nname"}));
  v.push_back(base(21, 200, CoredumpData{100, 100}));

  ExitData x;
  x.raw_status = 3 << 8;
  x.parent_pid = 100;
  x.parent_tid = 100;
  x.process_ended = true;
  x.process_status = 9;  // killed, while this thread's own code was 3
  auto xd = std::make_shared<ExitDetails>();
  xd->comm = "echo";
  xd->duration_ns = 1234;
  xd->duration_approximate = true;
  x.details = xd;
  v.push_back(base(22, 200, x));
  ExitData t;
  t.raw_status = 0;
  t.process_ended = false;
  Event thread_end = base(23, 200, t);
  thread_end.tid = 203;
  v.push_back(thread_end);

  v.push_back(base(24, 0, UnknownData{1024}));
  v.push_back(base(25, 0, LostData{12, "ring buffer full"}));
  v.push_back(base(26, 0, LostData{std::nullopt, "ENOBUFS"}));
  v.push_back(base(27, 0, ResyncData{3, 5, 120}));

  ExecFailedData f;
  f.error = 2;
  f.filename = "/bin/nosuch";
  f.argv = {"nosuch", "\xff"};
  f.argv_truncated = true;
  f.creds = Credentials{1, 2, 3, 4};
  f.user = "daemon";
  f.comm = "sh";
  f.ppid = 9;
  f.tried = {"/usr/bin/nosuch", "/usr/local/bin/nosuch"};
  v.push_back(base(28, 300, f));

  SummaryData sum;
  sum.final = false;
  sum.elapsed_ns = 5;
  sum.processes = 3;
  sum.execs = std::nullopt;
  sum.exits = 2;
  sum.exits_started_before = 1;
  sum.failed = 1;
  sum.exec_failed = std::nullopt;
  sum.lost = 4;
  sum.max_depth = 2;
  sum.approximate = true;
  sum.by_count = {{"true", 2, 1, 10}};
  sum.by_time = {{"sleep", 1, 1, 100}};
  sum.slowest = {{7, "sleep", 100}};
  sum.failures = {{8, "false", 1 << 8, 0}, {9, "sh", 0, 2}, {10, "yes", 15, 0}};
  sum.more_failures = 6;
  sum.exporters = {{"kafka", 12, 9, 1, 2, 0, 3}};
  v.push_back(base(29, 0, sum));
  return v;
}

TEST(JsonDecoder, EveryEventTypeAndFieldRoundTripsToTheSameBytes) {
  auto f = make_json_formatter();
  std::string once;
  std::vector<std::string> lines;
  for (const auto& e : every_kind()) {
    std::string line;
    f->format(e, line);
    once += line;
    lines.push_back(line.substr(0, line.size() - 1));
  }
  JsonDecoder decoder;
  auto g = make_json_formatter();
  std::string twice;
  std::set<EventType> types;
  for (const auto& line : lines) {
    EXPECT_EQ(testing::schema_violations(nlohmann::json::parse(line)), "") << line;
    auto e = decoder.decode(line);
    ASSERT_TRUE(e.ok()) << e.error().message << "\n" << line;
    types.insert(e->type());
    g->format(*e, twice);
  }
  EXPECT_EQ(twice, once);
  EXPECT_EQ(types.size(), kEventTypeCount) << "every event type is in the round trip";
}

TEST(JsonDecoder, MalformedLinesAreOneErrorWithTheirLineNumber) {
  JsonDecoder d;
  auto a = d.decode("not json");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().message, "line 1: not JSON");
  auto b = d.decode(
      R"({"type":"exec","time":"2023-11-14T22:13:20.123456789Z","ts_ns":1,"cpu":0,"pid":1})");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().message, "line 2: 'tid' is missing");
  auto c = d.decode(R"({"type":"teleport"})");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message, "line 3: unknown event type 'teleport'");
  auto s = d.decode(
      R"({"type":"start","time":"2023-11-14T22:13:20.123456789Z","ts_ns":1,"cpu":null,"pid":0,"tid":0,"schema_version":1})");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "line 4: schema version 1 is not the 2 this build reads");
  auto t = d.decode(R"({"type":"exit","time":"yesterday","ts_ns":1,"cpu":0,"pid":1,"tid":1})");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("line 5: 'time' is not an RFC 3339 time"), std::string::npos);
  // What the file says is quoted, but never raw: an escape sequence or a bidi override in it
  // would act on the terminal that shows the error.
  auto u = d.decode(R"({"type":"\u001b[2J\u202e\u0085"})");
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.error().message, "line 6: unknown event type '\\x1b[2J\\u202e\\u0085'");
}

// Found by fuzz_json: strptime and from_chars let a sign into the fraction, and the range check
// then overflowed (undefined behaviour; UBSan stops there). A time is digits or an error.
TEST(JsonDecoder, ATimeWithASignedOrHugeFieldIsAnErrorNotAnOverflow) {
  // A whole, valid record with its time replaced.
  std::string line;
  make_json_formatter()->format(every_kind().front(), line);
  const size_t at = line.find(R"("time":")") + 8;
  ASSERT_EQ(line[at + 29], 'Z') << line;
  const auto exit_at = [&](const std::string& time) {
    return line.substr(0, at) + time + line.substr(at + 30);
  };
  for (const std::string bad :
       {"2262-04-11T23:47:16.-03324204Z", "2023-11-14T22:13:20.-00000000Z",
        "2023-11-14T22:13:20.+12345678Z", "2023-11-14T22:13:20.1234 678Z",
        "9999-12-31T23:59:59.999999999Z", "1000-01-01T00:00:00.000000000Z"}) {
    JsonDecoder d;
    auto r = d.decode(exit_at(bad));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().message.find("line 1: 'time'"), 0u) << r.error().message;
  }
  JsonDecoder d;
  auto last = d.decode(exit_at("2262-04-11T23:47:16.854775807Z"));
  ASSERT_TRUE(last.ok()) << last.error().message;
  EXPECT_EQ(last->wall_ns, INT64_MAX) << "the last nanosecond 64 bits can hold is a time";
}

// The start record's ids and scope, and an exec_id's host part, are written back unescaped (in
// every exec_id): the decoder takes only what proctrail writes there, so a crafted recording
// cannot make replay write a line that is not JSON.
TEST(JsonDecoder, IdsAndScopeThatWouldBreakTheOutputAreErrors) {
  std::string start;
  make_json_formatter()->format(every_kind().front(), start);
  start.pop_back();
  const auto with = [&](const std::string& from, const std::string& to) {
    std::string line = start;
    const size_t at = line.find(from);
    EXPECT_NE(at, std::string::npos) << from << " in " << line;
    return at == std::string::npos ? line : line.replace(at, from.size(), to);
  };
  JsonDecoder ok;
  EXPECT_TRUE(ok.decode(start).ok()) << start;
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {R"("scope":"own")", R"("scope":"o\"wn")"},
           {R"("machine_id":"0123456789abcdef)", R"("machine_id":"0123456789abcde\u0001)"},
           {R"("boot_id":"fedcba)", R"("boot_id":"fedcb\")"}}) {
    JsonDecoder d;
    auto r = d.decode(with(from, to));
    ASSERT_FALSE(r.ok()) << to;
    EXPECT_EQ(r.error().message.find("not JSON"), std::string::npos) << r.error().message;
  }
  JsonDecoder fresh;  // no start record: the first exec_id names the host
  auto e = fresh.decode(
      R"({"type":"sid","time":"2023-11-14T22:13:20.123456789Z","ts_ns":1,"cpu":0,"pid":5,"tid":5,)"
      R"("exec_id":"0123\"-abcd-5-1-0"})");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().message.find("not JSON"), std::string::npos) << e.error().message;
}

// A summary's exporter name is our own word, written back as it is: the decoder takes only
// such a word, so a crafted recording cannot put a quote or an escape sequence into replay.
TEST(JsonDecoder, AnExporterNameThatWouldBreakTheOutputIsAnError) {
  std::string summary;
  make_json_formatter()->format(every_kind().back(), summary);
  summary.pop_back();
  ASSERT_NE(summary.find(R"("name":"kafka")"), std::string::npos) << summary;
  EXPECT_TRUE(JsonDecoder().decode(summary).ok()) << summary;
  const std::vector<std::string> bads = {R"("name":"ka\"fka")", R"("name":"\u001b[2J")",
                                         R"("name":"")", R"("name":"Kafka")",
                                         R"("name":")" + std::string(33, 'k') + "\""};
  for (const std::string& bad : bads) {
    std::string line = summary;
    line.replace(line.find(R"("name":"kafka")"), 14, bad);
    auto r = JsonDecoder().decode(line);
    ASSERT_FALSE(r.ok()) << line;
    EXPECT_NE(r.error().message.find("is not an exporter's name"), std::string::npos)
        << r.error().message;
    for (unsigned char c : r.error().message) EXPECT_GE(c, 0x20) << "raw in the error: " << bad;
  }
}

// --schema ecs. Every field of every event type, checked against the type ECS gives it
// (tests/data/ecs_fields.txt); what ECS has no name for is under proctrail.
using ordered = nlohmann::ordered_json;

std::map<std::string, std::string> ecs_types() {
  std::ifstream in(PROCTRAIL_ECS_FIELDS);
  std::map<std::string, std::string> types;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string name, type;
    words >> name >> type;
    types[name] = type;
  }
  return types;
}

// Leaves by dotted path; an array is one leaf.
void flatten(const ordered& v, const std::string& path, std::map<std::string, ordered>& out) {
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      flatten(it.value(), path.empty() ? it.key() : path + "." + it.key(), out);
    }
  } else {
    out[path] = v;
  }
}

std::vector<std::string> ecs_lines() {
  auto f = make_ecs_formatter();
  std::vector<std::string> lines;
  for (const auto& e : every_kind()) {
    std::string line;
    f->format(e, line);
    EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1) << line;
    lines.push_back(line.substr(0, line.size() - 1));
  }
  return lines;
}

TEST(EcsFormat, EveryFieldOfEveryEventTypeHasTheTypeEcsGivesIt) {
  const auto types = ecs_types();
  ASSERT_GT(types.size(), 30u) << PROCTRAIL_ECS_FIELDS;
  const std::regex date(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z)");
  std::set<std::string> actions;
  for (const auto& line : ecs_lines()) {
    std::map<std::string, ordered> leaves;
    flatten(ordered::parse(line), "", leaves);
    for (const char* always : {"@timestamp", "ecs.version", "event.kind", "event.action"}) {
      EXPECT_EQ(leaves.count(always), 1u) << always << " in " << line;
    }
    actions.insert(leaves["event.action"].get<std::string>());
    for (const auto& [path, v] : leaves) {
      if (path.rfind("proctrail.", 0) == 0) continue;
      auto t = types.find(path);
      if (t == types.end()) {
        ADD_FAILURE() << path << " is neither an ECS field we list nor under proctrail.: " << line;
        continue;
      }
      const std::string& type = t->second;
      if (type == "long") {
        EXPECT_TRUE(v.is_number_integer()) << path << " wants a long: " << line;
      } else if (type == "date") {
        EXPECT_TRUE(v.is_string() && std::regex_match(v.get<std::string>(), date))
            << path << " wants an RFC 3339 date: " << line;
      } else if (type == "keyword" && v.is_array()) {
        for (const auto& x : v) EXPECT_TRUE(x.is_string()) << path << ": " << line;
      } else {
        EXPECT_TRUE(v.is_string()) << path << " wants a " << type << ": " << line;
      }
    }
  }
  EXPECT_EQ(actions.size(), kEventTypeCount) << "every event type as event.action";
  // A process that exits 0 has process.exit_code 0: a collector counts it as a success.
  ExitData clean;
  clean.raw_status = 0;
  clean.process_ended = true;
  std::string line;
  make_ecs_formatter()->format(base(40, 400, clean), line);
  const ordered doc = ordered::parse(line);
  ASSERT_TRUE(doc["process"].contains("exit_code")) << line;
  EXPECT_EQ(doc["process"]["exit_code"], 0);
  EXPECT_EQ(doc["event"]["type"], ordered::array({"end"}));
}

// Every value the JSON record holds is in the ECS document, under its ECS name or proctrail.
TEST(EcsFormat, NothingTheJsonRecordSaysIsLost) {
  auto json = make_json_formatter(true);
  auto ecs = make_ecs_formatter();
  for (const auto& e : every_kind()) {
    std::string a, b;
    json->format(e, a);
    ecs->format(e, b);
    std::map<std::string, ordered> from, to;
    flatten(ordered::parse(a), "", from);
    flatten(ordered::parse(b), "", to);
    // As many of each value in the document as in the record (a value can be there more
    // often: user.id and process.real_user.id are both uid).
    std::map<std::string, int> values;
    for (const auto& [path, v] : to) {
      ++values[v.dump()];
      if (v.is_string()) ++values[v.get<std::string>()];  // an id ECS keeps as text
    }
    for (const auto& [path, v] : from) {
      EXPECT_GT(values[v.dump()]--, 0) << path << " = " << v.dump() << " is lost:\n" << a << b;
    }
  }
}

TEST(EcsFormat, AnExecAndAnExitUnderTheNamesCollectorsQuery) {
  const auto lines = ecs_lines();
  const auto events = every_kind();
  auto json = make_json_formatter(true);
  bool saw_exec = false, saw_end = false;
  for (size_t i = 0; i < events.size(); ++i) {
    const ordered doc = ordered::parse(lines[i]);
    std::string a;
    json->format(events[i], a);
    const ordered rec = ordered::parse(a);
    // Nothing a process wrote reaches a terminal raw: ESC and the other C0 bytes are escaped.
    for (char c : lines[i]) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << lines[i];
    if (rec["type"] == "exec" && rec.contains("argv")) {
      saw_exec = true;
      EXPECT_EQ(doc["process"]["args"], rec["argv"]);
      EXPECT_EQ(doc["process"]["args_count"], rec["argv"].size());
      EXPECT_EQ(doc["process"]["command_line"], "/bin/echo a b  \x1b[2J");
      EXPECT_EQ(doc["process"]["entity_id"], rec["exec_id"]);
      EXPECT_EQ(doc["process"]["parent"]["entity_id"], rec["parent_exec_id"]);
      EXPECT_EQ(doc["process"]["parent"]["pid"], 100);
      EXPECT_EQ(doc["process"]["pid"], 200);
      EXPECT_EQ(doc["process"]["executable"], rec["exe"]) << "the text, with U+FFFD";
      EXPECT_EQ(doc["proctrail"]["exe_b64"], rec["exe_b64"]) << "and the exact bytes";
      EXPECT_EQ(doc["process"]["working_directory"], "/tmp");
      EXPECT_EQ(doc["process"]["name"], "echo");
      EXPECT_EQ(doc["user"]["id"], "1000");
      EXPECT_EQ(doc["user"]["name"], "alice");
      EXPECT_EQ(doc["process"]["user"]["id"], "0") << "the effective user";
      EXPECT_EQ(doc["process"]["real_user"]["id"], "1000");
      EXPECT_EQ(doc["container"]["id"], std::string(64, 'a'));
      EXPECT_EQ(doc["container"]["runtime"], "docker");
      EXPECT_EQ(doc["host"]["id"], "0123456789abcdef0123456789abcdef");
      EXPECT_EQ(doc["host"]["boot"]["id"], "fedcba9876543210fedcba9876543210");
      EXPECT_EQ(doc["process"]["start"], rec["start_time"]);
      EXPECT_EQ(doc["event"]["type"], ordered::array({"start"}));
      EXPECT_EQ(doc["event"]["category"], ordered::array({"process"}));
      EXPECT_EQ(doc["event"]["outcome"], "success");
    }
    if (rec.contains("thread") && rec["thread"] == true) {
      EXPECT_EQ(doc["event"]["type"], ordered::array({"info"})) << "a thread is no process";
      EXPECT_FALSE(doc["process"].contains("exit_code")) << lines[i];
    }
    const bool ends = rec["type"] == "exit" && rec["thread"] == false;
    EXPECT_EQ(doc.contains("process") && doc["process"].contains("end"), ends)
        << "process.end only where a process ended: " << lines[i];
    if (ends) {
      saw_end = true;
      EXPECT_EQ(doc["event"]["type"], ordered::array({"end"}));
      EXPECT_EQ(doc["process"]["end"], doc["@timestamp"]);
      EXPECT_EQ(doc["event"]["duration"], rec["duration_ns"]);
    }
  }
  EXPECT_TRUE(saw_exec);
  EXPECT_TRUE(saw_end);
}

// A right-to-left override or a C1 control in a command line is escaped, as in the JSON
// records, not written raw (nlohmann's own dump would leave both as they are).
TEST(EcsFormat, UnsafeCharactersAreEscapedAsInTheJsonRecords) {
  auto d = std::make_shared<ExecDetails>();
  d->argv_source = ArgvSource::Kernel;
  d->argv = {"ls", "txt.\u202eexe",
             "\xc2\x9b"
             "31m"};
  std::string line;
  make_ecs_formatter()->format(base(30, 300, ExecData{d}), line);
  EXPECT_EQ(line.find("\xe2\x80\xae"), std::string::npos) << line;
  EXPECT_EQ(line.find("\xc2\x9b"), std::string::npos) << line;
  EXPECT_NE(line.find("\\u202e"), std::string::npos) << line;
  EXPECT_EQ(ordered::parse(line)["process"]["args"][1], "txt.\u202eexe")
      << "the same text read back";
}

// An argv or environment that is not valid UTF-8 is written in the JSON record only as
// argv_b64 (one form only). ECS rules match process.args and process.command_line: those
// hold the text with U+FFFD, or a byte that is not UTF-8 would hide a command from them.
TEST(EcsFormat, AnArgvThatIsNotUtf8IsStillProcessArgs) {
  auto d = std::make_shared<ExecDetails>();
  d->argv_source = ArgvSource::Kernel;
  d->argv = {"curl", "http://evil.example/\xff"};
  d->env = Strings{"A=1", "B=\xfe"};
  std::string record, line;
  make_json_formatter(true)->format(base(30, 300, ExecData{d}), record);
  ASSERT_FALSE(ordered::parse(record).contains("argv")) << "the JSON record's one form";
  make_ecs_formatter()->format(base(30, 300, ExecData{d}), line);
  const ordered doc = ordered::parse(line);
  EXPECT_EQ(doc["process"]["args"], ordered::array({"curl", "http://evil.example/\ufffd"})) << line;
  EXPECT_EQ(doc["process"]["args_count"], 2);
  EXPECT_EQ(doc["process"]["command_line"], "curl http://evil.example/\ufffd");
  EXPECT_EQ(doc["process"]["env_vars"], ordered::array({"A=1", "B=\ufffd"})) << line;
  // The exact bytes are still there, as the JSON record has them.
  EXPECT_EQ(doc["proctrail"]["argv_b64"], ordered::parse(record)["argv_b64"]) << line;
  EXPECT_EQ(doc["proctrail"]["env_b64"], ordered::parse(record)["env_b64"]) << line;
}

// --journal. Each event as a journald entry in the native protocol: every value of the JSON
// record is a PROCTRAIL_* field with its exact bytes, nothing else is, and the message is safe
// to show.
std::map<std::string, std::string> journal_entry(std::string_view p) {
  std::map<std::string, std::string> fields;
  while (!p.empty()) {
    const size_t nl = p.find('\n');
    if (nl == std::string_view::npos) {
      ADD_FAILURE() << "an entry ends without a newline: " << p;
      break;
    }
    const std::string_view line = p.substr(0, nl);
    std::string name, value;
    if (const size_t eq = line.find('='); eq != std::string_view::npos) {
      name = line.substr(0, eq);
      value = line.substr(eq + 1);
      p.remove_prefix(nl + 1);
    } else {
      // NAME, newline, 64-bit little-endian length, the bytes, newline.
      name = line;
      p.remove_prefix(nl + 1);
      if (p.size() < 8) {
        ADD_FAILURE() << name << ": no length";
        break;
      }
      uint64_t n = 0;
      for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(p[i]);
      p.remove_prefix(8);
      if (p.size() < n + 1 || p[n] != '\n') {
        ADD_FAILURE() << name << ": a length of " << n << " that the entry does not hold";
        break;
      }
      value = p.substr(0, n);
      p.remove_prefix(n + 1);
    }
    EXPECT_TRUE(std::regex_match(name, std::regex("[A-Z][A-Z0-9_]{0,63}"))) << name;
    EXPECT_EQ(fields.count(name), 0u) << name << " twice";
    fields[name] = value;
  }
  return fields;
}

std::string unbase64(const std::string& b64) {
  static const std::string abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : b64) {
    if (c == '=') break;
    acc = (acc << 6) | static_cast<uint32_t>(abc.find(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string shell_words(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += ' ';
    append_shell_word(out, s);
  }
  return out;
}

// Leaves by path, objects in a list by their index: "ancestry.1.comm".
void leaves_of(const ordered& v, const std::string& path, std::map<std::string, ordered>& out) {
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      leaves_of(it.value(), path.empty() ? it.key() : path + "." + it.key(), out);
    }
  } else if (v.is_array() && !v.empty() && v[0].is_object()) {
    for (size_t i = 0; i < v.size(); ++i) leaves_of(v[i], path + "." + std::to_string(i), out);
  } else {
    out[path] = v;
  }
}

std::string journal_name(std::string path) {
  for (char& c : path) c = c == '.' ? '_' : static_cast<char>(std::toupper(c));
  return "PROCTRAIL_" + path;
}

TEST(JournalFormat, EveryValueOfTheJsonRecordIsAFieldWithItsExactBytes) {
  auto json = make_json_formatter();
  JournalEncoder journal;
  for (const auto& e : every_kind()) {
    std::string line, entry;
    json->format(e, line);
    journal.encode(e, entry);
    auto fields = journal_entry(entry);
    std::map<std::string, ordered> leaves;
    leaves_of(ordered::parse(line), "", leaves);
    std::map<std::string, std::string> want;
    for (const auto& [path, v] : leaves) {
      const bool b64 = path.size() > 4 && path.compare(path.size() - 4, 4, "_b64") == 0;
      const std::string plain = b64 ? path.substr(0, path.size() - 4) : path;
      if (b64) {
        // A string's exact bytes, or a list's (each string NUL-ended) when it has no text form.
        const std::string bytes = unbase64(v.get<std::string>());
        if (leaves.count(plain)) {
          want[journal_name(plain)] = bytes;
        } else {
          std::vector<std::string> items;
          size_t start = 0;
          for (size_t i = 0; i < bytes.size(); ++i) {
            if (bytes[i] == '\0') {
              items.push_back(bytes.substr(start, i - start));
              start = i + 1;
            }
          }
          want[journal_name(plain)] = shell_words(items);
        }
      } else if (leaves.count(path + "_b64")) {
        continue;  // the text with U+FFFD: the journal has the bytes
      } else if (v.is_null()) {
        EXPECT_EQ(fields.count(journal_name(path)), 0u) << path << " is not known: no field";
      } else if (v.is_string()) {
        want[journal_name(path)] = v.get<std::string>();
      } else if (v.is_array()) {
        want[journal_name(path)] = shell_words(v.get<std::vector<std::string>>());
      } else {
        want[journal_name(path)] = v.dump();
      }
    }
    std::map<std::string, std::string> got;
    for (const auto& [name, value] : fields) {
      if (name.rfind("PROCTRAIL_", 0) == 0) got[name] = value;
    }
    EXPECT_EQ(got, want) << line;

    EXPECT_EQ(fields["SYSLOG_IDENTIFIER"], "proctrail");
    EXPECT_TRUE(std::regex_match(fields["MESSAGE_ID"], std::regex("[0-9a-f]{32}"))) << entry;
    EXPECT_TRUE(std::regex_match(fields["PRIORITY"], std::regex("[0-7]"))) << entry;
    const std::string& message = fields["MESSAGE"];
    EXPECT_FALSE(message.empty()) << line;
    EXPECT_TRUE(is_valid_utf8(message)) << message;
    // Lines of its own (a summary's lists) are the only control characters.
    for (unsigned char c : message) {
      EXPECT_TRUE((c >= 0x20 && c != 0x7f) || (c == '\n' && e.type() == EventType::Summary))
          << "a control character in the message: " << message;
    }
  }
}

TEST(JournalFormat, PriorityAndMessageIdSayWhatKindOfEventItIs) {
  JournalEncoder journal;
  std::map<std::string, std::string> ids;  // type to MESSAGE_ID
  for (const auto& e : every_kind()) {
    std::string entry;
    journal.encode(e, entry);
    auto f = journal_entry(entry);
    const std::string type = f["PROCTRAIL_TYPE"];
    if (ids.count(type)) {
      EXPECT_EQ(ids[type], f["MESSAGE_ID"]) << type;
    }
    ids[type] = f["MESSAGE_ID"];
    if (type == "exit") {
      // The process killed (status 9): a notice; a thread's end: information.
      EXPECT_EQ(f["PRIORITY"], f["PROCTRAIL_THREAD"] == "false" ? "5" : "6") << entry;
    } else if (type == "lost") {
      EXPECT_EQ(f["PRIORITY"], "4");
    } else if (type == "exec_failed") {
      EXPECT_EQ(f["PRIORITY"], "5");
    } else {
      EXPECT_EQ(f["PRIORITY"], "6") << type;
    }
  }
  EXPECT_EQ(ids["exec"], "f8e57647f366404897c15f265028dac2");
  EXPECT_EQ(ids["exit"], "ded208c797ba4d089cfc7f4f3c0eb8ad");
  std::set<std::string> distinct;
  for (const char* t :
       {"start", "fork", "exec", "exit", "exec_failed", "lost", "resync", "summary", "uid"}) {
    distinct.insert(ids[t]);
  }
  EXPECT_EQ(distinct.size(), 9u) << "each of these kinds has a MESSAGE_ID of its own";
}

// --syslog. Each event as an RFC 5424 message: a header the RFC's grammar takes, every value of
// the JSON record a structured data parameter with a valid SD-NAME, escaped as the RFC says, and
// nothing a process controls raw when it is not printable text.
struct Syslog5424 {
  int pri = -1;
  std::string timestamp, hostname, app, procid, msgid, sd_id, msg;
  std::vector<std::pair<std::string, std::string>> params;  // in order
  // Each structured data element after the first: its SD-ID and parameters.
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> more;
};

Syslog5424 parse_5424(const std::string& m) {
  Syslog5424 r;
  std::smatch h;
  static const std::regex header(R"(^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) \[)");
  if (!std::regex_search(m, h, header)) {
    ADD_FAILURE() << "not an RFC 5424 header: " << m.substr(0, 200);
    return r;
  }
  r.pri = std::stoi(h[1]);
  r.timestamp = h[2];
  r.hostname = h[3];
  r.app = h[4];
  r.procid = h[5];
  r.msgid = h[6];
  size_t i = static_cast<size_t>(h.length(0));
  // SD-NAME: 1 to 32 printable US-ASCII but '=', ' ', ']' and '"'.
  static const std::regex sd_name(R"([!#-<>-\\^-~]{1,32})");
  for (bool first = true;; first = false) {
    const size_t id_end = m.find_first_of(" ]", i);
    std::string id = m.substr(i, id_end - i);
    EXPECT_TRUE(std::regex_match(id, sd_name)) << "SD-ID " << id;
    std::vector<std::pair<std::string, std::string>> params;
    i = id_end;
    while (i < m.size() && m[i] == ' ') {
      const size_t eq = m.find('=', i);
      const std::string name = m.substr(i + 1, eq - i - 1);
      EXPECT_TRUE(std::regex_match(name, sd_name)) << "SD-NAME " << name;
      EXPECT_EQ(m[eq + 1], '"') << name;
      std::string value;
      size_t j = eq + 2;
      for (; j < m.size() && m[j] != '"'; ++j) {
        if (m[j] == '\\' && j + 1 < m.size() &&
            (m[j + 1] == '"' || m[j + 1] == '\\' || m[j + 1] == ']')) {
          ++j;
        } else {
          EXPECT_NE(m[j], ']') << name << ": a bare ']' in a value";
        }
        value += m[j];
      }
      params.emplace_back(name, value);
      i = j + 1;
    }
    if (first) {
      r.sd_id = id;
      r.params = std::move(params);
    } else {
      r.more.emplace_back(id, std::move(params));
    }
    if (m.compare(i, 2, "][") != 0) break;
    i += 2;
  }
  EXPECT_EQ(m.substr(i, 2), "] ") << m.substr(i, 50);
  r.msg = i + 2 <= m.size() ? m.substr(i + 2) : "";
  return r;
}

std::string syslog_value(const std::string& bytes) {
  return is_safe_text(bytes) ? bytes : shell_word(bytes);
}

TEST(SyslogFormat, EveryValueOfTheJsonRecordIsAParameterAsRfc5424HasIt) {
  auto json = make_json_formatter();
  SyslogEncoder syslog(10);  // authpriv
  for (const auto& e : every_kind()) {
    std::string line, m;
    json->format(e, line);
    syslog.encode(e, m);
    const auto r = parse_5424(m);
    const auto rec = ordered::parse(line);
    EXPECT_EQ(r.pri, 10 * 8 + event_severity(e)) << "authpriv and the severity journald gets";
    EXPECT_TRUE(
        std::regex_match(r.timestamp, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)")))
        << r.timestamp;
    EXPECT_EQ(r.timestamp, rec["time"].get<std::string>().substr(0, 26) + "Z");
    EXPECT_EQ(r.app, "proctrail");
    EXPECT_EQ(r.procid, std::to_string(getpid()));
    EXPECT_EQ(r.msgid, rec["type"]);
    EXPECT_EQ(r.sd_id, "proctrail@32473");
    std::map<std::string, std::string> got;
    for (const auto& [name, value] : r.params) {
      EXPECT_EQ(got.count(name), 0u) << name << " twice";
      got[name] = value;
    }
    std::map<std::string, ordered> leaves;
    leaves_of(rec, "", leaves);
    std::map<std::string, std::string> want;
    for (const auto& [path, v] : leaves) {
      const bool b64 = path.size() > 4 && path.compare(path.size() - 4, 4, "_b64") == 0;
      const std::string plain = b64 ? path.substr(0, path.size() - 4) : path;
      if (b64) {
        const std::string bytes = unbase64(v.get<std::string>());
        if (leaves.count(plain)) {
          want[plain] = syslog_value(bytes);
        } else {
          std::vector<std::string> items;
          size_t start = 0;
          for (size_t i = 0; i < bytes.size(); ++i) {
            if (bytes[i] == '\0') {
              items.push_back(bytes.substr(start, i - start));
              start = i + 1;
            }
          }
          want[plain] = shell_words(items);
        }
      } else if (leaves.count(path + "_b64")) {
        continue;
      } else if (v.is_null()) {
        EXPECT_EQ(got.count(path), 0u) << path << " is not known: no parameter";
      } else if (v.is_string()) {
        want[path] = syslog_value(v.get<std::string>());
      } else if (v.is_array()) {
        want[path] = shell_words(v.get<std::vector<std::string>>());
      } else {
        want[path] = v.dump();
      }
    }
    EXPECT_EQ(got, want) << line;
    EXPECT_FALSE(r.msg.empty());
    for (unsigned char c : m) {
      EXPECT_TRUE(c >= 0x20 || (c == '\n' && e.type() == EventType::Summary))
          << "a control character in: " << m;
    }
  }
}

// --schema ecs with --journal and --syslog: the fields are the ECS document's (the one mapping,
// the ECS formatter's), leaf by leaf. In the journal each is named by its path in capitals, '_'
// for '.' and no '@' ("process.parent.entity_id" is PROCESS_PARENT_ENTITY_ID, "@timestamp"
// TIMESTAMP); in syslog the ECS names are one structured data element and what ECS has no name
// for (the document's proctrail object) another, under the names the proctrail schema gives
// it, so every SD-NAME stays within RFC 5424's 32 characters.
std::map<std::string, ordered> ecs_leaves(Formatter& ecs, const Event& e) {
  std::string line;
  ecs.format(e, line);
  std::map<std::string, ordered> leaves;
  leaves_of(ordered::parse(line), "", leaves);
  return leaves;
}

std::string ecs_journal_name(const std::string& path) {
  std::string name;
  for (char c : path) {
    if (c == '.' || c == '@') {
      if (!name.empty()) name += '_';
    } else {
      name += static_cast<char>(std::toupper(c));
    }
  }
  return name;
}

TEST(JournalFormat, UnderEcsEveryFieldIsTheEcsDocumentsInCapitals) {
  auto ecs = make_ecs_formatter();
  JournalEncoder journal(Schema::Ecs);
  bool saw_exec = false;
  for (const auto& e : every_kind()) {
    std::string entry;
    journal.encode(e, entry);
    auto fields = journal_entry(entry);
    std::map<std::string, std::string> want;
    for (const auto& [path, v] : ecs_leaves(*ecs, e)) {
      if (v.is_null()) continue;  // not known: no field
      want[ecs_journal_name(path)] = v.is_string()  ? v.get<std::string>()
                                     : v.is_array() ? shell_words(v.get<std::vector<std::string>>())
                                                    : v.dump();
    }
    for (const char* own : {"MESSAGE", "MESSAGE_ID", "PRIORITY", "SYSLOG_IDENTIFIER"}) {
      EXPECT_EQ(fields.count(own), 1u) << own << " in " << entry;
      fields.erase(own);
    }
    EXPECT_EQ(fields, want);
    if (e.type() == EventType::Exec && fields.count("PROCESS_EXECUTABLE")) {
      saw_exec = true;
      EXPECT_FALSE(fields["PROCESS_ARGS"].empty()) << entry;
      EXPECT_FALSE(fields["PROCESS_ENTITY_ID"].empty()) << entry;
      EXPECT_EQ(fields["EVENT_ACTION"], "exec");
      EXPECT_EQ(fields.count("TIMESTAMP"), 1u) << entry;
      EXPECT_EQ(fields.count("PROCTRAIL_EXE"), 0u) << "no proctrail name for what ECS names";
    }
  }
  EXPECT_TRUE(saw_exec);
}

TEST(SyslogFormat, UnderEcsTheEcsNamesAreOneElementAndTheRestAnother) {
  auto ecs = make_ecs_formatter();
  const auto types = ecs_types();
  SyslogEncoder syslog(10, Schema::Ecs);
  for (const auto& e : every_kind()) {
    std::string m;
    syslog.encode(e, m);
    const auto r = parse_5424(m);
    EXPECT_EQ(r.sd_id, "ecs@32473") << m;
    ASSERT_EQ(r.more.size(), 1u) << m;
    EXPECT_EQ(r.more[0].first, "proctrail@32473");
    std::map<std::string, std::string> got_ecs, got_own;
    for (const auto& [name, value] : r.params) got_ecs[name] = value;
    for (const auto& [name, value] : r.more[0].second) got_own[name] = value;
    EXPECT_EQ(got_ecs.size(), r.params.size()) << "a name twice: " << m;
    std::map<std::string, std::string> want_ecs, want_own;
    for (const auto& [path, v] : ecs_leaves(*ecs, e)) {
      if (v.is_null()) continue;
      const std::string value = v.is_string()  ? syslog_value(v.get<std::string>())
                                : v.is_array() ? shell_words(v.get<std::vector<std::string>>())
                                               : v.dump();
      if (path.rfind("proctrail.", 0) == 0) {
        want_own[path.substr(10)] = value;
      } else {
        want_ecs[path] = value;
      }
    }
    EXPECT_EQ(got_own.size(), r.more[0].second.size()) << "a name twice: " << m;
    for (const auto& [name, value] : got_ecs) {
      EXPECT_EQ(types.count(name), 1u) << name << " is no ECS field, in the ECS element: " << m;
    }
    EXPECT_EQ(got_ecs, want_ecs) << m;
    EXPECT_EQ(got_own, want_own) << m;
    EXPECT_EQ(r.msgid, want_ecs["event.action"]);
    EXPECT_FALSE(r.msg.empty());
  }
}

// An exec with a 20,000-byte argument and a 3,000-byte exe, run by alice (uid 1000).
Event long_exec() {
  auto d = std::make_shared<ExecDetails>();
  d->argv_source = ArgvSource::Kernel;
  d->argv = {"/bin/echo", std::string(20000, 'a')};
  d->exe = "/usr/bin/" + std::string(3000, 'e');
  d->cwd = "/tmp";
  d->creds = Credentials{1000, 1000, 1000, 1000};
  d->user = "alice";
  return base(30, 300, ExecData{d});
}

// A long command line is cut in the message, and says so; who ran it comes before it, so a
// daemon that cuts the message keeps that.
TEST(SyslogFormat, ALongCommandLineIsCutAfterWhoRanIt) {
  std::string m;
  SyslogEncoder(3).encode(long_exec(), m);
  const auto r = parse_5424(m);
  std::map<std::string, std::string> p(r.params.begin(), r.params.end());
  EXPECT_LE(p["argv"].size(), kSyslogValueMax);
  EXPECT_EQ(p["argv"].rfind("/bin/echo aaaa", 0), 0u);
  EXPECT_EQ(p["argv_cut"], "true");
  EXPECT_LE(p["exe"].size(), kSyslogValueMax);
  EXPECT_EQ(p["exe_cut"], "true");
  EXPECT_EQ(p.count("cwd_cut"), 0u);
  EXPECT_LE(r.msg.size(), kSyslogValueMax + 3) << "the text line too, with an ellipsis";
  EXPECT_LT(m.find(" uid=\"1000\""), m.find(" argv=\"")) << "who ran it comes first";
  EXPECT_LT(m.find(" user=\"alice\""), m.find(" argv=\""));
}

// Under ECS too: the command line (process.args, and process.command_line, the same words as
// one string) comes after who ran it; what is cut says so in the proctrail element, for the ECS
// element holds ECS names only.
TEST(SyslogFormat, UnderEcsALongCommandLineIsCutAfterWhoRanIt) {
  std::string m;
  SyslogEncoder(3, Schema::Ecs).encode(long_exec(), m);
  const auto r = parse_5424(m);
  ASSERT_EQ(r.sd_id, "ecs@32473") << m.substr(0, 300);
  ASSERT_EQ(r.more.size(), 1u);
  std::map<std::string, std::string> ecs(r.params.begin(), r.params.end());
  std::map<std::string, std::string> own(r.more[0].second.begin(), r.more[0].second.end());
  const auto types = ecs_types();
  for (const auto& [name, value] : ecs) {
    EXPECT_EQ(types.count(name), 1u) << name << " is no ECS field, in the ECS element";
  }
  for (const char* k : {"process.args", "process.command_line", "process.executable"}) {
    EXPECT_LE(ecs[k].size(), kSyslogValueMax) << k;
    EXPECT_EQ(own[std::string(k) + "_cut"], "true") << k << " says it was cut";
  }
  EXPECT_EQ(ecs["process.args"].rfind("/bin/echo aaaa", 0), 0u);
  EXPECT_EQ(ecs["process.command_line"].rfind("/bin/echo aaaa", 0), 0u);
  EXPECT_EQ(own.count("process.working_directory_cut"), 0u);
  for (const char* who : {" user.id=\"1000\"", " user.name=\"alice\"", " process.executable=\""}) {
    ASSERT_NE(m.find(who), std::string::npos) << who;
    EXPECT_LT(m.find(who), m.find(" process.args=\"")) << who << " comes first";
    EXPECT_LT(m.find(who), m.find(" process.command_line=\"")) << who << " comes first";
  }
}

// The exact bytes of an argv that is not UTF-8 (proctrail.argv_b64, a third longer than the
// argv) are held back to the end of their element too, as the lists are.
TEST(SyslogFormat, UnderEcsTheExactBytesOfALongArgvComeLastInTheirElement) {
  auto d = std::make_shared<ExecDetails>();
  d->argv_source = ArgvSource::Kernel;
  d->argv = {"/bin/echo", std::string(20000, 'a') + "\xff"};
  d->exe = "/bin/echo";
  d->cwd = "/tmp";
  std::string m;
  SyslogEncoder(3, Schema::Ecs).encode(base(30, 300, ExecData{d}), m);
  const auto r = parse_5424(m);
  ASSERT_EQ(r.more.size(), 1u) << m.substr(0, 300);
  const auto& own = r.more[0].second;
  ASSERT_GE(own.size(), 3u);
  EXPECT_EQ(own[own.size() - 2].first, "argv_b64") << "last in the proctrail element";
  EXPECT_EQ(own.back().first, "argv_b64_cut");
  EXPECT_LE(own[own.size() - 2].second.size(), kSyslogValueMax);
}

}  // namespace
}  // namespace proctrail
