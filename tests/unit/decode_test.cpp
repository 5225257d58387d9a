// The proc connector decoder, against messages built byte by byte as the kernel lays them out
// (not through our own encoder) and against every kind of malformed input.
#include <gtest/gtest.h>

#include <cstring>

#include "source/netlink/cn_proc.hpp"

namespace proctrail {
namespace {

// Offsets in a datagram: nlmsghdr(16) + cn_msg(20) + proc_event(16 header + 24 payload).
constexpr size_t kNlLen = 0, kNlType = 4, kCnIdx = 16, kCnVal = 20, kCnSeq = 24, kCnAck = 28,
                 kCnLen = 32, kWhat = 36, kCpu = 40, kTs = 44, kData = 52;

class Msg {
 public:
  explicit Msg(uint32_t what) : b_(76) {
    put<uint32_t>(kNlLen, 76);
    put<uint16_t>(kNlType, 3);  // NLMSG_DONE
    put<uint32_t>(kCnIdx, 1);   // CN_IDX_PROC
    put<uint32_t>(kCnVal, 1);   // CN_VAL_PROC
    put<uint16_t>(kCnLen, 40);
    put<uint32_t>(kWhat, what);
    put<uint32_t>(kCpu, 1);
    put<uint64_t>(kTs, 123456789);
  }
  template <class T>
  Msg& put(size_t off, T v) {
    std::memcpy(b_.data() + off, &v, sizeof v);
    return *this;
  }
  Msg& data(size_t word, int32_t v) { return put<int32_t>(kData + 4 * word, v); }
  std::span<const std::byte> span() const { return {b_.data(), b_.size()}; }
  std::vector<std::byte>& bytes() { return b_; }

 private:
  std::vector<std::byte> b_;
};

TEST(Decode, Fork) {
  Msg m(0x1);
  m.data(0, 100).data(1, 99).data(2, 200).data(3, 200).put<uint32_t>(kCnSeq, 7);
  auto r = cn_proc::decode(m.span());
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Event& e = r->event;
  EXPECT_EQ(e.type(), EventType::Fork);
  EXPECT_EQ(e.ts_ns, 123456789u);
  EXPECT_EQ(e.cpu, 1);
  EXPECT_EQ(r->seq, 7u);
  EXPECT_EQ(e.pid, 99);  // the parent is the subject of a fork
  EXPECT_EQ(e.tid, 100);
  const auto& f = std::get<ForkData>(e.data);
  EXPECT_EQ(f.parent_pid, 99);
  EXPECT_EQ(f.parent_tid, 100);
  EXPECT_EQ(f.child_pid, 200);
  EXPECT_EQ(f.child_tid, 200);
  EXPECT_FALSE(f.is_thread());
}

TEST(Decode, ForkOfThreadIsToldByTheKernelsFields) {
  Msg m(0x1);
  // The kernel names the process's parent (50) as a thread's parent; thread 201 is new in 99.
  m.data(0, 50).data(1, 50).data(2, 201).data(3, 99);
  auto r = cn_proc::decode(m.span());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(std::get<ForkData>(r->event.data).is_thread());
  EXPECT_EQ(r->event.pid, 99);  // the process that gains the thread
  EXPECT_EQ(r->event.tid, 201);
}

TEST(Decode, Exec) {
  Msg m(0x2);
  m.data(0, 301).data(1, 300);
  auto r = cn_proc::decode(m.span());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->event.type(), EventType::Exec);
  EXPECT_EQ(r->event.pid, 300);
  EXPECT_EQ(r->event.tid, 301);
  EXPECT_EQ(std::get<ExecData>(r->event.data).details, nullptr);
}

TEST(Decode, UidAndGid) {
  Msg u(0x4);
  u.data(0, 5).data(1, 5).data(2, 0).data(3, 65534);
  auto r = cn_proc::decode(u.span());
  ASSERT_TRUE(r.ok());
  const auto& uid = std::get<UidData>(r->event.data);
  EXPECT_EQ(uid.ruid, 0u);
  EXPECT_EQ(uid.euid, 65534u);

  Msg g(0x40);
  g.data(0, 5).data(1, 5).data(2, 100).data(3, 101);
  r = cn_proc::decode(g.span());
  ASSERT_TRUE(r.ok());
  const auto& gid = std::get<GidData>(r->event.data);
  EXPECT_EQ(gid.rgid, 100u);
  EXPECT_EQ(gid.egid, 101u);
}

TEST(Decode, SidPtraceCoredump) {
  Msg s(0x80);
  s.data(0, 8).data(1, 7);
  auto r = cn_proc::decode(s.span());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->event.type(), EventType::Sid);
  EXPECT_EQ(r->event.pid, 7);
  EXPECT_EQ(r->event.tid, 8);

