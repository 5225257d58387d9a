// Decode + format throughput: events per second on one core, into a memory buffer.
// Run: ./build/bench/decode_format_bench
#include <benchmark/benchmark.h>

#include <array>
#include <cstdio>
#include <cstring>

#include "source/netlink/cn_proc.hpp"
#include "proctrail/format.hpp"

namespace proctrail {
namespace {

// A mix from an exec storm: fork, exec and exit per process. DecodeAndFormat attaches to the
// execs and exits what enrichment gives them.
std::vector<std::vector<std::byte>> storm_messages() {
  std::vector<std::vector<std::byte>> v;
  uint32_t seq = 0;
  for (int i = 0; i < 256; ++i) {
    int32_t pid = 20000 + i;
    Event f;
    f.ts_ns = 1'000'000'000ull + i * 3000ull;
    f.cpu = i % 2;
    f.pid = f.tid = 1000;
    f.data = ForkData{1000, 1000, pid, pid};
    v.push_back(cn_proc::encode_event(f, seq++));
    Event x;
    x.ts_ns = f.ts_ns + 1000;
    x.cpu = f.cpu;
    x.pid = x.tid = pid;
    x.data = ExecData{};
    v.push_back(cn_proc::encode_event(x, seq++));
    Event e = x;
    e.ts_ns += 1000;
    e.data = ExitData{static_cast<uint32_t>(i % 3) << 8, 17, 1000, 1000, {}, {}, {}};
    v.push_back(cn_proc::encode_event(e, seq++));
  }
  return v;
}

// The anchor: what the proc connector sample program does per message, into a buffer instead
// of stdout: read the fields at their offsets without any check and snprintf its line.
void BM_SeedSampleAnchor(benchmark::State& state) {
  auto msgs = storm_messages();
  char line[128];
  size_t i = 0;
  for (auto _ : state) {
    const auto& m = msgs[i++ % msgs.size()];
    auto at = [&m](size_t off) {
      int32_t v;
      std::memcpy(&v, m.data() + off, sizeof v);
      return v;
    };
    int n = 0;
    switch (at(36)) {  // proc_event.what; its payload starts at 52
      case 1:
        n = std::snprintf(line, sizeof line, "fork: parent tid=%d pid=%d -> child tid=%d pid=%d\n",
                          at(52), at(56), at(60), at(64));
        break;
      case 2:
        n = std::snprintf(line, sizeof line, "exec: tid=%d pid=%d\n", at(52), at(56));
        break;
      default:
        n = std::snprintf(line, sizeof line, "exit: tid=%d pid=%d exit_code=%d\n", at(52), at(56),
                          at(60));
        break;
    }
    benchmark::DoNotOptimize(n);
    benchmark::DoNotOptimize(line);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_SeedSampleAnchor);

void BM_Decode(benchmark::State& state) {
  auto msgs = storm_messages();
  size_t i = 0;
  for (auto _ : state) {
    const auto& m = msgs[i++ % msgs.size()];
    auto r = cn_proc::decode({m.data(), m.size()});
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_Decode);

// What the process table and the exec readers attach before formatting: execs with the fields
// a real one has (argv of several words, exe, cwd, credentials, cgroup, some in a container),
// and exits with their command and lifetime. Formatting them is the real cost, not the
// trivial path of an exec without details.
struct Enrichment {
  std::vector<std::shared_ptr<ExecDetails>> execs;
  std::vector<std::shared_ptr<const ExitDetails>> exits;
};

const Enrichment& enrichment() {
  static const Enrichment e = [] {
    Enrichment en;
    const std::vector<std::vector<std::string>> argvs = {
        {"/usr/bin/gcc", "-O2", "-c", "src/foo.c", "-o", "build/foo.o"},
        {"/bin/sh", "-c", "make -j4 all"},
        {"git", "status", "--porcelain"},
        {"/usr/lib/systemd/systemd-journald"},
        {"python3", "-m", "pytest", "-q", "tests/test_api.py", "-k", "not slow"},
        {"ls", "-la", "/var/log"},
        {"curl", "-fsS", "https://example.invalid/health"},
        {"/usr/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", "0123456789ab"},
    };
    for (size_t i = 0; i < argvs.size(); ++i) {
      auto d = std::make_shared<ExecDetails>();
      d->argv_source = ArgvSource::Procfs;
      d->argv = argvs[i];
      d->argv_bytes = 0;
      for (const auto& a : d->argv) *d->argv_bytes += a.size() + 1;
      const std::string& first = argvs[i][0];
      d->exe = "/usr/bin/" + first.substr(first.rfind('/') + 1);
      d->cwd = "/home/alice/project";
      d->ppid = 4200;
      d->creds = Credentials{1000, 1000, 1000, 1000};
      d->user = "alice";
      d->comm = first.substr(first.rfind('/') + 1, 15);
      d->start_boottime_ns = 12'340'000'000;
      d->cgroup = i % 4 == 3 ? "/system.slice/docker-" + std::string(64, 'a') + ".scope"
                             : "/user.slice/user-1000.slice/session-3.scope";
      if (i % 4 == 3) d->container = Container{"docker", std::string(64, 'a')};
      for (Field fl : {Field::Exe, Field::Cwd, Field::Creds, Field::Comm, Field::Ppid,
                       Field::StartTime, Field::Cgroup}) {
        d->set_source(fl, FieldSource::Procfs);
      }
      en.execs.push_back(d);
      auto x = std::make_shared<ExitDetails>();
      x->comm = d->comm;
      x->image = d;
      x->duration_ns = 1'234'567;
      en.exits.push_back(x);
    }
    return en;
  }();
  return e;
}

void DecodeAndFormat(benchmark::State& state, Formatter& f) {
  auto msgs = storm_messages();
  const Enrichment& enriched = enrichment();
  std::string out;
  out.reserve(1 << 20);
  size_t i = 0;
  for (auto _ : state) {
    const auto& m = msgs[i++ % msgs.size()];
    auto r = cn_proc::decode({m.data(), m.size()});
    r->event.wall_ns = 1'700'000'000'000'000'000 + static_cast<int64_t>(r->event.ts_ns);
    if (auto* x = std::get_if<ExecData>(&r->event.data)) {
      x->details = enriched.execs[i % enriched.execs.size()];
    } else if (auto* exit = std::get_if<ExitData>(&r->event.data)) {
      exit->details = enriched.exits[i % enriched.exits.size()];
    }
    f.format(r->event, out);
    if (out.size() > (1 << 20) - 1024) out.clear();  // a writer would flush here
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_DecodeFormatJson(benchmark::State& state) {
  auto f = make_json_formatter();
  DecodeAndFormat(state, *f);
}
BENCHMARK(BM_DecodeFormatJson);

void BM_DecodeFormatText(benchmark::State& state) {
  auto f = make_text_formatter(TextOptions{true});
  DecodeAndFormat(state, *f);
}
BENCHMARK(BM_DecodeFormatText);

void BM_DecodeFormatSeed(benchmark::State& state) {
  auto f = make_seed_formatter();
  DecodeAndFormat(state, *f);
}
BENCHMARK(BM_DecodeFormatSeed);

// An enriched exec as the netlink backend emits it, formatted as JSON.
void BM_FormatEnrichedExecJson(benchmark::State& state) {
  auto f = make_json_formatter();
  Event e;
  e.ts_ns = 1;
  e.wall_ns = 1'700'000'000'000'000'000;
  e.pid = e.tid = 4242;
  auto d = std::make_shared<ExecDetails>();
  d->argv_source = ArgvSource::Procfs;
  d->argv = {"/usr/bin/gcc", "-O2", "-c", "src/foo.c", "-o", "build/foo.o"};
  d->exe = "/usr/bin/x86_64-linux-gnu-gcc-12";
  d->cwd = "/home/alice/project";
  d->ppid = 4200;
  d->creds = Credentials{1000, 1000, 1000, 1000};
  d->user = "alice";
  d->comm = "gcc";
  d->cgroup = "/user.slice/user-1000.slice/session-3.scope";
  for (Field fl : {Field::Exe, Field::Cwd, Field::Creds, Field::Comm, Field::Ppid, Field::Cgroup}) {
    d->set_source(fl, FieldSource::Procfs);
  }
  e.data = ExecData{d};
  std::string out;
  for (auto _ : state) {
    out.clear();
    f->format(e, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_FormatEnrichedExecJson);

}  // namespace
}  // namespace proctrail

BENCHMARK_MAIN();
