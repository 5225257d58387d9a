// SummarySink: totals over what passes, written as one summary record at the end or on
// request.
//
// Its memory is bounded whatever the monitored processes do: command names are cut to
// SummaryData::kMaxNameBytes, at most kMaxCommands distinct names are kept (the space-saving
// scheme: a new name takes the place of the least counted one and starts from its count, so a
// command run often is never pushed out by many rare ones), and each list keeps `top` items.
#include <algorithm>
#include <functional>
#include <unordered_map>

#include "proctrail/sink.hpp"
#include "sink/forwarding_sink.hpp"
#include "util/clock.hpp"

namespace proctrail {

namespace {

constexpr size_t kMaxCommands = 1024;
constexpr size_t kMaxTracked = 1 << 16;  // processes whose depth is remembered

std::string bounded(std::string_view name) {
  if (name.size() <= SummaryData::kMaxNameBytes) return std::string(name);
  std::string cut(name.substr(0, SummaryData::kMaxNameBytes - 3));
  cut += "...";
  return cut;
}

// The name a command is counted under: argv[0]'s last path component, else the comm.
std::string command_name(const Argv& argv, const std::optional<std::string>& comm) {
  std::string_view a = argv.front();
  if (!a.empty()) {
    size_t slash = a.find_last_of('/');
    if (slash == std::string_view::npos) return bounded(a);
    if (slash + 1 < a.size()) return bounded(a.substr(slash + 1));
  }
  return bounded(comm.value_or("?"));
}

std::string name_of(const ExitDetails* d) {
  if (!d) return "?";
  return d->image ? command_name(d->image->argv, d->image->comm ? d->image->comm : d->comm)
                  : command_name({}, d->comm);
}

class SummarySink final : public ForwardingSink {
 public:
  SummarySink(std::unique_ptr<Sink> inner, std::atomic<bool>* requested, size_t top,
              EventMask watched, bool stream_time,
              std::function<std::vector<SummaryData::Exporter>()> exporters)
      : ForwardingSink(std::move(inner)),
        exporters_(std::move(exporters)),
        requested_(requested),
        top_(top),
        stream_time_(stream_time),
        start_ns_(monotonic_now_ns()),
        forks_(watched.has(EventType::Fork)),
        execs_(watched.has(EventType::Exec)),
        all_exits_(watched.has(EventType::Exit) && !watched.nonzero_exit_only()),
        failures_(watched.has(EventType::Exit)),
        exec_failures_(watched.has(EventType::ExecFailed)) {
    if (forks_) {
      s_.processes = 0;
      s_.max_depth = 0;
    }
    if (execs_) s_.execs = 0;
    if (all_exits_) {
      s_.exits = 0;
      s_.exits_started_before = 0;
    }
    if (failures_) s_.failed = 0;
    if (exec_failures_) s_.exec_failed = 0;
  }

  Status write(std::span<const Event> events) override {
    for (const Event& e : events) count(e);
    if (auto s = inner_->write(events); !s) return s;
    return tick();
  }
  Status close() override {
    if (!closed_) {
      closed_ = true;
      if (!inner_->closed()) {
        if (auto s = emit(true); !s) {
          (void)inner_->close();
          return s;
        }
      }
    }
    return inner_->close();
  }
  Status tick() override {
    if (requested_ && requested_->exchange(false)) {
      if (auto s = emit(false); !s) return s;
      if (auto s = inner_->flush(); !s) return s;
    }
    return inner_->tick();
  }

 private:
  struct Totals {
    uint64_t count = 0, ended = 0, total_ns = 0;
  };

  // The entry for a name; a new name evicts the least counted one when the table is full.
  Totals& command(const std::string& name) {
    if (auto it = commands_.find(name); it != commands_.end()) return it->second;
    if (commands_.size() < kMaxCommands) return commands_[name];
    auto least =
        std::min_element(commands_.begin(), commands_.end(), [](const auto& a, const auto& b) {
          return a.second.count + a.second.ended < b.second.count + b.second.ended;
        });
    Totals inherited = least->second;  // an upper bound stays an upper bound
    commands_.erase(least);
    s_.approximate = true;
    return commands_[name] = inherited;
  }

  void fail(const Event& e, std::string name, uint32_t raw_status, int32_t exec_error) {
    if (s_.failures.size() < top_) {
      s_.failures.push_back({e.pid, std::move(name), raw_status, exec_error});
    } else {
      ++s_.more_failures;
    }
  }

