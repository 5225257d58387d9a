#include "enrich/enricher.hpp"

#include <pwd.h>

#include <vector>

namespace proctrail {

Enricher::Enricher(EnricherOptions options, std::optional<procfs::ProcReader> reader)
    : options_(std::move(options)),
      reader_(std::move(reader)),
      tick_ns_(reader_ ? reader_->tick_ns() : 1'000'000'000 / procfs::clock_ticks_per_second()),
      table_(options_.table) {}

Result<std::unique_ptr<Enricher>> Enricher::create(EnricherOptions options) {
  if (!options.live) {
    options.read_proc = false;
    return std::unique_ptr<Enricher>(new Enricher(std::move(options), std::nullopt));
  }
  auto reader = procfs::ProcReader::open(options.proc_root, options.read);
  if (!reader) return reader.error();
  return std::unique_ptr<Enricher>(new Enricher(std::move(options), std::move(*reader)));
}

std::vector<ProcessEntry> Enricher::scan(const ClockSync& clock) {
  std::vector<ProcessEntry> out;
  if (!reader_) return out;
  auto pids = reader_->list_pids();
  if (!pids) return out;
  out.reserve(pids->size());
  for (int32_t pid : *pids) {
    auto snap = reader_->read_snapshot(pid);
    if (!snap) continue;  // gone since the listing
    ProcessEntry p;
    p.pid = pid;
    p.ppid = snap->stat.ppid;
    p.start_ns = clock.boottime_to_monotonic_ns(snap->stat.start_ticks * tick_ns_);
    p.start_precise = false;
    p.start_ticks = snap->stat.start_ticks;
    p.comm = std::move(snap->stat.comm);
    p.ended_at_scan = snap->stat.exiting();
    if (!snap->argv.empty()) {
      auto image = std::make_shared<ExecDetails>();
      image->argv_source = ArgvSource::Procfs;
      image->argv = std::move(snap->argv);
      image->argv_truncated = snap->argv_truncated;
      image->found_running = true;
      p.image = std::move(image);
    }
    p.creds = snap->creds;
    p.threads = std::move(snap->tids);
    p.threads_known = !p.threads.empty();
    out.push_back(std::move(p));
  }
  return out;
}

Status Enricher::seed(const ClockSync& clock) {
  if (!options_.track_processes || !options_.live) return {};
  for (auto& p : scan(clock)) table_.add_scanned(std::move(p));
  table_.link_parents();
  return {};
}

std::vector<Event> Enricher::running(const ClockSync& clock) const {
  std::vector<Event> out;
  if (!options_.track_processes || !options_.live) return out;
  UserNames users;
  for (const ProcessEntry* p : table_.live()) {
    if (p->ended_at_scan) continue;  // a zombie: its life is over, and /proc has no argv for it
    Event e;
    e.pid = e.tid = p->pid;
    e.ts_ns = p->start_ns != 0 ? p->start_ns : monotonic_now_ns();
    e.wall_ns = clock.to_wall_ns(e.ts_ns);
    e.key = p->key();
    e.parent_key = p->parent_key;
    auto d = p->image ? std::make_shared<ExecDetails>(*p->image) : std::make_shared<ExecDetails>();
    d->ppid = p->ppid;
    d->creds = p->creds;
    if (p->creds) {
      e.uid = p->creds->uid;
      if (const std::string* name = users.lookup(p->creds->uid)) d->user = *name;
    }
    if (!p->comm.empty()) d->comm = p->comm;
    e.data = ExecData{std::move(d)};
    out.push_back(std::move(e));
  }
  return out;
}

Event Enricher::resync(const ClockSync& clock) {
  Event e;
  e.ts_ns = monotonic_now_ns();
  e.wall_ns = clock.to_wall_ns(e.ts_ns);
  e.data = options_.track_processes ? table_.resync(scan(clock)) : ResyncData{};
  return e;
}

uint64_t Enricher::fork_start_ticks(const Event& e, const ForkData& f, const ClockSync& clock) {
  const uint64_t tick = tick_ns_;
  if (e.key.known()) return e.key.start_ticks;  // the source's word (a recording's)
  if (f.child_start_boottime_ns) return *f.child_start_boottime_ns / tick;  // the kernel's
  if (f.is_thread()) return 0;  // the process is known already, or not at all
  // The proc connector's event comes a little after the child's start: the same tick, unless
  // a tick began in between. Close after a tick's start, /proc says which (while it can).
  const uint64_t at = clock.to_boottime_ns(e.ts_ns);
  const uint64_t estimate = at / tick;
  if (at % tick < kTickDoubtNs && options_.read_proc && reader_) {
    if (auto snap = reader_->read_stat(f.child_pid)) {
      const uint64_t read = snap->start_ticks;
      if (read == estimate || read + 1 == estimate) return read;
    }
  }
  return estimate;
}

void Enricher::stamp_without_table(Event& e, const ExecDetails& d) const {
  const uint64_t tick = tick_ns_;
  if (d.creds) e.uid = d.creds->uid;
  // Which image of the parent forked it takes the fork events this mode does without: no
  // parent_exec_id here, the ppid only.
  if (d.start_boottime_ns) {
    e.key = ProcessKey{e.pid, d.exec_ordinal.value_or(1), *d.start_boottime_ns / tick};
  }
}

// What a fork, a comm, a uid or a gid change does to the table: the same for a live source
// and a recording.
void Enricher::track(Event& e, const ClockSync& clock) {
  switch (e.type()) {
    case EventType::Fork: {
      const auto& f = std::get<ForkData>(e.data);
      table_.on_fork(e, f, fork_start_ticks(e, f, clock));
      break;
    }
    case EventType::Comm:
      table_.on_comm(e, std::get<CommData>(e.data));
      break;
    case EventType::Uid:
      table_.on_uid(e, std::get<UidData>(e.data));
      break;
    case EventType::Gid:
      table_.on_gid(e, std::get<GidData>(e.data));
      break;
    default:
      break;
  }
}

void Enricher::process(Event& e, const ClockSync& live_clock) {
  if (!options_.live) return process_recorded(e);
  const ClockSync& clock = live_clock;
  if (!options_.track_processes && e.type() != EventType::Exec) return;
  switch (e.type()) {
    case EventType::Fork:
    case EventType::Comm:
    case EventType::Uid:
    case EventType::Gid:
      track(e, clock);
      break;
    case EventType::Exit: {
      auto& x = std::get<ExitData>(e.data);
      table_.on_exit(e, x);
      if (!table_.find(e.pid) && x.start_boottime_ns) {
        // A process the table never knew (events were lost): the kernel's word for it.
        e.key = ProcessKey{e.pid, 0, *x.start_boottime_ns / tick_ns_};
        return;
      }
      break;
    }
    case EventType::Exec: {
      auto& x = std::get<ExecData>(e.data);
      if (!x.details) x.details = std::make_shared<ExecDetails>();
      ExecDetails& d = *x.details;
      if (options_.read_proc && !d.procfs_read && reader_) {
        reader_->read_exec(e.pid,
                           verify::ExpectedProcess::for_exec(clock.to_boottime_ns(e.ts_ns), d), d);
      }
      if (!options_.track_processes) {
        stamp_without_table(e, d);
        return;
      }
      check_identity(e, d, clock);
      if (creds_from_table_ && !d.creds) {
        // The table's account is of this process only if the read above was of it, or nothing
        // was read: a withdrawn read leaves the question open.
        if (auto c = table_.live_creds(e.pid)) {
          d.creds = c;
          d.set_source(Field::Creds, FieldSource::Table);
        }
      }
      std::optional<uint64_t> start, start_ticks;
      if (d.start_boottime_ns) {
        start = clock.boottime_to_monotonic_ns(*d.start_boottime_ns);
        start_ticks = *d.start_boottime_ns / tick_ns_;
      }
      auto caller = table_.on_exec(e, x.details, start, start_ticks, d.exec_ordinal);
      if (caller && !d.exec_tid) d.exec_tid = caller;
      if (options_.ancestry) {
        d.ancestry = table_.ancestry(e.pid);
        d.set_source(Field::Ancestry, FieldSource::Table);
      }
      break;
    }
    default:
      break;
  }
  table_.stamp(e);
}

void Enricher::check_identity(const Event& e, ExecDetails& d, const ClockSync& clock) {
  // The read checked the start time against the event; the table knows this pid's start from
  // its fork event, to the nanosecond.
  std::optional<uint64_t> known;
  if (auto start = table_.live_start_ns(e.pid)) known = clock.to_boottime_ns(*start);
  verify::check_against_table(d, known, tick_ns_);
}

void Enricher::process_recorded(Event& e) {
  // The keys a recording carries are kept as they are: the table is rebuilt from the events
  // so that views and filters can join them, not to decide anew who is who.
  const ProcessKey key = e.key, parent_key = e.parent_key;
  const ClockSync& clock = recorded_clock_;
  switch (e.type()) {
    case EventType::Start: {
      const auto& s = std::get<StartData>(e.data);
      recorded_clock_.adopt(e.wall_ns - static_cast<int64_t>(e.ts_ns), s.boottime_offset_ns);
      break;
    }
    case EventType::Fork:
    case EventType::Comm:
    case EventType::Uid:
    case EventType::Gid:
      track(e, clock);
      break;
    case EventType::Exit: {
      auto& x = std::get<ExitData>(e.data);
      // The recording's own account of the end (command, lifetime) stands; the table adds
      // the command line, which a recorded exit does not repeat.
      std::shared_ptr<const ExitDetails> recorded = x.details;
      table_.on_exit(e, x);
      if (recorded) {
        if (!recorded->image && x.details && x.details->image) {
          auto merged = std::make_shared<ExitDetails>(*recorded);
          merged->image = x.details->image;
          recorded = std::move(merged);
        }
        x.details = std::move(recorded);
      }
      break;
    }
    case EventType::Exec: {
      auto& x = std::get<ExecData>(e.data);
      if (!x.details) x.details = std::make_shared<ExecDetails>();
      ExecDetails& d = *x.details;
      std::optional<uint64_t> start, start_ticks;
      std::optional<uint32_t> ordinal = d.exec_ordinal;
      if (d.start_boottime_ns) start = clock.boottime_to_monotonic_ns(*d.start_boottime_ns);
      if (key.known()) {
        start_ticks = key.start_ticks;
        ordinal = key.exec_ordinal;
      } else if (d.start_boottime_ns) {
        start_ticks = *d.start_boottime_ns / tick_ns_;
      }
      table_.on_exec(e, x.details, start, start_ticks, ordinal);
      if (options_.ancestry && d.ancestry.empty()) {
        d.ancestry = table_.ancestry(e.pid);
        d.set_source(Field::Ancestry, FieldSource::Table);
      }
      break;
    }
    default:
      break;
  }
  table_.stamp(e);
  if (key.known()) e.key = key;
  if (parent_key.known()) e.parent_key = parent_key;
}

ExecHandlerFactory Enricher::exec_handler_factory() const {
  return [options = options_]() -> ExecHandler {
    if (!options.read_proc || !options.live) return {};
    auto reader = procfs::ProcReader::open(options.proc_root, options.read);
    if (!reader) return {};  // the output side reads (and reports) instead
    struct State {
      procfs::ProcReader reader;
      ClockSync clock;
    };
    auto state = std::make_shared<State>(State{std::move(*reader), ClockSync{}});
    return [state](Event& e) {
      auto& x = std::get<ExecData>(e.data);
      if (!x.details) x.details = std::make_shared<ExecDetails>();
      ExecDetails& d = *x.details;
      state->clock.refresh_if_older(e.ts_ns);
      state->reader.read_exec(
          e.pid, verify::ExpectedProcess::for_exec(state->clock.to_boottime_ns(e.ts_ns), d), d);
    };
  };
}

const std::string* UserNames::lookup(uint32_t uid) {
  auto it = cache_.find(uid);
  if (it == cache_.end()) {
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buf(4096);
    std::optional<std::string> name;
    while (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == ERANGE &&
           buf.size() < (1 << 20)) {
      buf.resize(buf.size() * 2);
    }
    if (found) name = found->pw_name;
    it = cache_.emplace(uid, std::move(name)).first;
  }
  return it->second ? &*it->second : nullptr;
}

}  // namespace proctrail
