#include "pipeline/event_orderer.hpp"

#include <algorithm>
#include <cerrno>
#include <string_view>

#include "model/event_size.hpp"

namespace proctrail {

void EventOrderer::push(Event e) {
  if (e.type() == EventType::Lost) verifier_.on_loss(e.ts_ns);
  Key key{e.ts_ns, arrivals_++};
  verifier_.add(key, e);
  bytes_ += approx_bytes(e);
  if (events_.empty() || events_.back().first < key) {
    events_.emplace_back(key, std::move(e));  // in order: nearly always
    return;
  }
  auto at = std::upper_bound(events_.begin(), events_.end(), key,
                             [](const Key& k, const Held& h) { return k < h.first; });
  events_.emplace(at, key, std::move(e));
}

void EventOrderer::release(Iter it, std::vector<Event>& out) {
  verifier_.remove(it->first, it->second);
  bytes_ -= std::min(bytes_, approx_bytes(it->second));
  out.push_back(std::move(it->second));
  events_.erase(it);  // the front: O(1)
}

namespace {

std::string_view basename_of(std::string_view path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// The errors execvp moves on to the next PATH directory after.
bool search_error(int error) {
  return error == ENOENT || error == ENOTDIR || error == EACCES;
}

constexpr size_t kMaxTried = 64;

}  // namespace

EventOrderer::Fold EventOrderer::fold_path_search(Iter it, bool force) {
  auto* f = std::get_if<ExecFailedData>(&it->second.data);
  if (!f || !options_.fold_path_searches || !search_error(f->error)) return Fold::Keep;
  const uint64_t horizon = it->first.first + options_.path_search_window_ns;
  // The next event of this process within the window tells what the try was part of. Only
  // an event the watermark has passed is known to be the next: none can still come before it.
  const int32_t pid = it->second.pid;
  for (Iter next = std::next(it); next != events_.end() && next->first.first <= horizon; ++next) {
    if (next->first.first > watermark_ && !force) break;
    if (next->second.pid != pid) continue;
    if (next->second.type() == EventType::Exec) return Fold::Drop;  // the search succeeded
    auto* later = std::get_if<ExecFailedData>(&next->second.data);
    if (later && search_error(later->error) &&
        basename_of(later->filename) == basename_of(f->filename)) {
      // The next directory tried: this try goes into its list.
      std::vector<std::string> tried = std::move(f->tried);
      tried.push_back(std::move(f->filename));
      tried.insert(tried.end(), std::make_move_iterator(later->tried.begin()),
                   std::make_move_iterator(later->tried.end()));
      if (tried.size() > kMaxTried) tried.erase(tried.begin(), tried.end() - kMaxTried);
      later->tried = std::move(tried);
      return Fold::Drop;
    }
    return Fold::Keep;  // something else happened to the process first
  }
  // Nothing of the process yet: wait for its next event, or the end of the window.
  if (watermark_ < horizon && !force) return Fold::Wait;
  return Fold::Keep;
}

void EventOrderer::advance(uint64_t watermark_ns, std::vector<Event>& out) {
  if (watermark_ns > watermark_) watermark_ = watermark_ns;
  while (!events_.empty()) {
    Iter it = events_.begin();
    const bool overfull =
        events_.size() > options_.max_pending || bytes_ > options_.max_pending_bytes;
    if (it->first.first > watermark_ && !overfull) break;
    if (!verifier_.settle(it->first, it->second, watermark_, overfull, verify::kTooManyHeld)) {
      break;  // its verdict needs later events
    }
    const Fold fold = fold_path_search(it, overfull);
    if (fold == Fold::Wait) break;
    if (fold == Fold::Drop) {
      verifier_.remove(it->first, it->second);
      bytes_ -= std::min(bytes_, approx_bytes(it->second));
      events_.erase(it);
      ++folded_;
      continue;
    }
    release(it, out);
  }
}

void EventOrderer::finish(std::vector<Event>& out) {
  while (!events_.empty()) {
    Iter it = events_.begin();
    verifier_.settle(it->first, it->second, watermark_, true, verify::kStopped);
    if (fold_path_search(it, true) == Fold::Drop) {
      verifier_.remove(it->first, it->second);
      events_.erase(it);
      ++folded_;
      continue;
    }
    release(it, out);
  }
}

}  // namespace proctrail
