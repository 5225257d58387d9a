// Monitor: builds the parts (enricher, source, sinks, pipeline) from one options struct.
#include "proctrail/monitor.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <thread>

#include "enrich/enricher.hpp"
#include "monitor/backend.hpp"
#include "pipeline/pipeline.hpp"
#include "filter/filter_stage.hpp"
#include "sink/pull_queue.hpp"
#include "sink/routes.hpp"
#include "util/clock.hpp"
#include "util/privileges.hpp"

namespace proctrail {

struct Monitor::Impl {
  MonitorOptions options;
  MonitorInfo info;
  std::unique_ptr<Enricher> enricher;
  StartedSource started;
  std::unique_ptr<SinkRoutes> sinks;  // every sink, each with its filter
  PullQueue* pull = nullptr;   // inside `sink`, when asked for
  std::unique_ptr<Pipeline> pipeline;
  bool stopped = false;
  Status result;
  size_t table_size = 0;

  // The first record of a live stream: who, where, how, and what is missing.
  Event start_record(uint64_t t0) const {
    Event e;
    e.ts_ns = t0;
    e.wall_ns = ClockSync{}.to_wall_ns(t0);
    StartData start;
    start.backend = info.backend;
    start.reason = info.reason;
    start.version = options.version;
    start.missing_events = info.missing_events;
    start.missing_fields = info.missing_fields;
    start.scope = options.filter.owner_uid ? "own" : "all";
    start.host = HostIdentity::local();
    start.boottime_offset_ns = ClockSync{}.boottime_offset_ns();
    e.data = std::move(start);
    return e;
  }

