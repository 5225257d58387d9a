#include <gtest/gtest.h>

#include "proctrail/event.hpp"
#include "proctrail/filter.hpp"

namespace proctrail {
namespace {

Event exit_event(uint32_t raw) {
  Event e;
  e.data = ExitData{raw, 17, 1, 1, {}, {}, {}};
  return e;
}

TEST(EventMask, ParsesNamesAndAll) {
  auto m = EventMask::parse("exec,exit");
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->has(EventType::Exec));
  EXPECT_TRUE(m->has(EventType::Exit));
  EXPECT_FALSE(m->has(EventType::Fork));
  EXPECT_FALSE(m->covers_all_kernel_events());
  auto all = EventMask::parse("all");
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->covers_all_kernel_events());
  EXPECT_EQ(*all, EventMask::all());
}

TEST(EventMask, RejectsUnknownAndEmptyNames) {
  auto bogus = EventMask::parse("exec,bogus");
  ASSERT_FALSE(bogus);
  EXPECT_NE(bogus.error().message.find("unknown event 'bogus'"), std::string::npos);
  auto empty = EventMask::parse("exec,,exit");
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("empty event name"), std::string::npos);
  EXPECT_FALSE(EventMask::parse(""));
}

TEST(EventMask, NonzeroExitNarrowsExitsUnlessExitIsAlsoAsked) {
  auto m = EventMask::parse("nonzero-exit");
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->nonzero_exit_only());
  EXPECT_FALSE(m->accepts(exit_event(0)));
  EXPECT_TRUE(m->accepts(exit_event(1 << 8)));
  EXPECT_TRUE(m->accepts(exit_event(9)));  // killed by SIGKILL
  auto both = EventMask::parse("nonzero-exit,exit");
  ASSERT_TRUE(both);
  EXPECT_FALSE(both->nonzero_exit_only());
  EXPECT_TRUE(both->accepts(exit_event(0)));
}

TEST(EventMask, UnionWithAllExitsWidensNonzeroExit) {
  auto m = *EventMask::parse("nonzero-exit");
  EventMask table;
  table.add(EventType::Exit);
  EXPECT_FALSE((m | table).nonzero_exit_only());
  EventMask fork_only;
  fork_only.add(EventType::Fork);
  EXPECT_TRUE((m | fork_only).nonzero_exit_only());
}

TEST(EventMask, StreamRecordsAlwaysPass) {
  auto m = *EventMask::parse("fork");
  Event lost;
  lost.data = LostData{3, "x"};
  Event exec;
  exec.data = ExecData{};
  EXPECT_TRUE(m.accepts(lost));
  EXPECT_FALSE(m.accepts(exec));
}

TEST(ExitStatus, DecodesTheWaitLayout) {
  auto s = decode_exit_status(3 << 8);
  EXPECT_TRUE(s.exited);
  EXPECT_EQ(s.code, 3);
  s = decode_exit_status(15);
  EXPECT_FALSE(s.exited);
  EXPECT_EQ(s.signal, 15);
  EXPECT_FALSE(s.core_dumped);
  s = decode_exit_status(0x80 | 11);
  EXPECT_EQ(s.signal, 11);
  EXPECT_TRUE(s.core_dumped);
  EXPECT_EQ(signal_name(15), "SIGTERM");
  EXPECT_EQ(signal_name(9), "SIGKILL");
}

}  // namespace
}  // namespace proctrail
