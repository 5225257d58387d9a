// The command line: every bad input is one clear line and exit status 2. No root needed.
#include <gtest/gtest.h>

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
    ::testing::Values(BadArgs{"Format", {"-f", "xml"}, "unknown format 'xml'"},
                      BadArgs{"Backend", {"--backend", "dtrace"}, "unknown backend 'dtrace'"},
                      BadArgs{"Event", {"-e", "exec,spawn"}, "unknown event 'spawn'"},
                      BadArgs{"EmptyEvent", {"-e", "exec,"}, "empty event name"},
                      BadArgs{"Size", {"--max-argv-bytes", "lots"}, "--max-argv-bytes"},
                      BadArgs{"TinySize", {"--max-argv-bytes", "1"}, "--max-argv-bytes"},
                      BadArgs{"Ring", {"--ringbuf", "3M"}, "power of two"},
                      BadArgs{"Priority", {"--priority", "max"}, "unknown priority"},
                      BadArgs{"Unknown", {"--frobnicate"}, "frobnicate"},
                      BadArgs{"Positional", {"extra"}, "extra"},
                      BadArgs{"UtcWithJson", {"-f", "json", "--utc"}, "text format only"},
                      BadArgs{
                          "ProcField", {"--proc-fields", "exe,pwd"}, "unknown /proc field 'pwd'"},
                      BadArgs{"Readers", {"--exec-readers", "-5"}, "--exec-readers"}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(CommandLine, HelpHasExamplesAndExitsZero) {
  CommandResult r = run({proctrail_path(), "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("Examples:"), std::string::npos);
  EXPECT_NE(r.out.find("--priority"), std::string::npos);
  EXPECT_EQ(r.err, "");
}

TEST(CommandLine, Version) {
  CommandResult r = run({proctrail_path(), "--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("proctrail ", 0), 0u);
}

TEST(CommandLine, UnwritableOutputIsOneLineAndExit1) {
  CommandResult r = run({proctrail_path(), "-o", "/nonexistent-dir/x.jsonl"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "proctrail: error: open output /nonexistent-dir/x.jsonl: No such file or directory\n");
}

}  // namespace
}  // namespace proctrail::e2e
