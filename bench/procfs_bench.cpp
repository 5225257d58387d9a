// What one exec costs to enrich from /proc: ProcReader::read_exec on a live process, and each
// file it reads on its own, so the total can be attributed.
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

void BM_ReadOneFile(benchmark::State& state, const char* name) {
  std::string dir = "/proc/" + std::to_string(sleeper());
  int d = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  char buf[8192];
  for (auto _ : state) {
    int fd = openat(d, name, O_RDONLY | O_CLOEXEC);
    benchmark::DoNotOptimize(read(fd, buf, sizeof buf));
    close(fd);
  }
  close(d);
}
BENCHMARK_CAPTURE(BM_ReadOneFile, cmdline, "cmdline");
BENCHMARK_CAPTURE(BM_ReadOneFile, stat, "stat");
BENCHMARK_CAPTURE(BM_ReadOneFile, status, "status");
BENCHMARK_CAPTURE(BM_ReadOneFile, cgroup, "cgroup");

void BM_ReadLink(benchmark::State& state, const char* name) {
  std::string dir = "/proc/" + std::to_string(sleeper());
  int d = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  char buf[4096];
  for (auto _ : state) benchmark::DoNotOptimize(readlinkat(d, name, buf, sizeof buf));
  close(d);
}
BENCHMARK_CAPTURE(BM_ReadLink, exe, "exe");
BENCHMARK_CAPTURE(BM_ReadLink, cwd, "cwd");

void BM_OpenPidDir(benchmark::State& state) {
  std::string dir = "/proc/" + std::to_string(sleeper());
  for (auto _ : state) close(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
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
