// The record's own cost, with no capture around it: an exec storm's events (a fork, an exec and
// an exit per process, with the fields the bpf backend gives them) written by --record's sink,
// beside the anchor, the same events as JSON lines to a file. Both write to real files on the
// disk the benchmark runs on, in batches of 64 as the output thread hands them over.
//
//   ./build/bench/record_bench --benchmark_repetitions=5
//   valgrind --tool=callgrind ./build/bench/record_bench --benchmark_filter=Record
//
// What the record adds per event is Record's time minus JsonToFile's; exec_storm.py measures
// the same with capture around both (bench/README.md).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "cli/record.hpp"
#include "proctrail/format.hpp"

namespace proctrail {
namespace {

constexpr char kHost[] = "3d1219c7c4c5404a-3ff828ec0ac44635";

// One process of the storm, as a live run writes it (the fields of a real capture).
void storm_process(std::vector<std::string>& lines, int pid, uint64_t t) {
  const int parent = 1000;
  const std::string id = fmt::format("{}-{}-{}", kHost, pid, t / 10'000'000);
  const std::string parent_id = fmt::format("{}-{}-{}-1", kHost, parent, 42);
  lines.push_back(fmt::format(
      R"({{"type":"fork","time":"2026-12-07T10:30:33.{:09}Z","ts_ns":{},"cpu":0,"pid":{},"tid":{},)"
      R"("exec_id":"{}-0","parent_exec_id":"{}","parent_pid":{},"parent_tid":{},"thread":false}})",
      t % 1'000'000'000, t, pid, pid, id, parent_id, parent, parent));
  t += 400'000;
  lines.push_back(fmt::format(
      R"({{"type":"exec","time":"2026-12-07T10:30:33.{:09}Z","ts_ns":{},"cpu":1,"pid":{},"tid":{},)"
      R"("exec_id":"{}-1","parent_exec_id":"{}","argv_source":"kernel","argv":["/bin/true","{}"],)"
      R"("argv_truncated":false,"argv_bytes":16,"argc":2,"filename":"/bin/true",)"
      R"("exe":"/usr/bin/true","cwd":"/tmp","parent_pid":{},"uid":1000,"euid":1000,"gid":1000,)"
      R"("egid":1000,"user":"alice","comm":"true","start_time":"2026-12-07T10:30:33.{:09}Z",)"
      R"("start_boottime_ns":{},"cgroup":"/user.slice","cgroup_id":1,"sources":{{"exe":"kernel",)"
      R"("cwd":"kernel","creds":"kernel","comm":"kernel","ppid":"kernel","start_time":"kernel",)"
      R"("cgroup":"kernel"}}}})",
      t % 1'000'000'000, t, pid, pid, id, parent_id, pid, parent, (t - 400'000) % 1'000'000'000,
      t - 400'000));
  t += 600'000;
  lines.push_back(fmt::format(
      R"({{"type":"exit","time":"2026-12-07T10:30:33.{:09}Z","ts_ns":{},"cpu":1,"pid":{},"tid":{},)"
      R"("exec_id":"{}-1","parent_exec_id":"{}","exit_code":{},"core_dumped":false,)"
      R"("raw_exit_code":{},"parent_pid":{},"parent_tid":{},"thread":false,"comm":"true",)"
      R"("duration_ns":1000000,"duration_approximate":false}})",
      t % 1'000'000'000, t, pid, pid, id, parent_id, pid % 7 == 0 ? 1 : 0, pid % 7 == 0 ? 256 : 0,
      parent, parent));
}

// 3,000 processes' events, in the order a storm interleaves them: each fork before the
// previous process's exit, as a shell's loop gives them.
std::vector<Event> storm_events() {
  std::vector<std::string> lines;
  for (int i = 0; i < 3000; ++i) {
    storm_process(lines, 20'000 + i, 38'536'000'000'000ull + i * 1'100'000ull);
  }
  JsonDecoder decoder;
  std::vector<Event> events;
  for (const std::string& l : lines) {
    auto e = decoder.decode(l);
    if (!e) {
      std::fprintf(stderr, "record_bench: %s\n", e.error().message.c_str());
      std::abort();
    }
    e->uid = 1000;
    events.push_back(std::move(*e));
  }
  return events;
}

std::string bench_file(const char* name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/proctrail-record-bench-" +
         std::to_string(::getpid()) + "-" + name;
}

void remove_recording(const std::string& path) {
  for (const char* tail : {"", "-wal", "-shm", "-journal"}) ::unlink((path + tail).c_str());
}

constexpr size_t kBatch = 64;

// The anchor: JSON lines to a file, one write(2) per batch, as -o FILE does.
void BM_JsonToFile(benchmark::State& state) {
  const auto events = storm_events();
  const std::string path = bench_file("json");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    state.SkipWithError("cannot create the JSON file");
    return;
  }
  auto json = make_json_formatter(false);
  std::string out;
  size_t written = 0;
  for (auto _ : state) {
    for (size_t at = 0; at < events.size(); at += kBatch) {
      out.clear();
      for (size_t i = at; i < std::min(at + kBatch, events.size()); ++i)
        json->format(events[i], out);
      if (::write(fd, out.data(), out.size()) != static_cast<ssize_t>(out.size())) {
        state.SkipWithError("write failed");
        break;
      }
      written += out.size();
    }
  }
  ::close(fd);
  ::unlink(path.c_str());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * events.size()));
  state.counters["bytes_per_event"] =
      static_cast<double>(written) / static_cast<double>(state.iterations() * events.size());
}

// The record: the same events through --record's sink, committed as it commits them.
void BM_Record(benchmark::State& state) {
  auto events = storm_events();
  const std::string path = bench_file("db");
  remove_recording(path);
  auto sink = cli::open_record_sink(path);
  if (!sink) {
    state.SkipWithError(sink.error().message.c_str());
    return;
  }
  // Each round writes new processes (their start moves on, so their exec_ids are new), as a
  // storm does: no row of an earlier round is written again.
  for (auto _ : state) {
    state.PauseTiming();
    for (Event& e : events) {
      e.ts_ns += 10'000'000'000ull;
      e.key.start_ticks += 1'000'000;
    }
    state.ResumeTiming();
    for (size_t at = 0; at < events.size(); at += kBatch) {
      const size_t n = std::min(kBatch, events.size() - at);
      if (auto s = (*sink)->write(std::span<const Event>(events.data() + at, n)); !s) {
        state.SkipWithError(s.error().message.c_str());
        break;
      }
      (void)(*sink)->tick();
    }
  }
  (void)(*sink)->close();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * events.size()));
  remove_recording(path);
}

BENCHMARK(BM_JsonToFile)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Record)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace proctrail

BENCHMARK_MAIN();
