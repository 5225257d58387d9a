#include "source/netlink/exec_readers.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>

#include "util/privileges.hpp"

namespace proctrail::netlink {

namespace {

// Readers wake at least this often, so an idle CPU does not hold the watermark back.
constexpr std::chrono::milliseconds kIdleWake{50};
// take() returns early when the readers have queued this many events.
constexpr size_t kInboxHighWater = 8192;

}  // namespace

ExecReaders::~ExecReaders() {
  stop_ = true;
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

Status ExecReaders::start(const std::vector<Channel*>& channels, const ExecHandlerFactory& factory,
                          Priority priority, std::vector<int> keep) {
  keep_ = std::move(keep);
  wake_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_.valid()) return system_error("create eventfd");
  channels_ = channels;
  factory_ = factory;
  priority_ = priority;
  const uint64_t now = monotonic_now_ns();
  drained_.assign(channels_.size(), now);
  for (size_t i = 0; i < channels_.size(); ++i) threads_.emplace_back([this, i] { run(i); });
  // Each reader says what priority it got as its first act; -v reports it.
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return priorities_.size() == channels_.size(); });
  return {};
}

std::string ExecReaders::priorities() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> kinds = priorities_;
  std::sort(kinds.begin(), kinds.end());
  kinds.erase(std::unique(kinds.begin(), kinds.end()), kinds.end());
  std::string out;
  for (const auto& k : kinds) out += (out.empty() ? "" : "; ") + k;
  return out;
}

void ExecReaders::run(size_t index) {
  Channel& c = *channels_[index];
  if (c.cpu() >= 0) pin_thread_to_cpu(c.cpu());  // unpinned, it still works, only later
  std::string got = raise_thread_priority(priority_);
  // From here on a reader only receives on its subscribed socket and reads /proc, which for
  // another user's process takes CAP_SYS_PTRACE (and CAP_DAC_READ_SEARCH for an environment,
  // with --env): it keeps those alone.
  (void)drop_capabilities(keep_);
  {
    std::lock_guard lock(mu_);
    priorities_.push_back(std::move(got));
  }
  cv_.notify_all();
  ExecHandler handler = factory_ ? factory_() : ExecHandler{};
  auto bufs = std::make_unique<RecvBuffers>();
  c.set_receive_timeout(kIdleWake);
  std::vector<Received> got_now;
  const Channel::OnMessage on_message = [&](cn_proc::Message&& m) {
    accept_(std::move(m), &handler, got_now);
  };
  while (!stop_) {
    got_now.clear();
    uint64_t drained = 0;
    Status s = c.receive(*bufs, true, on_message, &drained);
    // The events and the time the socket was found empty are published together: take() must
    // never report a drain time that covers events it has not handed over.
    std::lock_guard lock(mu_);
    if (!s) {
      if (!error_) error_ = s.error();
      cv_.notify_all();
      return;
    }
    if (drained > drained_[index]) drained_[index] = drained;
    if (got_now.empty()) continue;
    const bool was_empty = inbox_.empty();
    for (auto& g : got_now) inbox_.push_back(std::move(g));
    if (was_empty && wake_wanted_.load(std::memory_order_relaxed)) {
      uint64_t one = 1;
      (void)!write(wake_.get(), &one, sizeof one);  // for embedders polling the fd
    }
    if (inbox_.size() >= kInboxHighWater) cv_.notify_all();
  }
}

Status ExecReaders::take(std::chrono::milliseconds timeout, std::vector<Received>& out,
                         uint64_t* drained_ns) {
  // Exec events were handled by the readers already; nothing here is urgent, so the caller
  // wakes on time, not per event.
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [this] { return inbox_.size() >= kInboxHighWater || error_; });
  if (error_) return *error_;
  for (auto& r : inbox_) out.push_back(std::move(r));
  inbox_.clear();
  if (wake_wanted_.load(std::memory_order_relaxed)) {
    uint64_t drain_wake;
    (void)!read(wake_.get(), &drain_wake, sizeof drain_wake);  // empty again, under the lock
  }
  *drained_ns = *std::min_element(drained_.begin(), drained_.end());
  return {};
}

}  // namespace proctrail::netlink
