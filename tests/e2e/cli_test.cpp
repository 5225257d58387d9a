// The command line: every bad input is one clear line and exit status 2. No root needed.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "harness.hpp"

namespace proctrail::e2e {
namespace {

struct BadArgs {
  const char* name;
  std::vector<std::string> args;
  const char* mentions;
};

class BadCommandLine : public ::testing::TestWithParam<BadArgs> {};

TEST_P(BadCommandLine, OneLineAndExit2) {
  std::vector<std::string> argv = {proctrail_path()};
  argv.insert(argv.end(), GetParam().args.begin(), GetParam().args.end());
  CommandResult r = run(argv);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("proctrail: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(GetParam().mentions), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(
    All, BadCommandLine,
    ::testing::Values(
        BadArgs{"Format", {"-f", "xml"}, "unknown format 'xml'"},
        BadArgs{"Backend", {"--backend", "dtrace"}, "unknown backend 'dtrace'"},
        BadArgs{"Event", {"-e", "exec,spawn"}, "unknown event 'spawn'"},
        BadArgs{"EmptyEvent", {"-e", "exec,"}, "empty event name"},
        BadArgs{"Size", {"--max-argv-bytes", "lots"}, "--max-argv-bytes"},
        BadArgs{"TinySize", {"--max-argv-bytes", "1"}, "--max-argv-bytes"},
        BadArgs{"Ring", {"--ringbuf", "3M"}, "power of two"},
        BadArgs{"Priority", {"--priority", "max"}, "unknown priority"},
        BadArgs{"Unknown", {"--frobnicate"}, "unknown option '--frobnicate'"},
        // A new user's first two mistakes (issue 18): the command without "--", and a typo.
        BadArgs{"Positional",
                {"make"},
                "to run a command, put it after --, as in proctrail [OPTIONS] -- make"},
        BadArgs{
            "PositionalAfterOption", {"-f", "json", "make", "-j2"}, "proctrail [OPTIONS] -- make"},
        BadArgs{"Typo", {"--tre"}, "unknown option '--tre'; did you mean --tree?"},
        BadArgs{"TypoInValueOption", {"--fromat", "json"}, "did you mean --format?"},
        BadArgs{"UtcWithJson", {"-f", "json", "--utc"}, "text format only"},
        BadArgs{"ProcField", {"--proc-fields", "exe,pwd"}, "unknown /proc field 'pwd'"},
        BadArgs{"Readers", {"--exec-readers", "-5"}, "--exec-readers"},
        BadArgs{"Pid", {"-p", "12,x"}, "--pid wants process ids"},
        BadArgs{"NoSuchUser", {"-u", "no-such-user-here"}, "no user named"},
        BadArgs{"Regex", {"--comm", "(oops"}, "is not a regular expression"},
        BadArgs{"Container", {"--container", "XYZ"}, "lower-case hex"},
        BadArgs{"Color", {"--color", "rainbow"}, "unknown --color"},
        BadArgs{"Duration", {"-D", "0"}, "--duration wants"},
        BadArgs{"RotateNoFile", {"--rotate-size", "1M"}, "needs a file"},
        BadArgs{"RotateTiny", {"-o", "/tmp/x", "--rotate-size", "1K"}, "at least 4K"},
        BadArgs{"RotateKeepAlone", {"--rotate-keep", "3"}, "goes with --rotate-size"},
        BadArgs{"TreeJson", {"-f", "json", "--tree"}, "text format only"},
        BadArgs{"NoCommand", {"--"}, "no COMMAND"},
        BadArgs{"PidAndCommand", {"-p", "1", "--", "true"}, "do not go together"},
        BadArgs{"CommandUserAlone", {"--user-of-command", "root"}, "goes with a COMMAND"},
        BadArgs{"SeedFilter", {"-f", "seed", "-u", "0"}, "seed format has no filters"},
        // Accepted in silence before (issue 16): each is a mistake, not a request.
        BadArgs{"EmptyUser", {"-u", ""}, "--user wants a user name or number"},
        BadArgs{"NoUid", {"-u", "4294967295"}, "--user: 4294967295 is not a user id"},
        BadArgs{"EmptyCommandUser",
                {"--user-of-command", "", "--", "true"},
                "--user-of-command wants a user name or number"},
        BadArgs{"EmptyDuration", {"-D", ""}, "--duration wants"},
        BadArgs{"HexDuration", {"-D", "0x10"}, "--duration wants"},
        BadArgs{"Scope", {"--scope", "everyone"}, "unknown --scope 'everyone'"},
        BadArgs{"CgroupNotAPath",
                {"--cgroup", "system.slice"},
                "--cgroup wants a cgroup path starting with /"},
        BadArgs{"SchemaUnknown",
                {"-f", "json", "--schema", "otel"},
                "unknown schema 'otel' (choose proctrail or ecs)"},
        BadArgs{"SchemaText", {"--schema", "ecs"}, "--schema ecs applies to JSON output"}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(CommandLine, HelpHasExamplesAndExitsZero) {
  CommandResult r = run({proctrail_path(), "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("Examples:"), std::string::npos);
  EXPECT_NE(r.out.find("--priority"), std::string::npos);
  EXPECT_EQ(r.err, "");
}

// Every option --help lists is in the man page, and every option the man page describes is
// one --help lists.
TEST(CommandLine, ManPageAndHelpAgree) {
  CommandResult r = run({proctrail_path(), "--help"});
  ASSERT_EQ(r.exit_code, 0);
  std::ifstream in(PROCTRAIL_MANPAGE);
  ASSERT_TRUE(in) << PROCTRAIL_MANPAGE;
  std::stringstream man_text;
  man_text << in.rdbuf();
  std::regex long_option("--([a-z][a-z-]*[a-z])");
  std::set<std::string> help, man;
  // In --help: the option column of each option line.
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("  -", 0) != 0) continue;
    std::string column = line.substr(0, line.find("  ", 2));
    for (std::sregex_iterator it(column.begin(), column.end(), long_option), end; it != end; ++it) {
      help.insert((*it)[1]);
    }
  }
  // In the man page: the tag line after each .TP, where roff writes "\-\-name".
  std::istringstream roff(man_text.str());
  bool tag = false;
  for (std::string line; std::getline(roff, line);) {
    if (line.rfind(".TP", 0) == 0) {
      tag = true;
      continue;
    }
    if (!tag) continue;
    tag = false;
    std::string plain = std::regex_replace(line, std::regex(R"(\\-)"), "-");
    for (std::sregex_iterator it(plain.begin(), plain.end(), long_option), end; it != end; ++it) {
      man.insert((*it)[1]);
    }
  }
  EXPECT_GE(help.size(), 30u);
  for (const auto& o : help) EXPECT_TRUE(man.count(o)) << "--" << o << " is not in proctrail.8";
  for (const auto& o : man) EXPECT_TRUE(help.count(o)) << "--" << o << " is not in --help";
  // Sizes read SIZE, not TEXT.
  EXPECT_EQ(r.out.find("TEXT"), std::string::npos) << r.out;
}

TEST(CommandLine, Version) {
  CommandResult r = run({proctrail_path(), "--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("proctrail ", 0), 0u);
}

TEST(CommandLine, UnwritableOutputIsOneLineAndExit1) {
  CommandResult r = run({proctrail_path(), "-o", "/nonexistent-dir/x.jsonl"});
  EXPECT_EQ(r.exit_code, 1);
  // Says how to get on (issue 18: the service example failed on a fresh box).
  EXPECT_EQ(r.err,
            "proctrail: error: open output /nonexistent-dir/x.jsonl: directory /nonexistent-dir "
            "does not exist (create it first, e.g. install -d -m 0750 /nonexistent-dir; the "
            "systemd unit and the Debian package make /var/log/proctrail)\n");
}

}  // namespace
}  // namespace proctrail::e2e
