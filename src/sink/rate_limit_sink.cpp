// UserRateLimitSink: one token bucket per user, refilled by the events' own timestamps, so
// the same stream is limited the same way however fast it is written.
#include <algorithm>
#include <map>

#include "model/event_size.hpp"
#include "proctrail/sink.hpp"
#include "sink/forwarding_sink.hpp"

namespace proctrail {

namespace {

// Users other than root that can hold a bucket at once; beyond it the least recently seen
// one is forgotten (and starts full again). A user is an account, so this is rarely reached.
constexpr size_t kMaxUsers = 4096;
constexpr uint32_t kUnknownUid = UINT32_MAX;  // events whose user the table does not know

class UserRateLimitSink final : public ForwardingSink {
 public:
  UserRateLimitSink(std::unique_ptr<Sink> inner, UserRateLimit limit)
      : ForwardingSink(std::move(inner)), limit_(limit) {}

  Status write(std::span<const Event> events) override {
    out_.clear();
    for (const Event& e : events) {
      if (!limited(e)) {
        out_.push_back(e);
        continue;
      }
      const uint32_t uid = e.uid.value_or(kUnknownUid);
      Bucket& b = bucket(uid, e.ts_ns);
      const double cost = static_cast<double>(approx_bytes(e));
      if (b.tokens >= cost) {
        b.tokens -= cost;
        if (b.suppressed > 0) out_.push_back(report(uid, b, e.ts_ns));
        out_.push_back(e);
      } else {
        ++b.suppressed;
      }
    }
    if (out_.empty()) return {};
    return inner_->write(out_);
  }
  // What is still suppressed is said before the end.
  Status close() override {
    out_.clear();
    for (auto& [uid, b] : buckets_) {
      if (b.suppressed > 0) out_.push_back(report(uid, b, b.last_ns));
    }
    if (!out_.empty()) {
      if (auto s = inner_->write(out_); !s) {
        (void)inner_->close();
        return s;
      }
    }
    return inner_->close();
  }

 private:
  struct Bucket {
    double tokens = 0;
    uint64_t last_ns = 0;
    uint64_t suppressed = 0;
  };

  // Events of processes: limited unless they are root's. Records about the stream pass.
  static bool limited(const Event& e) {
    switch (e.type()) {
      case EventType::Ack:
      case EventType::Lost:
      case EventType::Resync:
      case EventType::Start:
      case EventType::Summary:
      case EventType::Unknown:
        return false;
      default:
        return e.uid != 0u;
    }
  }

  Bucket& bucket(uint32_t uid, uint64_t now_ns) {
    auto it = buckets_.find(uid);
    if (it == buckets_.end()) {
      if (buckets_.size() >= kMaxUsers) {
        auto oldest = std::min_element(
            buckets_.begin(), buckets_.end(),
            [](const auto& a, const auto& b) { return a.second.last_ns < b.second.last_ns; });
        buckets_.erase(oldest);
      }
      it = buckets_.emplace(uid, Bucket{static_cast<double>(limit_.burst_bytes), now_ns, 0}).first;
    }
    Bucket& b = it->second;
    if (now_ns > b.last_ns) {
      const double refill = static_cast<double>(now_ns - b.last_ns) / 1e9 *
                            static_cast<double>(limit_.bytes_per_second);
      b.tokens = std::min(static_cast<double>(limit_.burst_bytes), b.tokens + refill);
      b.last_ns = now_ns;
    }
    return b;
  }

  Event report(uint32_t uid, Bucket& b, uint64_t ts) const {
    Event l;
    l.ts_ns = ts;
    l.data =
        LostData{b.suppressed, "rate limit: events of " +
                                   (uid == kUnknownUid ? std::string("processes of unknown users")
                                                       : "uid " + std::to_string(uid)) +
                                   " over " + std::to_string(limit_.bytes_per_second) +
                                   " bytes/s were suppressed (the per-user rate limit)"};
    b.suppressed = 0;
    return l;
  }

  UserRateLimit limit_;
  std::map<uint32_t, Bucket> buckets_;
  std::vector<Event> out_;
};

}  // namespace

std::unique_ptr<Sink> make_user_rate_limit_sink(std::unique_ptr<Sink> inner, UserRateLimit limit) {
  return std::make_unique<UserRateLimitSink>(std::move(inner), limit);
}

}  // namespace proctrail