  // What this setup cannot read, said once: the caller shows it, and the start record has it.
  void note_missing_fields() {
    const bool reads_proc = started.subscription.read_proc;
    const ProcFields& f = options.proc_fields;
    // Other users' environments need CAP_DAC_READ_SEARCH; only the caller's own are shown
    // without it when the scope is "own", and those it may read.
    if (reads_proc && f.env && !options.filter.owner_uid &&
        !has_capability(cap::kDacReadSearch)) {
      info.missing_fields.emplace_back("env");
      info.missing_why.push_back(
          "without CAP_DAC_READ_SEARCH (not root), other users' environments cannot be read: "
          "their execs have no env, and each one's note says so");
    }
    if (!reads_proc || has_capability(cap::kSysPtrace) || options.filter.owner_uid) return;
    const bool kernel_paths = started.backend == Backend::Bpf;  // exe and cwd from the kernel
    bool any = false;
    for (auto [name, wanted] :
         {std::pair{"exe", f.exe && !kernel_paths}, std::pair{"cwd", f.cwd && !kernel_paths}}) {
      if (wanted) info.missing_fields.emplace_back(name);
      any |= wanted;
    }
    if (any) {
      info.missing_why.push_back(
          "without CAP_SYS_PTRACE (not root), /proc/PID/exe, cwd and environ of other users' "
          "processes cannot be read: those fields are left out, and each exec's note says so");
    }
  }
};

namespace {

// A filter on a field this setup does not read would match nothing: an error, not an empty
// output.
Status check_filter_fields(const MonitorOptions& o, Backend backend, bool live) {
  const EventFilter& f = o.filter;
  if (auto s = f.validate(); !s) return s;
  if (!o.enrich && (f.matches_processes() || !f.pids.empty() || f.failed)) {
    return make_error("filters on processes need enrichment, which the seed format leaves out");
  }
  // A recording's events are what they are: which fields it has is its own business.
  if (!live) return {};
  for (int32_t pid : f.pids) {
    if (kill(pid, 0) != 0 && errno == ESRCH) {
      return make_error("filter.pids: no process " + std::to_string(pid) + " is running");
    }
  }
  const bool kernel = backend == Backend::Bpf;  // argv, exe, creds, cgroup id from the kernel
  const ProcFields& p = o.proc_fields;
  if (f.uid && !kernel && !p.creds) {
    return make_error("filter.uid needs the creds field, which proc_fields leaves out");
  }
  if (f.exe_regex && !kernel && !p.exe) {
    return make_error("filter.exe_regex needs the exe field, which proc_fields leaves out");
  }
  if ((f.cgroup_prefix || f.container_prefix) && !kernel && !p.cgroup) {
    return make_error(
        "filter.cgroup_prefix and filter.container_prefix need the cgroup field, which "
        "proc_fields leaves out");
  }
  return {};
}

}  // namespace

Monitor::Monitor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

size_t Monitor::followed_processes() const {
  return impl_->pipeline->followed();
}

Monitor::~Monitor() {
  (void)stop();
}

namespace {

// Failed execs cost every system call on the machine a detour: only when allowed.
Status withhold_exec_failed(EventFilter& f, bool* withheld) {
  if (!f.types.has(EventType::ExecFailed)) return {};
  f.types.remove(EventType::ExecFailed);
  *withheld = true;
  if (f.types.empty()) {
    return make_error(
        "failed execs are watched only for root: watching them slows every system call on the "
        "machine");
  }
  return {};
}

// What the source must serve: every sink's filter at once. It follows --pid trees in the
// kernel only when every sink is limited to such trees.
EventFilter union_of(const std::vector<EventFilter>& filters) {
  EventFilter u = filters.front();
  bool all_trees = true;
  for (const auto& f : filters) all_trees = all_trees && !f.pids.empty();
  for (size_t i = 1; i < filters.size(); ++i) {
    const EventFilter& f = filters[i];
    u.types = u.types | f.types;
    u.pids.insert(u.pids.end(), f.pids.begin(), f.pids.end());
    if (!u.matches_processes() && f.matches_processes()) {
      u.uid = f.uid;
      u.owner_uid = f.owner_uid;
      u.comm_regex = f.comm_regex;
      u.argv_regex = f.argv_regex;
      u.exe_regex = f.exe_regex;
      u.cgroup_prefix = f.cgroup_prefix;
      u.container_prefix = f.container_prefix;
    }
  }
  if (!all_trees) u.pids.clear();
  return u;
}

}  // namespace

Result<std::unique_ptr<Monitor>> Monitor::start(MonitorOptions options,
                                                std::vector<SinkSpec> sinks) {
  return start_with(std::move(options), std::move(sinks), nullptr);
}

Result<std::unique_ptr<Monitor>> Monitor::start(MonitorOptions options,
                                                std::vector<SinkSpec> sinks,
                                                std::unique_ptr<EventSource> source) {
  if (!source) return make_error("no event source given");
  return start_with(std::move(options), std::move(sinks), std::move(source));
}

Result<std::unique_ptr<Monitor>> Monitor::start_with(MonitorOptions options,
                                                     std::vector<SinkSpec> sinks,
                                                     std::unique_ptr<EventSource> given) {
  auto m = std::make_unique<Impl>();
  m->options = std::move(options);
  // Everything that needs this machine as it runs (/proc, liveness checks, our own pid,
  // capabilities) is for live sources only.
  const bool live = !given || given->live();
  if (sinks.empty() && m->options.pull_capacity == 0) {
    return make_error("no sink to write to: give at least one, or a pull queue (pull_capacity)");
  }
  // Each sink's filter, with the caller's scope: a sink never shows more than the monitor may.
  std::vector<EventFilter> filters;
  bool exec_failed_withheld = false;
  const bool withhold = live && !m->options.allow_exec_failed;
  for (SinkSpec& spec : sinks) {
    if (!spec.sink) return make_error("sink '" + spec.name + "' is empty");
    EventFilter f = spec.filter.value_or(m->options.filter);
    if (m->options.filter.owner_uid) f.owner_uid = m->options.filter.owner_uid;
    if (withhold) {
      if (auto s = withhold_exec_failed(f, &exec_failed_withheld); !s) return s.error();
    }
    if (auto s = f.validate(); !s) return s.error().context("sink '" + spec.name + "'");
    filters.push_back(std::move(f));
  }
  if (withhold) {
    if (auto s = withhold_exec_failed(m->options.filter, &exec_failed_withheld); !s) {
      return s.error();
    }
  }
  if (m->options.pull_capacity > 0) filters.push_back(m->options.filter);
  const EventFilter user_filter = m->options.filter;
  // From here on, options.filter is what the source must serve for all of them.
  m->options.filter = union_of(filters);
  const MonitorOptions& o = m->options;
  auto verbose = [&o](std::string_view line) {
    if (o.verbose) o.verbose(line);
  };
  // The start record's time: before the subscription, so it heads the stream.
  const uint64_t t0 = monotonic_now_ns();

  if (o.enrich) {
    EnricherOptions eo;
    eo.live = live;
    eo.ancestry = o.ancestry;
    eo.read.max_argv_bytes = o.max_argv_bytes;
    eo.read.exe = o.proc_fields.exe;
    eo.read.cwd = o.proc_fields.cwd;
    eo.read.creds = o.proc_fields.creds;
    eo.read.cgroup = o.proc_fields.cgroup;
    eo.read.env = o.proc_fields.env;
    auto e = Enricher::create(eo);
    if (!e) return e.error();
    m->enricher = std::move(*e);
  }
  if (given) {
    if (m->enricher) given->set_exec_handler(m->enricher->exec_handler_factory());
    if (auto s = given->start(); !s) return s.error();
    m->started.source = std::move(given);
    m->started.reason = "given by the caller";
  } else {
    auto started = start_source(o, m->enricher.get(), verbose);
    if (!started) return started.error();
    m->started = std::move(*started);
  }
  for (const EventFilter& f : filters) {
    MonitorOptions each = o;
    each.filter = f;
    if (auto s = check_filter_fields(each, m->started.backend, live); !s) return s.error();
  }
  const uint64_t t_source = monotonic_now_ns();
  MonitorInfo& info = m->info;
  info.backend = std::string(m->started.source->name());
  info.reason = m->started.reason;
  info.notes = m->started.source->notes();
  info.missing_events = m->started.missing_events;
  info.missing_why = m->started.missing_why;
  if (exec_failed_withheld) {
    info.missing_events.emplace_back("exec_failed");
    info.missing_why.emplace_back(
        "no failed execs: they are watched only for root (watching them slows every system call "
        "on the machine)");
  }
  if (live) m->note_missing_fields();
  for (const auto& n : info.notes) verbose(n);

  if (o.pull_capacity > 0) {
    auto pull = std::make_unique<PullQueue>(o.pull_capacity);
    m->pull = pull.get();
    sinks.emplace_back(std::move(pull), user_filter, FailurePolicy::Fatal, "poll()");
  }
  std::vector<SinkRoutes::Route> routes;
  for (size_t i = 0; i < sinks.size(); ++i) {
    SinkRoutes::Route r;
    r.name = sinks[i].name;
    r.filter = std::make_unique<FilterStage>(filters[i], live ? "/proc" : "");
    r.sink = std::move(sinks[i].sink);
    r.policy = sinks[i].on_failure;
    routes.push_back(std::move(r));
  }
  m->sinks = std::make_unique<SinkRoutes>(std::move(routes));

  PipelineOptions p;
  if (o.exclude_self && live) p.exclude_pid = getpid();
  p.priority = m->started.receive_priority;
  const bool bpf = m->started.backend == Backend::Bpf;
  if (live) {  // a recording's reader needs none: its file is open
    p.receive_capabilities = proc_read_capabilities(o);
    if (bpf) p.receive_capabilities.push_back(cap::kBpf);
  }
  p.poll_interval = o.poll_interval;
  p.ordering.fold_path_searches = o.fold_path_searches;
  p.output_interval = o.output_interval;
  // A recording has its own start records; the stream says where it came from through them.
  if (o.start_record && live) p.start_record = m->start_record(t0);
  m->pipeline =
      std::make_unique<Pipeline>(*m->started.source, m->enricher.get(), *m->sinks, p);
  if (auto s = m->pipeline->start(); !s) return s.error();
  const uint64_t t_ready = monotonic_now_ns();
  verbose("ready " + std::to_string((t_ready - t0) / 1'000'000) + " ms after start: source " +
          std::to_string((t_source - t0) / 1'000'000) + " ms, process table and threads " +
          std::to_string((t_ready - t_source) / 1'000'000) + " ms");
  if (auto prio = m->pipeline->stats().priority; !prio.empty()) {
    info.notes.push_back(prio);
    verbose(prio);
  }
  if (o.drop_caller_privileges && live) {
    // Set-up is done: keep only what reading /proc (CAP_SYS_PTRACE), withdrawing the proc
    // connector subscription (CAP_NET_ADMIN) and, on eBPF, reading its maps (CAP_BPF) need.
    std::vector<int> keep = proc_read_capabilities(o);
    keep.push_back(cap::kNetAdmin);
    if (bpf) keep.push_back(cap::kBpf);
    if (auto s = drop_capabilities(keep); s) {
      verbose("capabilities kept after set-up: " + effective_capabilities() + "; no_new_privs set");
    } else {
      verbose("could not drop capabilities: " + s.error().message);
    }
  }
  return std::unique_ptr<Monitor>(new Monitor(std::move(m)));
}

const MonitorInfo& Monitor::info() const {
  return impl_->info;
}

Status Monitor::poll(std::chrono::milliseconds timeout, std::vector<Event>& out) {
  if (!impl_->pull) return make_error("poll() needs MonitorOptions::pull_capacity > 0");
  impl_->pull->take(timeout, out);
  return {};
}

int Monitor::fd() const {
  return impl_->pull ? impl_->pull->fd() : -1;
}

bool Monitor::finished() const {
  return impl_->stopped || impl_->pipeline->finished();
}

void Monitor::reopen_outputs() {
  if (!impl_->stopped) impl_->pipeline->reopen_outputs();
}

Status Monitor::run_until(const std::atomic<bool>& stop, const std::function<void()>& on_tick) {
  while (!stop.load() && !finished()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (on_tick) on_tick();
  }
  return this->stop();
}

Status Monitor::stop() {
  Impl& m = *impl_;
  if (m.stopped) return m.result;
  m.stopped = true;
  m.pipeline->request_stop();
  m.result = m.pipeline->join(m.options.stop_timeout);
  if (m.enricher) m.table_size = m.enricher->table().size();
  return m.result;
}

MonitorStats Monitor::stats() const {
  const Impl& m = *impl_;
  MonitorStats s;
  s.source = m.started.source->stats();
  PipelineStats p = m.pipeline->stats();
  s.queue_drops = p.queue_drops;
  s.pull_drops = m.pull ? m.pull->dropped() : 0;
  s.execs = p.execs;
  s.argv_kernel = p.argv_kernel;
  s.argv_procfs = p.argv_procfs;
  s.argv_unavailable = p.argv_unavailable;
  s.superseded = p.superseded;
  s.resyncs = p.resyncs;
  s.written = p.written;
  s.table_size = m.table_size;
  s.sinks = m.sinks->stats();
  return s;
}

}  // namespace proctrail
