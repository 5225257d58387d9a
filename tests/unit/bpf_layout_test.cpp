// One layout truth for the eBPF programs and user space: every record the programs write is
// compared, field by field, between the BTF of the built BPF object (what clang laid out for
// the kernel side) and the C++ compiler's view of the same header. No number is written here.
#include <bpf/btf.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <string>

#include "proctrail_events.h"

namespace proctrail {
namespace {

struct CppView {
  size_t size;
  std::map<std::string, size_t> offsets;  // every member, by name
};

#define PT_FIELD(type, name) \
  { #name, offsetof(type, name) }

const std::map<std::string, CppView>& cpp_views() {
  static const std::map<std::string, CppView> views = {
      {"pt_header",
       {sizeof(pt_header),
        {PT_FIELD(pt_header, ts_ns), PT_FIELD(pt_header, type), PT_FIELD(pt_header, cpu),
         PT_FIELD(pt_header, pid), PT_FIELD(pt_header, tid)}}},
      {"pt_fork",
       {sizeof(pt_fork),
        {PT_FIELD(pt_fork, h), PT_FIELD(pt_fork, parent_pid), PT_FIELD(pt_fork, parent_tid),
         PT_FIELD(pt_fork, child_pid), PT_FIELD(pt_fork, child_tid),
         PT_FIELD(pt_fork, child_start_boottime_ns)}}},
      {"pt_exit",
       {sizeof(pt_exit),
        {PT_FIELD(pt_exit, h), PT_FIELD(pt_exit, exit_code), PT_FIELD(pt_exit, exit_signal),
         PT_FIELD(pt_exit, parent_pid), PT_FIELD(pt_exit, parent_tid),
         PT_FIELD(pt_exit, process_status), PT_FIELD(pt_exit, flags),
         PT_FIELD(pt_exit, start_boottime_ns)}}},
      {"pt_exec",
       {sizeof(pt_exec),
        {PT_FIELD(pt_exec, h), PT_FIELD(pt_exec, ppid), PT_FIELD(pt_exec, uid),
         PT_FIELD(pt_exec, euid), PT_FIELD(pt_exec, gid), PT_FIELD(pt_exec, egid),
         PT_FIELD(pt_exec, argc), PT_FIELD(pt_exec, start_boottime_ns),
         PT_FIELD(pt_exec, cgroup_id), PT_FIELD(pt_exec, args_size), PT_FIELD(pt_exec, args_len),
         PT_FIELD(pt_exec, filename_len), PT_FIELD(pt_exec, exe_len), PT_FIELD(pt_exec, cwd_len),
         PT_FIELD(pt_exec, flags), PT_FIELD(pt_exec, comm), PT_FIELD(pt_exec, exec_tid),
         PT_FIELD(pt_exec, exec_ordinal)}}},
      {"pt_exec_failed",
       {sizeof(pt_exec_failed),
        {PT_FIELD(pt_exec_failed, h), PT_FIELD(pt_exec_failed, error),
         PT_FIELD(pt_exec_failed, ppid), PT_FIELD(pt_exec_failed, uid),
         PT_FIELD(pt_exec_failed, euid), PT_FIELD(pt_exec_failed, gid),
         PT_FIELD(pt_exec_failed, egid), PT_FIELD(pt_exec_failed, args_len),
         PT_FIELD(pt_exec_failed, filename_len), PT_FIELD(pt_exec_failed, flags),
         PT_FIELD(pt_exec_failed, comm)}}},
  };
  return views;
}

TEST(BpfLayout, EveryRecordMatchesTheBtfOfTheBuiltObject) {
  btf* b = btf__parse_elf(PROCTRAIL_BPF_OBJECT, nullptr);
  ASSERT_NE(b, nullptr) << "no BTF in " << PROCTRAIL_BPF_OBJECT;
  for (const auto& [name, cpp] : cpp_views()) {
    SCOPED_TRACE(name);
    int id = btf__find_by_name_kind(b, name.c_str(), BTF_KIND_STRUCT);
    ASSERT_GT(id, 0) << "struct " << name << " is not in the BPF object's BTF";
    const btf_type* t = btf__type_by_id(b, static_cast<uint32_t>(id));
    EXPECT_EQ(t->size, cpp.size) << "sizeof differs";
    const btf_member* m = btf_members(t);
    size_t seen = 0;
    for (uint16_t i = 0; i < btf_vlen(t); ++i, ++m) {
      std::string field = btf__name_by_offset(b, m->name_off);
      auto it = cpp.offsets.find(field);
      if (it == cpp.offsets.end()) {
        ADD_FAILURE() << name << "." << field << " is not checked here: add it";
        continue;
      }
      ++seen;
      EXPECT_EQ(btf_member_bit_offset(t, i), it->second * 8) << name << "." << field;
    }
    EXPECT_EQ(seen, cpp.offsets.size()) << "the C++ view names members the BTF lacks";
  }
  btf__free(b);
}

}  // namespace
}  // namespace proctrail

namespace proctrail {
namespace {

// The rule the exit program applies (bpf/proctrail_events.h), case by case. The arguments:
// the live count the thread read, whether it is the main thread, whether the main thread is a
// zombie, and what the thread's swap of the main thread's mark found.
TEST(BpfExitRule, TheMainThreadEndsTheProcessUnlessItLeftFirst) {
  // The main thread, last or together with a thread still on its way out.
  EXPECT_TRUE(pt_exit_ends_process(0, 1, 0, 0));
  EXPECT_TRUE(pt_exit_ends_process(0, 1, 0, PT_MAIN_IN));
  // The main thread that found others live, and swapped its mark to out: not the end.
  EXPECT_FALSE(pt_exit_ends_process(2, 1, 0, PT_MAIN_IN));
  // ... unless a thread that read zero meanwhile left the end to it.
  EXPECT_TRUE(pt_exit_ends_process(1, 1, 0, PT_MAIN_AWAITED));
  // Other threads, while threads are live: never.
  EXPECT_FALSE(pt_exit_ends_process(1, 0, 1, PT_MAIN_OUT));
  // A thread that reads zero while the main thread is on its way out leaves the end to it: no
  // mark yet (the main thread will read zero), or a mark it swapped to "awaited".
  EXPECT_FALSE(pt_exit_ends_process(0, 0, 0, 0));
  EXPECT_FALSE(pt_exit_ends_process(0, 0, 0, PT_MAIN_IN));
  EXPECT_FALSE(pt_exit_ends_process(0, 0, 0, PT_MAIN_AWAITED));
  // A thread that outlived the main thread (pthread_exit, then exit from a worker).
  EXPECT_TRUE(pt_exit_ends_process(0, 0, 1, 0));
  EXPECT_TRUE(pt_exit_ends_process(0, 0, 0, PT_MAIN_OUT));
}

}  // namespace
}  // namespace proctrail
