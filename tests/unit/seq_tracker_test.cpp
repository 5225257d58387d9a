#include <gtest/gtest.h>

#include "proctrail/seq_tracker.hpp"

namespace proctrail {
namespace {

TEST(SeqTracker, FirstMessageSetsTheBaseline) {
  SeqTracker t;
  EXPECT_EQ(t.observe(0, 1000), 0u);
  EXPECT_EQ(t.observe(0, 1001), 0u);
}

TEST(SeqTracker, GapCountsMissingMessages) {
  SeqTracker t;
  t.observe(0, 10);
  EXPECT_EQ(t.observe(0, 14), 3u);  // 11, 12, 13 missing
  EXPECT_EQ(t.observe(0, 15), 0u);
}

TEST(SeqTracker, CpusAreIndependent) {
  SeqTracker t;
  t.observe(0, 10);
  t.observe(1, 500);
  EXPECT_EQ(t.observe(1, 501), 0u);
  EXPECT_EQ(t.observe(0, 11), 0u);
  EXPECT_EQ(t.observe(1, 503), 1u);
}

TEST(SeqTracker, WrapAroundIsOneStep) {
  SeqTracker t;
  t.observe(2, 0xfffffffeu);
  EXPECT_EQ(t.observe(2, 0xffffffffu), 0u);
  EXPECT_EQ(t.observe(2, 0u), 0u);
  t.observe(3, 0xfffffffeu);
  EXPECT_EQ(t.observe(3, 1u), 2u);  // 0xffffffff and 0 missing
}

TEST(SeqTracker, DuplicatesAndLateMessagesAreNotGapsAndDoNotRewind) {
  SeqTracker t;
  t.observe(0, 100);
  t.observe(0, 101);
  EXPECT_EQ(t.observe(0, 101), 0u);
  EXPECT_EQ(t.observe(0, 50), 0u);
  EXPECT_EQ(t.observe(0, 102), 0u);  // position stayed at 101
}

TEST(SeqTracker, OutOfRangeCpusAreNotTracked) {
  SeqTracker t;
  EXPECT_EQ(t.observe(-1, 5), 0u);
  EXPECT_EQ(t.observe(-1, 50), 0u);
  EXPECT_EQ(t.observe(SeqTracker::kMaxCpus, 5), 0u);
  EXPECT_EQ(t.observe(SeqTracker::kMaxCpus, 99), 0u);
  EXPECT_EQ(t.untracked(), 4u);
}

TEST(SeqTracker, ResetForgetsPositions) {
  SeqTracker t;
  t.observe(0, 10);
  t.reset();
  EXPECT_EQ(t.observe(0, 20), 0u);
}

}  // namespace
}  // namespace proctrail
