// The socket filters that route proc connector messages, run by a small classic BPF
// interpreter on messages laid out as the kernel sends them.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/filter.h>

#include <cstring>

#include "source/netlink/cn_proc.hpp"

namespace proctrail {
namespace {

// Runs the subset of classic BPF the filters use: LD W ABS, JEQ K, RET K.
uint32_t run(const std::vector<cn_proc::FilterInsn>& prog, const std::vector<std::byte>& pkt) {
  uint32_t a = 0;
  for (size_t pc = 0; pc < prog.size(); ++pc) {
    const auto& i = prog[pc];
    switch (i.code) {
      case BPF_LD | BPF_W | BPF_ABS: {
        if (i.k + 4 > pkt.size()) return 0;  // the kernel drops on an out-of-bounds load
        uint32_t raw;
        std::memcpy(&raw, pkt.data() + i.k, 4);
        a = ntohl(raw);
        break;
      }
      case BPF_JMP | BPF_JEQ | BPF_K:
        pc += a == i.k ? i.jt : i.jf;
        break;
      case BPF_RET | BPF_K:
        return i.k;
      default:
        ADD_FAILURE() << "unexpected opcode " << i.code;
        return 0;
    }
  }
  ADD_FAILURE() << "fell off the end";
  return 0;
}

std::vector<std::byte> msg(EventData data, int32_t cpu) {
  Event e;
  e.cpu = cpu;
  e.pid = e.tid = 10;
  e.data = std::move(data);
  return cn_proc::encode_event(e, 0);
}

bool keeps(cn_proc::Route r, std::vector<int> cpus, const std::vector<std::byte>& m) {
  return run(cn_proc::socket_filter(r, cpus), m) != 0;
}

TEST(SocketFilter, ExecOnCpusKeepsOnlyThoseCpusExecsAndAcks) {
  using cn_proc::Route;
  EXPECT_TRUE(keeps(Route::ExecOnCpus, {1}, msg(ExecData{}, 1)));
  EXPECT_FALSE(keeps(Route::ExecOnCpus, {1}, msg(ExecData{}, 0)));
  EXPECT_FALSE(keeps(Route::ExecOnCpus, {1}, msg(ExecData{}, 257)));
  EXPECT_FALSE(keeps(Route::ExecOnCpus, {1}, msg(ForkData{1, 1, 2, 2}, 1)));
  EXPECT_FALSE(keeps(Route::ExecOnCpus, {1}, msg(ExitData{}, 1)));
  EXPECT_TRUE(keeps(Route::ExecOnCpus, {1}, msg(AckData{}, 0)));
  EXPECT_TRUE(keeps(Route::ExecOnCpus, {0, 3, 5}, msg(ExecData{}, 5)));
}

TEST(SocketFilter, ExecOffCpusTakesTheRest) {
  using cn_proc::Route;
  std::vector<int> readers = {0, 1};
  EXPECT_FALSE(keeps(Route::ExecOffCpus, readers, msg(ExecData{}, 0)));
  EXPECT_FALSE(keeps(Route::ExecOffCpus, readers, msg(ExecData{}, 1)));
  EXPECT_TRUE(keeps(Route::ExecOffCpus, readers, msg(ExecData{}, 2)));
  EXPECT_TRUE(keeps(Route::ExecOffCpus, {}, msg(ExecData{}, 0)));
  EXPECT_FALSE(keeps(Route::ExecOffCpus, readers, msg(UidData{}, 2)));
  EXPECT_TRUE(keeps(Route::ExecOffCpus, readers, msg(AckData{}, 2)));
}

TEST(SocketFilter, AllButExec) {
  using cn_proc::Route;
  EXPECT_FALSE(keeps(Route::AllButExec, {}, msg(ExecData{}, 0)));
  for (EventData d :
       {EventData{ForkData{}}, EventData{ExitData{}}, EventData{UidData{}}, EventData{GidData{}},
        EventData{SidData{}}, EventData{PtraceData{}}, EventData{CommData{}},
        EventData{CoredumpData{}}, EventData{AckData{}}, EventData{UnknownData{0x400}}}) {
    EXPECT_TRUE(keeps(Route::AllButExec, {}, msg(d, 0)));
  }
}

TEST(SocketFilter, EveryMessageGoesToExactlyOneRoute) {
  using cn_proc::Route;
  std::vector<int> readers = {0, 1, 2, 3};
  for (int cpu = 0; cpu < 8; ++cpu) {
    for (EventData d : {EventData{ExecData{}}, EventData{ForkData{}}, EventData{ExitData{}}}) {
      auto m = msg(d, cpu);
      int takers = keeps(Route::AllButExec, {}, m) + keeps(Route::ExecOffCpus, readers, m);
      for (int r : readers) takers += keeps(Route::ExecOnCpus, {r}, m);
      EXPECT_EQ(takers, 1) << "cpu " << cpu;
    }
  }
}

TEST(SocketFilter, ShortMessagesAreDropped) {
  std::vector<std::byte> tiny(20);
  EXPECT_FALSE(keeps(cn_proc::Route::ExecOnCpus, {0}, tiny));
  EXPECT_FALSE(keeps(cn_proc::Route::AllButExec, {}, tiny));
}

}  // namespace
}  // namespace proctrail