  Msg p(0x100);
  p.data(0, 9).data(1, 9).data(2, 51).data(3, 50);
  r = cn_proc::decode(p.span());
  ASSERT_TRUE(r.ok());
  const auto& pt = std::get<PtraceData>(r->event.data);
  EXPECT_EQ(pt.tracer_pid, 50);
  EXPECT_EQ(pt.tracer_tid, 51);

  Msg c(0x40000000);
  c.data(0, 12).data(1, 11).data(2, 3).data(3, 2);
  r = cn_proc::decode(c.span());
  ASSERT_TRUE(r.ok());
  const auto& cd = std::get<CoredumpData>(r->event.data);
  EXPECT_EQ(r->event.pid, 11);
  EXPECT_EQ(cd.parent_pid, 2);
  EXPECT_EQ(cd.parent_tid, 3);
}

TEST(Decode, Comm) {
  Msg m(0x200);
  m.data(0, 21).data(1, 20);
  std::memcpy(m.bytes().data() + kData + 8, "worker\0junk", 11);
  auto r = cn_proc::decode(m.span());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<CommData>(r->event.data).comm, "worker");
}

TEST(Decode, CommWithoutTerminatingNulIsBounded) {
  Msg m(0x200);
  std::memset(m.bytes().data() + kData + 8, 'x', 16);
  auto r = cn_proc::decode(m.span());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<CommData>(r->event.data).comm, std::string(16, 'x'));
}

TEST(Decode, Exit) {
  Msg m(0x80000000);
  m.data(0, 41).data(1, 40).data(2, 3 << 8).data(3, 17).data(4, 2).data(5, 1);
  auto r = cn_proc::decode(m.span());
  ASSERT_TRUE(r.ok());
  const auto& x = std::get<ExitData>(r->event.data);
  EXPECT_EQ(r->event.pid, 40);
  EXPECT_EQ(r->event.tid, 41);
  EXPECT_EQ(x.raw_status, 3u << 8);
  EXPECT_EQ(x.exit_signal, 17u);
  EXPECT_EQ(x.parent_pid, 1);
  EXPECT_EQ(x.parent_tid, 2);
}

TEST(Decode, AckCarriesErrorAndNonce) {
  Msg m(0x0);
  m.put<uint32_t>(kData, 1).put<uint32_t>(kCnAck, 78);
  auto r = cn_proc::decode(m.span());
  ASSERT_TRUE(r.ok());
  const auto& a = std::get<AckData>(r->event.data);
  EXPECT_EQ(a.error, 1u);
  EXPECT_EQ(a.nonce, 78u);
}

TEST(Decode, UnknownTypeIsReportedNotRejected) {
  Msg m(0x400);
  auto r = cn_proc::decode(m.span());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->event.type(), EventType::Unknown);
  EXPECT_EQ(std::get<UnknownData>(r->event.data).what, 0x400u);
}

TEST(Decode, AlignmentPaddingAfterTheMessageIsAccepted) {
  Msg m(0x2);
  m.bytes().resize(80);  // NLMSG_ALIGN(76) is 76; up to 3 bytes of padding are tolerated
  m.bytes().resize(79);
  EXPECT_TRUE(cn_proc::decode(m.span()).ok());
}

struct Bad {
  const char* name;
  void (*mutate)(Msg&);
  const char* message_part;
};

void PrintTo(const Bad& b, std::ostream* os) {
  *os << b.name;
}

class DecodeMalformed : public ::testing::TestWithParam<Bad> {};

