// JsonLinesSource: a JSON Lines stream that proctrail wrote, read back as events.
//
// The lines are in the order the monitor wrote them, which is timestamp order, so the
// watermark is simply the newest timestamp read; at the end of the input it is the end of
// time and the source is exhausted. The input may be a file or a pipe from a running
// proctrail: reads wait in poll(2), never longer than the caller's timeout.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "proctrail/format.hpp"
#include "proctrail/source.hpp"
#include "source/replay/replayed.hpp"
#include "util/unique_fd.hpp"

namespace proctrail {

namespace {

// A line longer than this is not one proctrail wrote (its argv and env are bounded far
// below): an error, not unbounded memory.
constexpr size_t kMaxLine = 64u << 20;
// Events handed out per poll, so that one poll of a large file does not hold it all.
constexpr size_t kEventsPerPoll = 4096;

class JsonLinesSource final : public EventSource {
 public:
  JsonLinesSource(UniqueFd fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {}

  void set_exec_handler(ExecHandlerFactory) override {}
  Status start() override { return {}; }

  Status poll(std::chrono::milliseconds timeout, std::vector<Event>& out) override {
    size_t given = 0;
    for (;;) {
      // Whole lines already read first.
      while (given < kEventsPerPoll) {
        const size_t nl = buffer_.find('\n', start_);
        if (nl == std::string::npos) break;
        std::string_view line(buffer_.data() + start_, nl - start_);
        start_ = nl + 1;
        if (auto s = take(line, out, given); !s) return s;
      }
      if (given >= kEventsPerPoll || eof_) break;
      compact();
      if (buffer_.size() - start_ > kMaxLine) {
        return make_error(name_ + ": line " + std::to_string(decoder_.lines() + 1) +
                          ": longer than " + std::to_string(kMaxLine >> 20) +
                          " MiB: not a line proctrail wrote");
      }
      pollfd p{fd_.get(), POLLIN, 0};
      const int ms = given > 0 ? 0 : static_cast<int>(timeout.count());
      const int r = ::poll(&p, 1, ms);
      if (r < 0 && errno == EINTR) break;
      if (r < 0) return make_error(name_ + ": " + std::strerror(errno));
      if (r == 0) break;
      char chunk[1 << 16];
      const ssize_t n = ::read(fd_.get(), chunk, sizeof chunk);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) break;
      if (n < 0) return make_error(name_ + ": " + std::strerror(errno));
      if (n == 0) {
        eof_ = true;
        // A last line without its newline is still a line.
        if (start_ < buffer_.size()) {
          std::string last = buffer_.substr(start_);
          start_ = buffer_.size();
          if (auto s = take(last, out, given); !s) return s;
        }
        break;
      }
      buffer_.append(chunk, static_cast<size_t>(n));
    }
    return {};
  }

  [[nodiscard]] uint64_t watermark_ns() const override {
    return exhausted() ? UINT64_MAX : newest_;
  }
  [[nodiscard]] int fd() const override { return fd_.get(); }
  [[nodiscard]] SourceStats stats() const override { return stats_; }
  [[nodiscard]] std::string_view name() const override { return "replay"; }
  [[nodiscard]] std::vector<std::string> notes() const override {
    return {"replaying " + name_ + ": " + std::to_string(decoder_.lines()) + " lines read"};
  }
  [[nodiscard]] bool live() const override { return false; }
  [[nodiscard]] bool exhausted() const override { return eof_ && start_ >= buffer_.size(); }

 private:
  Status take(std::string_view line, std::vector<Event>& out, size_t& given) {
    if (line.empty()) {
      decoder_.skip_line();
      return {};
    }
    auto e = decoder_.decode(line);
    if (!e) return e.error().context(name_);
    hand_out_replayed(std::move(*e), stats_, newest_, out);
    ++given;
    return {};
  }

  void compact() {
    if (start_ > 0) {
      buffer_.erase(0, start_);
      start_ = 0;
    }
  }

  UniqueFd fd_;
  std::string name_;
  JsonDecoder decoder_;
  std::string buffer_;
  size_t start_ = 0;
  bool eof_ = false;
  uint64_t newest_ = 0;
  SourceStats stats_;
};

}  // namespace

Result<std::unique_ptr<EventSource>> open_json_lines_source(const std::string& path) {
  if (path.empty()) return make_error("replay: no file given");
  if (path == "-") {
    int fd = ::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
    if (fd < 0) return make_error(std::string("replay: standard input: ") + std::strerror(errno));
    return std::unique_ptr<EventSource>(new JsonLinesSource(UniqueFd(fd), "standard input"));
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(path + ": " + std::strerror(errno));
  return std::unique_ptr<EventSource>(new JsonLinesSource(UniqueFd(fd), path));
}

}  // namespace proctrail
