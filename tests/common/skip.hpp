// Skips that count. A test that cannot run here says which known reason stops it: a key from
// tests/skips.list, where each key names the environments in which it is expected. The test
// report (scripts/test-report.py) totals the skips and fails the run on one whose key is not
// explained in that environment, so a skip never passes for a pass.
//
//   if (!feature_here()) PT_SKIP("no-proc-input") << "this kernel ...";
#pragma once

#include <gtest/gtest.h>

#define PT_SKIP(key) GTEST_SKIP() << "[skip:" key "] "
