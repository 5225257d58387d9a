// SummarySink: totals over what passes, written as one summary record at the end or on
// request.
#include <algorithm>
#include <map>
#include <unordered_map>

#include "proctrail/sink.hpp"
#include "util/clock.hpp"

namespace proctrail {

namespace {

// The name a command is counted under: argv[0]'s last path component, else the comm.
std::string command_name(const std::vector<std::string>& argv,
                         const std::optional<std::string>& comm) {
  if (!argv.empty() && !argv[0].empty()) {
    const std::string& a = argv[0];
    size_t slash = a.find_last_of('/');
    if (slash == std::string::npos) return a;
    if (slash + 1 < a.size()) return a.substr(slash + 1);
  }
  return comm.value_or("?");
}

class SummarySink final : public Sink {
 public:
  SummarySink(std::unique_ptr<Sink> inner, std::atomic<bool>* requested, size_t top)
      : inner_(std::move(inner)), requested_(requested), top_(top), start_ns_(monotonic_now_ns()) {}

  Status write(std::span<const Event> events) override {
    for (const Event& e : events) count(e);
    if (auto s = inner_->write(events); !s) return s;
    return tick();
  }
  Status flush() override { return inner_->flush(); }
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
  Status reopen() override { return inner_->reopen(); }
  Status tick() override {
    if (requested_ && requested_->exchange(false)) {
      if (auto s = emit(false); !s) return s;
      if (auto s = inner_->flush(); !s) return s;
    }
    return inner_->tick();
  }
  [[nodiscard]] bool closed() const override { return inner_->closed(); }

 private:
  struct Totals {
    uint64_t count = 0, total_ns = 0;
  };

  void count(const Event& e) {
    last_ts_ = std::max(last_ts_, e.ts_ns);
    if (const auto* f = std::get_if<ForkData>(&e.data)) {
      if (f->is_thread()) return;
      ++s_.processes;
      auto it = depth_.find(f->parent_pid);
      uint32_t d = it == depth_.end() ? 1 : it->second + 1;
      // Without exits in the stream (-e fork,exec) nothing leaves: keep it bounded, at the
      // price of depths counted afresh after a reset.
      if (depth_.size() >= kMaxTracked) depth_.clear();
      depth_[f->child_pid] = d;
      s_.max_depth = std::max(s_.max_depth, d);
    } else if (const auto* x = std::get_if<ExecData>(&e.data)) {
      ++s_.execs;
      if (x->details) ++commands_[command_name(x->details->argv, x->details->comm)].count;
    } else if (const auto* ex = std::get_if<ExitData>(&e.data)) {
      if (!ex->ends_process(e)) return;
      ++s_.exits;
      if (ex->status(e) != 0) ++s_.failed;
      depth_.erase(e.pid);
      if (!ex->details || !ex->details->duration_ns) return;
      const ExitDetails& d = *ex->details;
      std::string name =
          d.image ? command_name(d.image->argv, d.image->comm) : command_name({}, d.comm);
      commands_[name].total_ns += *d.duration_ns;
      timed_[name] = true;
      slowest_.push_back({e.pid, name, *d.duration_ns});
      std::sort(slowest_.begin(), slowest_.end(),
                [](const auto& a, const auto& b) { return a.duration_ns > b.duration_ns; });
      if (slowest_.size() > top_) slowest_.resize(top_);
    } else if (std::holds_alternative<ExecFailedData>(e.data)) {
      ++s_.exec_failed;
    } else if (const auto* l = std::get_if<LostData>(&e.data)) {
      s_.lost += l->count.value_or(0);
    }
  }

  Status emit(bool final) {
    SummaryData s = s_;
    s.final = final;
    const uint64_t now = monotonic_now_ns();
    s.elapsed_ns = now - start_ns_;
    std::vector<SummaryData::Command> all;
    for (const auto& [name, t] : commands_) all.push_back({name, t.count, t.total_ns});
    auto by_count = all;
    std::stable_sort(by_count.begin(), by_count.end(),
                     [](const auto& a, const auto& b) { return a.count > b.count; });
    if (by_count.size() > top_) by_count.resize(top_);
    std::vector<SummaryData::Command> by_time;
    for (const auto& c : all) {
      if (timed_.count(c.name)) by_time.push_back(c);
    }
    std::stable_sort(by_time.begin(), by_time.end(),
                     [](const auto& a, const auto& b) { return a.total_ns > b.total_ns; });
    if (by_time.size() > top_) by_time.resize(top_);
    s.by_count = std::move(by_count);
    s.by_time = std::move(by_time);
    s.slowest = slowest_;
    Event e;
    e.ts_ns = std::max(now, last_ts_);
    e.wall_ns = ClockSync{}.to_wall_ns(e.ts_ns);
    e.data = std::move(s);
    return inner_->write(std::span<const Event>(&e, 1));
  }

  std::unique_ptr<Sink> inner_;
  std::atomic<bool>* requested_;
  size_t top_;
  uint64_t start_ns_;
  uint64_t last_ts_ = 0;
  bool closed_ = false;
  SummaryData s_;
  std::map<std::string, Totals> commands_;  // by name: a stable order for ties
  std::map<std::string, bool> timed_;
  std::vector<SummaryData::Slow> slowest_;
  static constexpr size_t kMaxTracked = 1 << 16;
  std::unordered_map<int32_t, uint32_t> depth_;
};

}  // namespace

std::unique_ptr<Sink> make_summary_sink(std::unique_ptr<Sink> inner, std::atomic<bool>* requested,
                                        size_t top) {
  return std::make_unique<SummarySink>(std::move(inner), requested, top);
}

}  // namespace proctrail
