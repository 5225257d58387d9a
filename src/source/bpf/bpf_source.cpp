#include "source/bpf/bpf_source.hpp"

#include <atomic>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <mutex>
#include <unordered_set>

#include "proctrail.skel.h"
#include "source/bpf/bpf_record.hpp"
#include "enrich/cgroup_paths.hpp"
#include "util/clock.hpp"
#include "util/namespaces.hpp"
#include "enrich/container.hpp"
#include "enrich/proc_tree.hpp"
#include "proctrail_events.h"

namespace proctrail {

namespace {

// libbpf reports through a global callback. Keep the first line that names a program (the
// verifier's or the kernel's reason) and the last line, for error messages.
std::mutex g_log_mu;
std::string g_first_prog_line, g_last_line;

int capture_libbpf(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[512];
  int n = vsnprintf(line, sizeof line, fmt, args);
  std::string text(line, n > 0 ? std::min<size_t>(static_cast<size_t>(n), sizeof line - 1) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  std::lock_guard lock(g_log_mu);
  if (g_first_prog_line.empty() && text.find("prog '") != std::string::npos) {
    g_first_prog_line = text;
  }
  g_last_line = text;
  return 0;
}

std::string libbpf_reason(int err) {
  std::lock_guard lock(g_log_mu);
  if (!g_first_prog_line.empty()) return g_first_prog_line;
  if (!g_last_line.empty()) return g_last_line;
  return strerrordesc_np(err);
}

// Whether this process may load tracing programs: CAP_SYS_ADMIN, or CAP_BPF with CAP_PERFMON.
bool may_load_bpf() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) != 0) continue;
    uint64_t caps = std::stoull(line.substr(7), nullptr, 16);
    auto has = [caps](int bit) { return (caps >> bit) & 1; };
    return has(21) || (has(39) && has(38));  // CAP_SYS_ADMIN; CAP_BPF and CAP_PERFMON
  }
  return geteuid() == 0;
}

}  // namespace

struct BpfSource::Impl {
  BpfOptions options;
  ExecHandlerFactory factory;
  ExecHandler handler;
  proctrail_bpf* skel = nullptr;
  ring_buffer* rb = nullptr;
  std::vector<std::string> notes;
  std::vector<Event> pending;
  // Counted on the receive thread, read by stats() from any thread.
  struct {
    std::atomic<uint64_t> received{0}, lost{0}, decode_errors{0};
  } stats;
  int ncpus = 0;
  std::vector<uint64_t> drops_seen;      // per CPU, as last read
  std::vector<uint64_t> untracked_seen;  // per CPU: new processes the tree map had no room for
  std::vector<uint64_t> drops_now;       // per CPU, read on each poll into this
  std::vector<uint64_t> misses_seen;     // per program: runs the kernel skipped
  std::vector<bpf_program*> programs;
  ClockSync clock;
  CgroupPaths cgroups;
  uint64_t watermark_ns = 0;
  uint64_t undecodable = 0;  // records not reported in the stream yet

  ~Impl() {
    ring_buffer__free(rb);
    proctrail_bpf__destroy(skel);
  }

  static int on_record(void* ctx, void* data, size_t size) {
    static_cast<Impl*>(ctx)->record(static_cast<const std::byte*>(data), size);
    return 0;
  }

  void record(const std::byte* data, size_t size) {
    auto e = bpf::decode_record({data, size});
    if (!e) {
      // Not a record the programs write: count it, and say in the stream that one is missing.
      stats.decode_errors.fetch_add(1, std::memory_order_relaxed);
      ++undecodable;
      return;
    }
    e->wall_ns = clock.to_wall_ns(e->ts_ns);
    if (auto* x = std::get_if<ExecData>(&e->data)) {
      // The handler races the new program to /proc: it goes first.
      if (handler) handler(*e);
      ExecDetails& d = *x->details;
      if (d.cgroup_id && d.source(Field::Cgroup) != FieldSource::Procfs) {
        if (auto path = cgroups.lookup(*d.cgroup_id)) {
          d.container = procfs::container_from_cgroup(*path);
          d.cgroup = std::move(*path);
          d.set_source(Field::Cgroup, FieldSource::Kernel);
        }
      }
    }
    stats.received.fetch_add(1, std::memory_order_relaxed);
    pending.push_back(std::move(*e));
  }

