#include <gtest/gtest.h>

#include "source/netlink/seq_gaps.hpp"

namespace proctrail {
namespace {

using Gaps = std::vector<SeqGapFinder::Gap>;

uint64_t total(const Gaps& g) {
  uint64_t n = 0;
  for (const auto& x : g) n += x.count;
  return n;
}

TEST(SeqGaps, ContiguousNumbersAreNoLoss) {
  SeqGapFinder f;
  for (uint32_t s = 100; s < 200; ++s) f.add(0, s, s);
  Gaps g;
  f.settle(1000, g);
  EXPECT_TRUE(g.empty());
}

TEST(SeqGaps, MissingNumbersAreCountedWithTheirPlace) {
  SeqGapFinder f;
  f.add(1, 10, 1);
  f.add(1, 14, 5);  // 11, 12, 13 missing
  f.add(1, 15, 6);
  Gaps g;
  f.settle(100, g);
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].cpu, 1);
  EXPECT_EQ(g[0].count, 3u);
  EXPECT_EQ(g[0].ts_ns, 5u);
}

TEST(SeqGaps, TwoSocketsSplittingACpusMessagesMakeNoFalseGaps) {
  SeqGapFinder f;
  // Socket A holds the even numbers and was read up to time 40; socket B the odd ones, read
  // only up to time 20. The watermark is the older of the two.
  for (uint32_t s = 0; s <= 40; s += 2) f.add(0, s, s);
  for (uint32_t s = 1; s <= 20; s += 2) f.add(0, s, s);
  Gaps g;
  f.settle(20, g);
  EXPECT_TRUE(g.empty()) << total(g);
  for (uint32_t s = 21; s < 50; s += 2) f.add(0, s, s);
  for (uint32_t s = 42; s < 50; s += 2) f.add(0, s, s);
  f.settle(1000, g);
  EXPECT_TRUE(g.empty()) << total(g);
}

TEST(SeqGaps, NothingIsSettledAboveTheWatermark) {
  SeqGapFinder f;
  f.add(0, 1, 10);
  f.add(0, 3, 30);
  Gaps g;
  f.settle(20, g);
  EXPECT_TRUE(g.empty());
  f.add(0, 2, 25);  // arrives late from another socket, before the watermark passed it
  f.settle(40, g);
  EXPECT_TRUE(g.empty());
}

TEST(SeqGaps, WrapAroundIsOneStep) {
  SeqGapFinder f;
  f.add(2, 0xfffffffeu, 1);
  f.add(2, 0xffffffffu, 2);
  f.add(2, 0u, 3);
  f.add(2, 2u, 4);  // 1 missing
  Gaps g;
  f.settle(10, g);
  EXPECT_EQ(total(g), 1u);
}

TEST(SeqGaps, LateMessageAcrossTheWrapLandsBeforeIt) {
  SeqGapFinder f;
  f.add(0, 1u, 3);
  f.add(0, 0xffffffffu, 1);  // older, seen second
  f.add(0, 0u, 2);
  Gaps g;
  f.settle(10, g);
  EXPECT_TRUE(g.empty());
}

TEST(SeqGaps, DuplicatesAreNotGaps) {
  SeqGapFinder f;
  f.add(0, 5, 1);
  f.add(0, 6, 2);
  f.add(0, 6, 2);
  f.add(0, 7, 3);
  Gaps g;
  f.settle(10, g);
  EXPECT_TRUE(g.empty());
}

TEST(SeqGaps, CpusAreIndependent) {
  SeqGapFinder f;
  f.add(0, 10, 1);
  f.add(1, 500, 1);
  f.add(0, 11, 2);
  f.add(1, 502, 2);
  Gaps g;
  f.settle(10, g);
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].cpu, 1);
}

TEST(SeqGaps, OutOfRangeCpusAreNotTracked) {
  SeqGapFinder f;
  f.add(-1, 5, 1);
  f.add(-1, 50, 2);
  f.add(SeqGapFinder::kMaxCpus, 5, 1);
  Gaps g;
  f.settle(10, g);
  EXPECT_TRUE(g.empty());
  EXPECT_EQ(f.untracked(), 3u);
}

}  // namespace
}  // namespace proctrail
