// What one exec costs to enrich from /proc: ProcReader::read_exec on a live process, warm (the
// same sleeper again and again) and cold (a new process each time, as at a real exec), and each
// file it reads on its own, so the total can be attributed. A failed read fails the benchmark:
// failing system calls cost less than real reads.
// Run: ./build/bench/procfs_bench
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/clock.hpp"
#include "enrich/proc_reader.hpp"

namespace proctrail {
namespace {

// A sleeping child to read, so the numbers are not about reading ourselves.
pid_t sleeper() {
  static pid_t pid = [] {
    pid_t p = fork();
    if (p == 0) {
      execl("/bin/sleep", "sleep", "1000", static_cast<char*>(nullptr));
      _exit(127);
    }
    usleep(100'000);
    return p;
  }();
  return pid;
}

void BM_ReadExec(benchmark::State& state) {
  auto reader = procfs::ProcReader::open("/proc", procfs::ReadOptions{});
  if (!reader) {
    state.SkipWithError(reader.error().message.c_str());
    return;
  }
  pid_t pid = sleeper();
  verify::ExpectedProcess expected;
  expected.event_boottime_ns = ClockSync().to_boottime_ns(monotonic_now_ns());
  for (auto _ : state) {
    ExecDetails d;
    reader->read_exec(pid, expected, d);
    if (d.argv_source != ArgvSource::Procfs) {
      state.SkipWithError("read failed");
      break;
    }
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ReadExec);

// A new process each round, read once: /proc's entries for it are not cached yet, as for the
// exec of a short-lived process. Only the read is timed (wall clock, manual timing).
void BM_ReadExecNewProcess(benchmark::State& state) {
  auto reader = procfs::ProcReader::open("/proc", procfs::ReadOptions{});
  if (!reader) {
    state.SkipWithError(reader.error().message.c_str());
    return;
  }
  for (auto _ : state) {
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0) {
      state.SkipWithError("pipe");
      break;
    }
    pid_t pid = fork();
    if (pid == 0) {
      // The parent's read returns once the exec has closed this end (close-on-exec).
      execl("/bin/sleep", "sleep", "1000", static_cast<char*>(nullptr));
      _exit(127);
    }
    close(ready[1]);
    char c;
    (void)!read(ready[0], &c, 1);
    close(ready[0]);
    verify::ExpectedProcess expected;
    expected.event_boottime_ns = ClockSync().to_boottime_ns(monotonic_now_ns());
    ExecDetails d;
    const uint64_t t0 = monotonic_now_ns();
    reader->read_exec(pid, expected, d);
    state.SetIterationTime(static_cast<double>(monotonic_now_ns() - t0) / 1e9);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    if (d.argv_source != ArgvSource::Procfs) {
      state.SkipWithError(("read failed: " + d.note).c_str());
      break;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ReadExecNewProcess)->Iterations(300)->UseManualTime();

void BM_ReadOneFile(benchmark::State& state, const char* name) {
  std::string dir = "/proc/" + std::to_string(sleeper());
  int d = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  char buf[8192];
  if (d < 0) state.SkipWithError(("open " + dir).c_str());
  for (auto _ : state) {
    int fd = openat(d, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, buf, sizeof buf) <= 0) {
      state.SkipWithError((std::string("read ") + name).c_str());
      if (fd >= 0) close(fd);
      break;
    }
    close(fd);
  }
  if (d >= 0) close(d);
}
BENCHMARK_CAPTURE(BM_ReadOneFile, cmdline, "cmdline");
BENCHMARK_CAPTURE(BM_ReadOneFile, stat, "stat");
BENCHMARK_CAPTURE(BM_ReadOneFile, status, "status");
BENCHMARK_CAPTURE(BM_ReadOneFile, cgroup, "cgroup");

void BM_ReadLink(benchmark::State& state, const char* name) {
  std::string dir = "/proc/" + std::to_string(sleeper());
  int d = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  char buf[4096];
  if (d < 0) state.SkipWithError(("open " + dir).c_str());
  for (auto _ : state) {
    if (readlinkat(d, name, buf, sizeof buf) <= 0) {
      state.SkipWithError((std::string("readlink ") + name).c_str());
      break;
    }
  }
  if (d >= 0) close(d);
}
BENCHMARK_CAPTURE(BM_ReadLink, exe, "exe");
BENCHMARK_CAPTURE(BM_ReadLink, cwd, "cwd");

void BM_OpenPidDir(benchmark::State& state) {
  std::string dir = "/proc/" + std::to_string(sleeper());
  for (auto _ : state) {
    int d = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0) {
      state.SkipWithError(("open " + dir).c_str());
      break;
    }
    close(d);
  }
}
BENCHMARK(BM_OpenPidDir);

}  // namespace
}  // namespace proctrail

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  kill(proctrail::sleeper(), SIGKILL);
  waitpid(proctrail::sleeper(), nullptr, 0);
  return 0;
}