  void count(const Event& e) {
    if (first_ts_ == 0) first_ts_ = e.ts_ns;
    if (e.ts_ns >= last_ts_) {
      last_ts_ = e.ts_ns;
      last_wall_ = e.wall_ns;
    }
    if (const auto* f = std::get_if<ForkData>(&e.data)) {
      if (f->is_thread() || !forks_) return;
      ++*s_.processes;
      auto it = depth_.find(e.parent_process());
      uint32_t d = it == depth_.end() ? 1 : it->second + 1;
      // Without exits in the stream nothing leaves: keep it bounded, at the price of depths
      // counted afresh after a reset.
      if (depth_.size() >= kMaxTracked) depth_.clear();
      depth_[e.process()] = d;
      s_.max_depth = std::max(*s_.max_depth, d);
    } else if (const auto* x = std::get_if<ExecData>(&e.data)) {
      if (!execs_) return;
      ++*s_.execs;
      if (x->details) ++command(command_name(x->details->argv, x->details->comm)).count;
    } else if (const auto* ex = std::get_if<ExitData>(&e.data)) {
      if (!ex->ends_process(e)) return;
      depth_.erase(e.process());
      const ExitDetails* d = ex->details.get();
      const std::string name = name_of(d);
      if (ex->status(e) != 0 && s_.failed) {
        ++*s_.failed;
        fail(e, name, ex->status(e), 0);
      }
      if (!all_exits_) return;
      ++*s_.exits;
      // Its start known only to /proc's clock ticks: it was running before the start.
      if (!d || !d->duration_ns || d->duration_approximate) ++*s_.exits_started_before;
      if (!d || !d->duration_ns) return;
      Totals& t = command(name);
      ++t.ended;
      t.total_ns += *d->duration_ns;
      s_.slowest.push_back({e.pid, name, *d->duration_ns});
      std::sort(s_.slowest.begin(), s_.slowest.end(),
                [](const auto& a, const auto& b) { return a.duration_ns > b.duration_ns; });
      if (s_.slowest.size() > top_) s_.slowest.resize(top_);
    } else if (const auto* xf = std::get_if<ExecFailedData>(&e.data)) {
      if (!s_.exec_failed) return;
      ++*s_.exec_failed;
      fail(e, command_name(xf->argv, xf->comm), 0, xf->error);
    } else if (const auto* l = std::get_if<LostData>(&e.data)) {
      s_.lost += l->count.value_or(0);
    }
  }

  Status emit(bool final) {
    SummaryData s = s_;
    s.final = final;
    const uint64_t now = stream_time_ ? last_ts_ : monotonic_now_ns();
    s.elapsed_ns = now - (stream_time_ ? first_ts_ : start_ns_);
    std::vector<SummaryData::Command> all;
    all.reserve(commands_.size());
    for (const auto& [name, t] : commands_) all.push_back({name, t.count, t.ended, t.total_ns});
    // Ties in name order, so the same totals always print the same way.
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    auto top = [this](std::vector<SummaryData::Command> list, auto key) {
      list.erase(
          std::remove_if(list.begin(), list.end(), [&](const auto& c) { return key(c) == 0; }),
          list.end());
      std::stable_sort(list.begin(), list.end(),
                       [&](const auto& a, const auto& b) { return key(a) > key(b); });
      if (list.size() > top_) list.resize(top_);
      return list;
    };
    s.by_count = top(all, [](const SummaryData::Command& c) { return c.count; });
    s.by_time = top(all, [](const SummaryData::Command& c) { return c.total_ns; });
    if (exporters_) s.exporters = exporters_();
    Event e;
    e.ts_ns = std::max(now, last_ts_);
    e.wall_ns = stream_time_ ? last_wall_ : ClockSync{}.to_wall_ns(e.ts_ns);
    e.data = std::move(s);
    return inner_->write(std::span<const Event>(&e, 1));
  }

  std::function<std::vector<SummaryData::Exporter>()> exporters_;
  std::atomic<bool>* requested_;
  size_t top_;
  const bool stream_time_;
  uint64_t start_ns_;
  uint64_t first_ts_ = 0, last_ts_ = 0;
  int64_t last_wall_ = 0;
  bool closed_ = false;
  const bool forks_, execs_, all_exits_, failures_, exec_failures_;  // what the stream carries
  SummaryData s_;
  std::unordered_map<std::string, Totals> commands_;
  std::unordered_map<ProcessKey, uint32_t, ProcessKeyHash> depth_;  // by the table's keys
};

}  // namespace

std::unique_ptr<Sink> make_summary_sink(
    std::unique_ptr<Sink> inner, std::atomic<bool>* requested, size_t top, EventMask watched,
    bool stream_time, std::function<std::vector<SummaryData::Exporter>()> exporters) {
  return std::make_unique<SummarySink>(std::move(inner), requested, top, watched, stream_time,
                                       std::move(exporters));
}

}  // namespace proctrail
