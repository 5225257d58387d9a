// The monitor as a whole, as root: what it leaves out, what it says it cannot do, and the order
// of its first records.
#include <gtest/gtest.h>
#include <unistd.h>

#include <sstream>

#include "harness.hpp"
#include "skip.hpp"

namespace proctrail::e2e {
namespace {

using nlohmann::json;

class Whole : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (geteuid() != 0) PT_SKIP("needs-root") << "needs root";
  }
};

// proctrail's own threads come and go at start and stop: they are not the machine's news.
TEST_P(Whole, ItsOwnThreadsAreNotReported) {
  Monitor m({"-f", "json", "--backend", GetParam()});
  ASSERT_TRUE(m.started()) << m.errors();
  auto k = scenario({"thread"});
  const pid_t self = m.pid();
  ASSERT_EQ(m.stop(), 0) << m.errors();
  bool others = false;
  for (const auto& r : m.records()) {
    EXPECT_NE(r.value("pid", 0L), static_cast<long>(self)) << "its own: " << r.dump();
    others |= r.value("pid", 0L) == k.at("pid");
  }
  EXPECT_TRUE(others) << "another process's threads are still reported";
}

// The start record comes first and precedes the subscription's ack in time; acks are not in
// the text or JSON output (the seed format prints them, as the sample did).
TEST_P(Whole, TheStartRecordComesFirstAndAcksOnlyInTheSeedFormat) {
  Monitor js({"-f", "json", "--backend", GetParam()});
  ASSERT_TRUE(js.started()) << js.errors();
  ASSERT_EQ(js.stop(), 0);
  auto r = js.records();
  ASSERT_FALSE(r.empty());
  EXPECT_EQ(r[0]["type"], "start");
  for (const auto& x : r) EXPECT_NE(x["type"], "ack") << x.dump();
  if (GetParam() == "netlink") {
    Monitor seed({"-f", "seed", "--backend", "netlink"});
    ASSERT_TRUE(seed.started()) << seed.errors();
    ASSERT_EQ(seed.stop(), 0);
    EXPECT_EQ(seed.output().rfind("set mcast listen ok\n", 0), 0u) << seed.output();
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, Whole, ::testing::ValuesIn(backends()),
                         [](const auto& p) { return p.param; });

#ifdef PROCTRAIL_E2E_BPF
// In a network namespace of its own the eBPF backend still runs, but the proc connector (uid,
// gid, sid, ptrace, comm, coredump) cannot be reached: said once on stderr, and in the start
// record, not silently missing.
TEST(WholeBpf, DegradedCaptureIsSaidOnceAndInTheStartRecord) {
  if (geteuid() != 0) PT_SKIP("needs-root") << "needs root";
  CommandResult r =
      run({"unshare", "-n", "timeout", "--preserve-status", "-s", "INT",
           std::to_string(2 * time_scale()), proctrail_path(), "--backend", "bpf", "-f", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("proctrail: warning: no uid, gid, sid, ptrace, comm or coredump events", 0),
            0u)
      << r.err;
  ASSERT_FALSE(r.out.empty());
  json start = parse_record(r.out.substr(0, r.out.find('\n')));
  EXPECT_EQ(start["type"], "start");
  EXPECT_EQ(start["missing_events"], json({"uid", "gid", "sid", "ptrace", "comm", "coredump"}));
}
#endif

}  // namespace
}  // namespace proctrail::e2e