  // Losses the kernel counted since the last call, as records.
  void collect_losses(std::vector<Event>& out) {
    if (undecodable > 0) {
      stats.lost.fetch_add(undecodable, std::memory_order_relaxed);
      out.push_back(loss(undecodable, "eBPF records that could not be decoded", -1));
      undecodable = 0;
    }
    std::vector<uint64_t>& per_cpu = drops_now;
    per_cpu.resize(static_cast<size_t>(ncpus));
    for (uint32_t key : {0u, 1u}) {
      if (key == 1 && options.follow_pids.empty()) break;
      std::vector<uint64_t>& seen = key == 0 ? drops_seen : untracked_seen;
      if (bpf_map__lookup_elem(skel->maps.drops, &key, sizeof key, per_cpu.data(),
                               per_cpu.size() * sizeof(uint64_t), 0) != 0) {
        continue;
      }
      for (size_t c = 0; c < per_cpu.size(); ++c) {
        if (per_cpu[c] <= seen[c]) continue;
        uint64_t n = per_cpu[c] - seen[c];
        seen[c] = per_cpu[c];
        stats.lost.fetch_add(n, std::memory_order_relaxed);
        out.push_back(loss(n,
                           key == 0 ? "eBPF ring buffer full on cpu " + std::to_string(c)
                                    : "new processes of the followed trees (-p) the kernel could "
                                      "not track, on cpu " +
                                          std::to_string(c) + ": their events are missing",
                           static_cast<int32_t>(c)));
      }
    }
    for (size_t i = 0; i < programs.size(); ++i) {
      bpf_prog_info info{};
      uint32_t len = sizeof info;
      if (bpf_obj_get_info_by_fd(bpf_program__fd(programs[i]), &info, &len) != 0) continue;
      if (info.recursion_misses <= misses_seen[i]) continue;
      uint64_t n = info.recursion_misses - misses_seen[i];
      misses_seen[i] = info.recursion_misses;
      stats.lost.fetch_add(n, std::memory_order_relaxed);
      out.push_back(loss(n,
                         std::string("the kernel skipped eBPF program ") +
                             bpf_program__name(programs[i]) + " (it was already running)",
                         -1));
    }
  }

  Event loss(uint64_t n, std::string why, int32_t cpu) {
    Event e;
    e.ts_ns = watermark_ns;  // reported where the stream is now
    e.wall_ns = clock.to_wall_ns(e.ts_ns);
    e.cpu = cpu;
    e.data = LostData{n, std::move(why)};
    return e;
  }
};

BpfSource::BpfSource(BpfOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}

BpfSource::~BpfSource() = default;

size_t BpfSource::argv_limit() {
  return PT_ARGS_MAX - 1;
}

void BpfSource::set_exec_handler(ExecHandlerFactory factory) {
  impl_->factory = std::move(factory);
}