TEST_P(DecodeMalformed, YieldsAnError) {
  Msg m(0x1);
  GetParam().mutate(m);
  auto r = cn_proc::decode(m.span());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find(GetParam().message_part), std::string::npos)
      << r.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    All, DecodeMalformed,
    ::testing::Values(
        Bad{"Empty", [](Msg& m) { m.bytes().clear(); }, "shorter than a netlink header"},
        Bad{"ShortHeader", [](Msg& m) { m.bytes().resize(15); }, "shorter than a netlink header"},
        Bad{"TruncatedDatagram", [](Msg& m) { m.bytes().resize(60); }, "exceeds"},
        Bad{"NlLenTooSmall", [](Msg& m) { m.put<uint32_t>(kNlLen, 20); }, "no room"},
        Bad{"NlLenHuge", [](Msg& m) { m.put<uint32_t>(kNlLen, 0xffffffff); }, "exceeds"},
        Bad{"TwoMessages", [](Msg& m) { m.bytes().resize(152); }, "after its message"},
        Bad{"NotDone", [](Msg& m) { m.put<uint16_t>(kNlType, 2); }, "not NLMSG_DONE"},
        Bad{"OtherConnector", [](Msg& m) { m.put<uint32_t>(kCnIdx, 7); }, "connector id"},
        Bad{"OtherVal", [](Msg& m) { m.put<uint32_t>(kCnVal, 2); }, "connector id"},
        Bad{"CnLenDisagrees", [](Msg& m) { m.put<uint16_t>(kCnLen, 24); }, "disagrees"},
        Bad{"CnLenLarger", [](Msg& m) { m.put<uint16_t>(kCnLen, 60000); }, "disagrees"},
        Bad{"Oversized",
            [](Msg& m) {
              m.bytes().resize(16 + 20 + 2000);
              m.put<uint32_t>(kNlLen, 16 + 20 + 2000).put<uint16_t>(kCnLen, 2000);
            },
            "oversized"},
        Bad{"NoEventHeader",
            [](Msg& m) {
              m.bytes().resize(16 + 20 + 8);
              m.put<uint32_t>(kNlLen, 44).put<uint16_t>(kCnLen, 8);
            },
            "shorter than an event header"},
        Bad{"ForkPayloadCut",
            [](Msg& m) {
              m.bytes().resize(16 + 20 + 16 + 12);
              m.put<uint32_t>(kNlLen, 64).put<uint16_t>(kCnLen, 28);
            },
            "needs 32 bytes"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(Decode, EveryPrefixOfAValidMessageIsRejectedOrDecodedWithoutOverrun) {
  Msg m(0x80000000);
  for (size_t n = 0; n < 76; ++n) {
    std::vector<std::byte> cut(m.bytes().begin(), m.bytes().begin() + static_cast<long>(n));
    EXPECT_FALSE(cn_proc::decode({cut.data(), cut.size()}).ok()) << n;
  }
}

TEST(Encode, LegacyRequestIs40BytesWithTheOp) {
  auto b = cn_proc::encode_request(cn_proc::McastOp::Listen, std::nullopt, 77, 1234);
  ASSERT_EQ(b.size(), 40u);
  uint32_t len, idx, val, ack, op, port;
  uint16_t cnlen;
  std::memcpy(&len, b.data(), 4);
  std::memcpy(&port, b.data() + 12, 4);
  std::memcpy(&idx, b.data() + kCnIdx, 4);
  std::memcpy(&val, b.data() + kCnVal, 4);
  std::memcpy(&ack, b.data() + kCnAck, 4);
  std::memcpy(&cnlen, b.data() + kCnLen, 2);
  std::memcpy(&op, b.data() + 36, 4);
  EXPECT_EQ(len, 40u);
  EXPECT_EQ(port, 1234u);
  EXPECT_EQ(idx, 1u);
  EXPECT_EQ(val, 1u);
  EXPECT_EQ(ack, 77u);
  EXPECT_EQ(cnlen, 4u);
  EXPECT_EQ(op, 1u);
}

TEST(Encode, FilteredRequestIsTheLinux66ProcInput) {
  EventMask m;
  m.add(EventType::Exec);
  m.add(EventType::Exit);
  m.set_nonzero_exit_only(true);
  uint32_t bits = cn_proc::kernel_event_bits(m);
  EXPECT_EQ(bits, 0x2u | 0x20000000u);  // EXEC | NONZERO_EXIT, not EXIT
  auto b = cn_proc::encode_request(cn_proc::McastOp::Ignore, bits, 1, 0);
  ASSERT_EQ(b.size(), 44u);
  uint32_t op, type;
  uint16_t cnlen;
  std::memcpy(&cnlen, b.data() + kCnLen, 2);
  std::memcpy(&op, b.data() + 36, 4);
  std::memcpy(&type, b.data() + 40, 4);
  EXPECT_EQ(cnlen, 8u);
  EXPECT_EQ(op, 2u);
  EXPECT_EQ(type, bits);
}

TEST(Encode, AllEventsMaskMatchesTheKernelsProcEventAll) {
  EXPECT_EQ(cn_proc::kernel_all_events(), 0x1u | 0x2u | 0x4u | 0x40u | 0x80u | 0x100u | 0x200u |
                                              0x20000000u | 0x40000000u | 0x80000000u);
  EXPECT_EQ(cn_proc::kernel_event_bits(EventMask::all()),
            cn_proc::kernel_all_events() & ~0x20000000u);
}

TEST(Encode, EventRoundTripsThroughTheDecoder) {
  Event e;
  e.ts_ns = 42;
  e.cpu = 3;
  e.pid = 10;
  e.tid = 11;
  e.data = ExitData{9, 17, 1, 1, {}, {}, {}};
  auto bytes = cn_proc::encode_event(e, 5);
  auto r = cn_proc::decode({bytes.data(), bytes.size()});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->seq, 5u);
  EXPECT_EQ(r->event.pid, 10);
  EXPECT_EQ(r->event.tid, 11);
  EXPECT_EQ(std::get<ExitData>(r->event.data).raw_status, 9u);
}

}  // namespace
}  // namespace proctrail
