#include <gtest/gtest.h>
#include "proctrail/cn_proc_wire.hpp"
TEST(Decode, Placeholder) { EXPECT_TRUE(true); }
