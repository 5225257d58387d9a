// StreamSink: a formatter's text written to an fd, and its file variant that reopens.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "proctrail/sink.hpp"

namespace proctrail {

namespace {

class StreamSink final : public Sink {
 public:
  StreamSink(std::unique_ptr<Formatter> formatter, int fd, bool owns_fd, bool header,
             std::string path)
      : formatter_(std::move(formatter)), fd_(fd), owns_fd_(owns_fd), path_(std::move(path)) {
    if (header) formatter_->header(buf_);
  }
  ~StreamSink() override {
    if (owns_fd_ && fd_ >= 0) ::close(fd_);
  }

  Status write(std::span<const Event> events) override {
    if (closed_) return {};
    for (const Event& e : events) {
      formatter_->format(e, buf_);
      if (buf_.size() >= kFlushAt) {
        if (auto s = flush(); !s) return s;
      }
    }
    return flush();
  }

  Status flush() override {
    size_t off = 0;
    while (off < buf_.size() && !closed_) {
      ssize_t n = ::write(fd_, buf_.data() + off, buf_.size() - off);
      if (n >= 0) {
        off += static_cast<size_t>(n);
      } else if (errno == EPIPE) {
        closed_ = true;  // the reader went away (| head): a quiet end
      } else if (errno != EINTR) {
        auto err = system_error(path_.empty() ? "write output" : "write " + path_);
        buf_.clear();
        return err;
      }
    }
    buf_.clear();
    return {};
  }

  Status close() override {
    auto s = flush();
    if (owns_fd_ && fd_ >= 0) {
      if (::close(fd_) != 0 && s) s = system_error("close " + path_);
      fd_ = -1;
    }
    return s;
  }

  Status reopen() override {
    if (path_.empty()) return {};  // a terminal or a pipe: carry on
    if (auto s = flush(); !s) return s;
    // Appends: a hang-up without a rotation must not truncate what is there.
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return system_error("reopen output " + path_);
    if (owns_fd_ && fd_ >= 0) ::close(fd_);
    fd_ = fd;
    owns_fd_ = true;
    return {};
  }

  [[nodiscard]] bool closed() const override { return closed_; }

 private:
  static constexpr size_t kFlushAt = 64 * 1024;
  std::unique_ptr<Formatter> formatter_;
  int fd_;
  bool owns_fd_;
  std::string path_;  // empty: not a file we can reopen
  std::string buf_;
  bool closed_ = false;
};

}  // namespace

std::unique_ptr<Sink> make_stream_sink(std::unique_ptr<Formatter> formatter, int fd, bool owns_fd,
                                       bool header) {
  return std::make_unique<StreamSink>(std::move(formatter), fd, owns_fd, header, std::string());
}

Result<std::unique_ptr<Sink>> open_file_sink(std::unique_ptr<Formatter> formatter,
                                             const std::string& path, bool header) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return system_error("open output " + path);
  return std::unique_ptr<Sink>(
      std::make_unique<StreamSink>(std::move(formatter), fd, true, header, path));
}

}  // namespace proctrail
