// Decoding the eBPF programs' ring buffer records, built by hand in their layout.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <cstring>

#include "source/bpf/bpf_record.hpp"
#include "enrich/cgroup_paths.hpp"
#include "proctrail_events.h"

namespace proctrail {
namespace {

std::vector<std::byte> exec_record(const std::string& args, uint32_t args_size,
                                   const std::string& filename, const std::string& exe,
                                   const std::string& cwd, uint16_t flags = 0) {
  pt_exec x{};
  x.h = {42, PT_EXEC, 1, 300, 300};
  x.ppid = 299;
  x.uid = 1000;
  x.euid = 0;
  x.gid = 100;
  x.egid = 100;
  x.argc = 3;
  x.start_boottime_ns = 777;
  x.cgroup_id = 9;
  x.args_size = args_size;
  x.args_len = static_cast<uint32_t>(args.size());
  x.filename_len = static_cast<uint16_t>(filename.size());
  x.exe_len = static_cast<uint16_t>(exe.size());
  x.cwd_len = static_cast<uint16_t>(cwd.size());
  x.flags = flags;
  std::memcpy(x.comm, "sudo", 5);
  std::vector<std::byte> r(sizeof x);
  std::memcpy(r.data(), &x, sizeof x);
  for (const std::string* s : {&args, &filename, &exe, &cwd}) {
    for (char c : *s) r.push_back(static_cast<std::byte>(c));
  }
  return r;
}

const std::string kArgs("sudo\0-u\0\0", 9);

TEST(BpfRecord, ExecWithEverything) {
  auto r = exec_record(kArgs, 9, std::string("/usr/bin/sudo\0", 14),
                       std::string("/usr/bin/sudo\0", 14), std::string("/home/a\0", 8));
  auto e = bpf::decode_record({r.data(), r.size()});
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->pid, 300);
  EXPECT_EQ(e->ts_ns, 42u);
  const ExecDetails& d = *std::get<ExecData>(e->data).details;
  EXPECT_EQ(d.argv_source, ArgvSource::Kernel);
  EXPECT_EQ(d.argv, (std::vector<std::string>{"sudo", "-u", ""}));
  EXPECT_FALSE(d.argv_truncated);
  EXPECT_EQ(d.argv_bytes, 9u);
  EXPECT_EQ(d.argc, 3u);
  EXPECT_EQ(d.filename, "/usr/bin/sudo");
  EXPECT_EQ(d.exe, "/usr/bin/sudo");
  EXPECT_EQ(d.cwd, "/home/a");
  EXPECT_EQ(d.creds, (Credentials{1000, 0, 100, 100}));
  EXPECT_EQ(d.comm, "sudo");
  EXPECT_EQ(d.ppid, 299);
  EXPECT_EQ(d.start_boottime_ns, 777u);
  EXPECT_EQ(d.cgroup_id, 9u);
  EXPECT_EQ(d.source(Field::Cwd), FieldSource::Kernel);
  EXPECT_TRUE(d.note.empty());
}

TEST(BpfRecord, TruncatedArgvKeepsItsRealSize) {
  auto r = exec_record(std::string("aaaa", 4), 100000, "", "", "");
  auto e = bpf::decode_record({r.data(), r.size()});
  ASSERT_TRUE(e.ok());
  const ExecDetails& d = *std::get<ExecData>(e->data).details;
  EXPECT_TRUE(d.argv_truncated);
  EXPECT_EQ(d.argv_bytes, 100000u);
  EXPECT_EQ(d.argv, std::vector<std::string>{"aaaa"});
  EXPECT_FALSE(d.exe.has_value());
}

TEST(BpfRecord, FlagsBecomeNotesAndMarks) {
  auto r = exec_record(kArgs, 9, "", std::string("/tmp/gone\0", 10), "",
                       PT_EXE_DELETED | PT_CWD_TRUNCATED);
  auto e = bpf::decode_record({r.data(), r.size()});
  ASSERT_TRUE(e.ok());
  const ExecDetails& d = *std::get<ExecData>(e->data).details;
  EXPECT_EQ(d.exe, "/tmp/gone (deleted)");
  EXPECT_FALSE(d.cwd.has_value());
  EXPECT_NE(d.note.find("left out"), std::string::npos);

  auto f = exec_record("", 9, "", "", "", PT_ARGS_FAULT);
  auto g = bpf::decode_record({f.data(), f.size()});
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(std::get<ExecData>(g->data).details->argv_source, ArgvSource::Unavailable);
}

TEST(BpfRecord, InconsistentLengthsAreErrorsNotOverreads) {
  auto r = exec_record(kArgs, 9, std::string("/bin/x\0", 7), "", "");
  for (size_t cut = 0; cut < r.size(); ++cut) {
    std::vector<std::byte> part(r.begin(), r.begin() + static_cast<long>(cut));
    EXPECT_FALSE(bpf::decode_record({part.data(), part.size()}).ok()) << cut;
  }
  auto more = exec_record(kArgs, 4, "", "", "");  // more argument bytes than the area has
  EXPECT_FALSE(bpf::decode_record({more.data(), more.size()}).ok());
  pt_header h{1, 99, 0, 1, 1};
  std::vector<std::byte> odd(sizeof h);
  std::memcpy(odd.data(), &h, sizeof h);
  EXPECT_FALSE(bpf::decode_record({odd.data(), odd.size()}).ok());
}

TEST(BpfRecord, ForkAndExit) {
  pt_fork f{{5, PT_FORK, 0, 10, 10}, 10, 10, 11, 11};
  std::vector<std::byte> rf(sizeof f);
  std::memcpy(rf.data(), &f, sizeof f);
  auto e = bpf::decode_record({rf.data(), rf.size()});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(std::get<ForkData>(e->data).child_pid, 11);
  pt_exit x{{6, PT_EXIT, 0, 11, 11}, 3 << 8, 17, 10, 10, 0, 0};
  std::vector<std::byte> rx(sizeof x);
  std::memcpy(rx.data(), &x, sizeof x);
  e = bpf::decode_record({rx.data(), rx.size()});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(std::get<ExitData>(e->data).raw_status, 3u << 8);
  EXPECT_EQ(std::get<ExitData>(e->data).exit_signal, 17);
  EXPECT_EQ(std::get<ExitData>(e->data).process_ended, false) << "the kernel said: not the last";
}

// The kernel says which exit ended the process, and with what status for its parent.
TEST(BpfRecord, ExitThatEndsTheProcessCarriesItsStatus) {
  pt_exit x{{6, PT_EXIT, 0, 11, 12}, 0, -1, 10, 10, 7 << 8, PT_EXIT_PROCESS_ENDED};
  std::vector<std::byte> rx(sizeof x);
  std::memcpy(rx.data(), &x, sizeof x);
  auto e = bpf::decode_record({rx.data(), rx.size()});
  ASSERT_TRUE(e.ok());
  const auto& d = std::get<ExitData>(e->data);
  EXPECT_EQ(d.process_ended, true);
  EXPECT_EQ(d.process_status, 7u << 8);
  EXPECT_TRUE(d.ends_process(*e));
  EXPECT_EQ(d.status(*e), 7u << 8);
}

// The fuzzer's seeds (tests/fuzz/corpus/bpf, from make_seeds.py) follow the record layout:
// each one decodes, so the fuzzer starts from valid records, not from noise.
TEST(BpfRecord, FuzzSeedsDecode) {
  int seeds = 0;
  for (const auto& f : std::filesystem::directory_iterator(PROCTRAIL_FUZZ_CORPUS "/bpf")) {
    std::ifstream in(f.path(), std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
    auto e = bpf::decode_record({reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()});
    EXPECT_TRUE(e.ok()) << f.path() << ": " << (e.ok() ? "" : e.error().message);
    ++seeds;
  }
  EXPECT_GE(seeds, 5);
}

// A container that starts just after another is found at its first exec too: an id never
// looked for is worth a scan whenever it comes (the rate limit is for ids already missed).
TEST(CgroupPaths, TwoNewCgroupsInQuickSuccessionAreBothFound) {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("pt-cgroups-" + std::to_string(getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "system.slice");
  CgroupPaths paths(root.string());
  auto id_of = [](const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(stat(p.c_str(), &st), 0);
    return static_cast<uint64_t>(st.st_ino);
  };
  fs::create_directories(root / "system.slice" / "a.scope");
  EXPECT_EQ(paths.lookup(id_of(root / "system.slice" / "a.scope")), "/system.slice/a.scope");
  fs::create_directories(root / "system.slice" / "b.scope");
  EXPECT_EQ(paths.lookup(id_of(root / "system.slice" / "b.scope")), "/system.slice/b.scope");
  fs::remove_all(root);
}

TEST(CgroupPaths, MountPointFromMountinfoWithEscapes) {
  const char* mi =
      "25 1 0:22 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
      "36 25 0:30 / /sys/fs/cgroup/my\\040tree rw,nosuid shared:9 - cgroup2 cgroup2 rw\n";
  EXPECT_EQ(cgroup2_mount_point(mi), "/sys/fs/cgroup/my tree");
  EXPECT_EQ(cgroup2_mount_point("25 1 0:22 / /x rw - ext4 /dev/sda rw\n"), "");
}

}  // namespace
}  // namespace proctrail

namespace proctrail {
namespace {

std::vector<std::byte> failed_record(const std::string& args, const std::string& filename,
                                     uint16_t flags = 0, size_t cut = 0) {
  pt_exec_failed f{};
  f.h.ts_ns = 7;
  f.h.type = PT_EXEC_FAILED;
  f.h.pid = f.h.tid = 400;
  f.error = 2;
  f.ppid = 1;
  f.uid = f.euid = 1000;
  f.args_len = static_cast<uint32_t>(args.size());
  f.filename_len = static_cast<uint16_t>(filename.size());
  f.flags = flags;
  std::memcpy(f.comm, "sh", 2);
  std::vector<std::byte> r(sizeof f + args.size() + filename.size());
  std::memcpy(r.data(), &f, sizeof f);
  std::memcpy(r.data() + sizeof f, args.data(), args.size());
  std::memcpy(r.data() + sizeof f + args.size(), filename.data(), filename.size());
  r.erase(r.end() - static_cast<std::ptrdiff_t>(std::min(cut, r.size())), r.end());
  return r;
}

TEST(BpfRecord, FailedExec) {
  auto r = failed_record(std::string("/nope\0-x\0", 9), std::string("/nope\0", 6));
  auto e = bpf::decode_record({r.data(), r.size()});
  ASSERT_TRUE(e.ok()) << e.error().message;
  const auto& f = std::get<ExecFailedData>(e->data);
  EXPECT_EQ(e->pid, 400);
  EXPECT_EQ(f.error, 2);
  EXPECT_EQ(f.filename, "/nope");
  EXPECT_EQ(f.argv, (std::vector<std::string>{"/nope", "-x"}));
  EXPECT_FALSE(f.argv_truncated);
  EXPECT_EQ(f.comm, "sh");
  ASSERT_TRUE(f.creds);
  EXPECT_EQ(f.creds->uid, 1000u);
  auto t = failed_record("a", "b", PT_FAILED_ARGS_TRUNCATED);
  EXPECT_TRUE(
      std::get<ExecFailedData>(bpf::decode_record({t.data(), t.size()})->data).argv_truncated);
}

TEST(BpfRecord, FailedExecShorterThanItsLengthsIsAnError) {
  auto r = failed_record(std::string("/nope\0", 6), std::string("/nope\0", 6), 0, 3);
  auto e = bpf::decode_record({r.data(), r.size()});
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("shorter than the lengths"), std::string::npos);
}

}  // namespace
}  // namespace proctrail