Status BpfSource::start() {
  Impl& m = *impl_;
  libbpf_set_print(capture_libbpf);
  if (auto s = require_initial_namespaces(
          "/proc", "the eBPF backend reports the host's pids and reads the host's /proc");
      !s) {
    return s;
  }
  struct stat st {};
  if (stat("/sys/kernel/btf/vmlinux", &st) != 0) {
    return make_error(
        "this kernel has no BTF (/sys/kernel/btf/vmlinux; CONFIG_DEBUG_INFO_BTF), which the eBPF "
        "programs need");
  }
  m.ncpus = libbpf_num_possible_cpus();
  if (m.ncpus <= 0) return system_error("count possible CPUs", -m.ncpus);
  const uint64_t t_open = monotonic_now_ns();
  m.skel = proctrail_bpf__open();
  if (!m.skel) return system_error("open eBPF object");
  if (m.factory) m.handler = m.factory();
  m.skel->rodata->max_args =
      static_cast<uint32_t>(std::min(m.options.max_argv_bytes, argv_limit()));
  m.skel->rodata->wake_on_exec = m.handler ? 1 : 0;
  m.skel->rodata->wake_bytes = static_cast<uint32_t>(m.options.ring_buffer_bytes / 4);
  bpf_map__set_max_entries(m.skel->maps.events, static_cast<uint32_t>(m.options.ring_buffer_bytes));
  // The exec program's scratch space is big (~270 KiB a CPU): only when it runs.
  // Only the programs for what is asked run in the kernel.
  const bool want_fork = m.options.events.has(EventType::Fork);
  const bool want_exec = m.options.events.has(EventType::Exec);
  const bool want_exit = m.options.events.has(EventType::Exit);
  const bool want_failed = m.options.events.has(EventType::ExecFailed);
  bpf_map__set_max_entries(m.skel->maps.scratch_map,
                           want_exec || want_failed ? static_cast<uint32_t>(m.ncpus) : 1);
  bpf_program__set_autoload(m.skel->progs.on_fork, want_fork);
  bpf_program__set_autoload(m.skel->progs.on_exec, want_exec);
  bpf_program__set_autoload(m.skel->progs.on_exit, want_exit);
  // Failed execs come from an x86-64 program: elsewhere it is not in the object.
  bpf_program* on_sys_exit = bpf_object__find_program_by_name(m.skel->obj, "on_sys_exit");
  if (want_failed && !on_sys_exit) {
    return make_error("failed execs are watched on x86-64 only");
  }
  if (on_sys_exit) bpf_program__set_autoload(on_sys_exit, want_failed);
  // -p in the kernel: room for every live process of the trees (a full map is a counted loss).
  const bool follow = !m.options.follow_pids.empty();
  m.skel->rodata->follow_trees = follow ? 1 : 0;
  bpf_map__set_max_entries(m.skel->maps.followed, follow ? 65536 : 1);
  if (!may_load_bpf()) {
    return make_error(
        "loading eBPF programs needs root (CAP_SYS_ADMIN, or CAP_BPF with CAP_PERFMON)");
  }
  const uint64_t t_load = monotonic_now_ns();
  if (proctrail_bpf__load(m.skel) != 0) {
    int err = errno;
    return make_error("the kernel refused proctrail's eBPF programs: " + libbpf_reason(err));
  }
  // The trees as they are now go in before the programs run, and once more after, for the
  // processes born in between (the programs add those born since).
  std::unordered_set<int32_t> seeded;
  auto seed_trees = [&m, &seeded] {
    // Until a pass finds nothing new: a process born while /proc is read, to a parent not
    // in the map yet, is found by the next pass.
    for (int pass = 0; pass < 10; ++pass) {
      std::vector<int32_t> roots(seeded.begin(), seeded.end());
      roots.insert(roots.end(), m.options.follow_pids.begin(), m.options.follow_pids.end());
      bool added = false;
      const uint8_t one = 1;
      for (int32_t pid : procfs::tree_now(roots)) {
        if (!seeded.insert(pid).second) continue;
        added = true;
        bpf_map__update_elem(m.skel->maps.followed, &pid, sizeof pid, &one, sizeof one, BPF_ANY);
      }
      if (!added) break;
    }
  };
  if (follow) seed_trees();
  const uint64_t t_attach = monotonic_now_ns();
  if (proctrail_bpf__attach(m.skel) != 0) {
    int err = errno;
    return make_error("attaching to the sched_process tracepoints failed: " + libbpf_reason(err));
  }
  if (follow) seed_trees();
  const uint64_t t_done = monotonic_now_ns();
  m.rb = ring_buffer__new(bpf_map__fd(m.skel->maps.events), Impl::on_record, &m, nullptr);
  if (!m.rb) return system_error("open eBPF ring buffer");
  m.drops_seen.assign(static_cast<size_t>(m.ncpus), 0);
  m.untracked_seen.assign(static_cast<size_t>(m.ncpus), 0);
  for (auto [prog, wanted] :
       {std::pair{m.skel->progs.on_fork, want_fork}, std::pair{m.skel->progs.on_exec, want_exec},
        std::pair{m.skel->progs.on_exit, want_exit}, std::pair{on_sys_exit, want_failed}}) {
    if (wanted) m.programs.push_back(prog);
  }
  m.misses_seen.assign(m.programs.size(), 0);

  std::string tps;
  for (auto* prog : m.programs)
    tps += std::string(tps.empty() ? "" : ", ") + bpf_program__name(prog);
  m.notes.push_back("eBPF programs on BTF tracepoints (" + tps + "); argv up to " +
                    std::to_string(m.skel->rodata->max_args) + " bytes read in the kernel");
  // Where start-up time goes: the kernel's verifier dominates when a program is hard for it.
  auto ms = [](uint64_t a, uint64_t b) { return std::to_string((b - a) / 1'000'000) + " ms"; };
  std::string verified;
  for (auto* prog : m.programs) {
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) == 0 && info.verified_insns) {
      verified += std::string(verified.empty() ? "" : ", ") + bpf_program__name(prog) + " " +
                  std::to_string(info.verified_insns);
    }
  }
  m.notes.push_back(
      "eBPF set-up: open " + ms(t_open, t_load) + ", load and verify " + ms(t_load, t_attach) +
      ", attach " + ms(t_attach, t_done) +
      (verified.empty() ? "" : " (instructions the verifier checked: " + verified + ")"));
  if (follow) {
    m.notes.push_back(
        "-p trees followed in the kernel: other processes' forks, execs and exits "
        "do not enter the ring buffer");
  }
  m.notes.push_back("eBPF ring buffer: " + std::to_string(m.options.ring_buffer_bytes) +
                    " bytes; " +
                    (m.handler ? "woken per exec (the /proc fields asked for are read then)"
                               : "read on a timer, woken when a quarter full"));
  m.notes.push_back(m.cgroups.root().empty()
                        ? "no cgroup2 mount: cgroup paths unavailable (ids only)"
                        : "cgroup paths from ids under " + m.cgroups.root());

  m.watermark_ns = monotonic_now_ns() - kDeliverySlackNs;
  return {};
}

