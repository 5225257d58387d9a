#include "enrich/enricher.hpp"

#include <pwd.h>

#include <vector>

namespace proctrail {

Enricher::Enricher(EnricherOptions options, procfs::ProcReader reader)
    : options_(std::move(options)), reader_(std::move(reader)), table_(options_.table) {}

Result<std::unique_ptr<Enricher>> Enricher::create(EnricherOptions options) {
  auto reader = procfs::ProcReader::open(options.proc_root, options.read);
  if (!reader) return reader.error();
  return std::unique_ptr<Enricher>(new Enricher(std::move(options), std::move(*reader)));
}

std::vector<ProcessEntry> Enricher::scan(const ClockSync& clock) {
  std::vector<ProcessEntry> out;
  auto pids = reader_.list_pids();
  if (!pids) return out;
  out.reserve(pids->size());
  for (int32_t pid : *pids) {
    auto snap = reader_.read_snapshot(pid);
    if (!snap) continue;  // gone since the listing
    ProcessEntry p;
    p.pid = pid;
    p.ppid = snap->stat.ppid;
    p.start_ns = clock.boottime_to_monotonic_ns(snap->stat.start_ticks * reader_.tick_ns());
    p.start_precise = false;
    p.comm = std::move(snap->stat.comm);
    if (!snap->argv.empty()) {
      auto image = std::make_shared<ExecDetails>();
      image->argv_source = ArgvSource::Procfs;
      image->argv = std::move(snap->argv);
      image->argv_truncated = snap->argv_truncated;
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
  if (!options_.track_processes) return {};
  for (auto& p : scan(clock)) table_.add_scanned(std::move(p));
  return {};
}

Event Enricher::resync(const ClockSync& clock) {
  Event e;
  e.ts_ns = monotonic_now_ns();
  e.wall_ns = clock.to_wall_ns(e.ts_ns);
  e.data = options_.track_processes ? table_.resync(scan(clock)) : ResyncData{};
  return e;
}

void Enricher::process(Event& e, const ClockSync& clock) {
  if (!options_.track_processes && e.type() != EventType::Exec) return;
  switch (e.type()) {
    case EventType::Fork:
      table_.on_fork(e, std::get<ForkData>(e.data));
      break;
    case EventType::Comm:
      table_.on_comm(e, std::get<CommData>(e.data));
      break;
    case EventType::Uid:
      table_.on_uid(e, std::get<UidData>(e.data));
      break;
    case EventType::Gid:
      table_.on_gid(e, std::get<GidData>(e.data));
      break;
    case EventType::Exit:
      table_.on_exit(e, std::get<ExitData>(e.data));
      break;
    case EventType::Exec: {
      auto& x = std::get<ExecData>(e.data);
      if (!x.details) x.details = std::make_shared<ExecDetails>();
      ExecDetails& d = *x.details;
      if (options_.read_proc && !d.procfs_read) {
        reader_.read_exec(e.pid,
                          verify::ExpectedProcess::for_exec(clock.to_boottime_ns(e.ts_ns), d), d);
      }
      if (!options_.track_processes) break;
      check_identity(e, d, clock);
      if (creds_from_table_ && !d.creds) {
        // The table's account is of this process only if the read above was of it, or nothing
        // was read: a withdrawn read leaves the question open.
        if (auto c = table_.live_creds(e.pid)) {
          d.creds = c;
          d.set_source(Field::Creds, FieldSource::Table);
        }
      }
      std::optional<uint64_t> start;
      if (d.start_boottime_ns) start = clock.boottime_to_monotonic_ns(*d.start_boottime_ns);
      auto caller = table_.on_exec(e, x.details, start);
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
}

void Enricher::check_identity(const Event& e, ExecDetails& d, const ClockSync& clock) {
  // The read checked the start time against the event; the table knows this pid's start from
  // its fork event, to the nanosecond.
  std::optional<uint64_t> known;
  if (auto start = table_.live_start_ns(e.pid)) known = clock.to_boottime_ns(*start);
  verify::check_against_table(d, known, reader_.tick_ns());
}

ExecHandlerFactory Enricher::exec_handler_factory() const {
  return [options = options_]() -> ExecHandler {
    if (!options.read_proc) return {};
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