Status BpfSource::poll(std::chrono::milliseconds timeout, std::vector<Event>& out) {
  Impl& m = *impl_;
  if (!m.rb) return make_error("bpf source is not started");
  m.clock.refresh_if_older(monotonic_now_ns());
  int r = ring_buffer__poll(m.rb, static_cast<int>(timeout.count()));
  if (r < 0 && r != -EINTR) return system_error("poll eBPF ring buffer", -r);
  r = ring_buffer__consume(m.rb);
  if (r < 0 && r != -EINTR) return system_error("read eBPF ring buffer", -r);
  const uint64_t drained = monotonic_now_ns();
  for (auto& e : m.pending) out.push_back(std::move(e));
  m.pending.clear();
  uint64_t watermark = drained - std::min(drained, kDeliverySlackNs);
  if (watermark > m.watermark_ns) m.watermark_ns = watermark;
  m.collect_losses(out);
  return {};
}

uint64_t BpfSource::watermark_ns() const {
  return impl_->watermark_ns;
}

int BpfSource::fd() const {
  return impl_->rb ? ring_buffer__epoll_fd(impl_->rb) : -1;
}

SourceStats BpfSource::stats() const {
  SourceStats s;
  s.received = impl_->stats.received.load(std::memory_order_relaxed);
  s.lost = impl_->stats.lost.load(std::memory_order_relaxed);
  s.decode_errors = impl_->stats.decode_errors.load(std::memory_order_relaxed);
  return s;
}

std::vector<std::string> BpfSource::notes() const {
  return impl_->notes;
}

}  // namespace proctrail
