// StreamSink: a formatter's text written to an fd, and its file variant that reopens.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cerrno>

#include "proctrail/sink.hpp"
#include "sink/output_file.hpp"

namespace proctrail {

// Opens an output file the way a root tool must: never through a symbolic link, never into a
// file someone else owns (a trap laid in a shared directory would let its owner read what is
// written), and readable by the caller alone whatever the umask. `flags`: O_TRUNC or O_APPEND.
Result<int> open_output(const std::string& path, int flags, const char* what) {
  // /dev/stdout, /dev/fd/3 and the like name descriptors the caller gave us, through links
  // the kernel makes: those are followed (and are no file another user could have laid).
  const bool own_fd = path == "/dev/stdout" || path == "/dev/stderr" ||
                      path.rfind("/dev/fd/", 0) == 0 || path.rfind("/proc/self/fd/", 0) == 0;
  const int follow = own_fd ? 0 : O_NOFOLLOW;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | follow | O_CLOEXEC | flags, 0600);
  if (fd < 0) {
    if (errno == ELOOP) {
      return make_error(std::string(what) + " " + path +
                        ": it is a symbolic link (an output file is never opened through one)");
    }
    const size_t slash = path.find_last_of('/');
    struct stat dir {};
    if (errno == ENOENT && slash != std::string::npos && slash > 0 &&
        stat(path.substr(0, slash).c_str(), &dir) != 0) {
      const std::string parent = path.substr(0, slash);
      return make_error(std::string(what) + " " + path + ": directory " + parent +
                        " does not exist (create it first, e.g. install -d -m 0750 " + parent +
                        "; the systemd unit and the Debian package make /var/log/proctrail)");
    }
    return system_error(std::string(what) + " " + path);
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    auto err = system_error("stat " + path);
    ::close(fd);
    return err;
  }
  if (!S_ISREG(st.st_mode)) return fd;  // a FIFO, /dev/null, a terminal: nothing to protect
  if (st.st_uid != geteuid()) {
    ::close(fd);
    return make_error(std::string(what) + " " + path + ": it belongs to uid " +
                      std::to_string(st.st_uid) +
                      ", not to this user: refused, its owner could read what is written");
  }
  if ((st.st_mode & 077) != 0 && fchmod(fd, st.st_mode & 0700) != 0) {
    auto err = system_error("make " + path + " private");
    ::close(fd);
    return err;
  }
  return fd;
}

namespace {

class StreamSink final : public Sink {
 public:
  StreamSink(std::unique_ptr<Formatter> formatter, int fd, bool owns_fd, bool header,
             std::string path, FileRotation rotation = {})
      : formatter_(std::move(formatter)),
        fd_(fd),
        owns_fd_(owns_fd),
        header_(header),
        path_(std::move(path)),
        rotation_(rotation) {
    if (header) formatter_->header(buf_);
    make_waits_cancellable();
  }
  ~StreamSink() override {
    if (owns_fd_ && fd_ >= 0) ::close(fd_);
  }

  Status write(std::span<const Event> events) override {
    if (closed_) return {};
    for (const Event& e : events) {
      const size_t before = buf_.size();
      formatter_->format(e, buf_);
      // A record never straddles two files: the file is rotated before the one that would
      // take it past the size.
      if (rotation_.max_bytes && written_ + before > 0 &&
          written_ + buf_.size() > rotation_.max_bytes) {
        std::string last = buf_.substr(before);
        buf_.resize(before);
        if (auto s = flush(); !s) return s;
        if (auto s = rotate(); !s) return s;
        buf_ += last;
      }
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
        written_ += static_cast<size_t>(n);
        last_progress_ = std::chrono::steady_clock::now();
      } else if (errno == EPIPE) {
        closed_ = true;  // the reader went away (| head): a quiet end
      } else if (errno == EAGAIN) {
        // The reader is slow, or stopped reading: wait for room, unless told to give up.
        pollfd p{fd_, POLLOUT, 0};
        (void)::poll(&p, 1, 100);
        if (cancelled_.load() && std::chrono::steady_clock::now() - last_progress_ > kGiveUpAfter) {
          const size_t left = buf_.size() - off;
          buf_.clear();
          return make_error("output blocked: " + std::to_string(left) +
                            " bytes not written when stopping (the reader of " +
                            (path_.empty() ? std::string("the output") : path_) +
                            " stopped reading)");
        }
      } else if (errno != EINTR) {
        auto err = system_error(path_.empty() ? "write output" : "write " + path_);
        buf_.clear();
        return err;
      }
    }
    buf_.clear();
    return {};
  }

  void cancel() override {
    last_progress_ = std::chrono::steady_clock::now();
    cancelled_ = true;
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
    auto opened = open_output(path_, O_APPEND, "reopen output");
    if (!opened) return opened.error();
    const int fd = *opened;
    if (owns_fd_ && fd_ >= 0) ::close(fd_);
    fd_ = fd;
    owns_fd_ = true;
    struct stat st {};
    written_ = fstat(fd_, &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
    make_waits_cancellable();
    return {};
  }

  // Carries on a file that rotates: learns its size, and writes no header in its middle.
  Status resume() {
    struct stat st {};
    if (fstat(fd_, &st) != 0) return system_error("stat " + path_);
    written_ = static_cast<size_t>(st.st_size);
    if (written_ > 0) buf_.clear();  // only the header is there yet
    return {};
  }

  // path.N-1 -> path.N ... path -> path.1, then a new path (with the header again).
  Status rotate() {
    for (unsigned i = rotation_.keep; i >= 1; --i) {
      std::string from = i == 1 ? path_ : path_ + "." + std::to_string(i - 1);
      std::string to = path_ + "." + std::to_string(i);
      if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
        return system_error("rotate " + from + " to " + to);
      }
    }
    auto opened = open_output(path_, O_TRUNC, "open output after rotating it:");
    if (!opened) return opened.error();
    const int fd = *opened;
    if (owns_fd_ && fd_ >= 0) ::close(fd_);
    fd_ = fd;
    owns_fd_ = true;
    written_ = 0;
    if (header_) {
      std::string h;
      formatter_->header(h);
      buf_.insert(0, h);
    }
    return {};
  }

  [[nodiscard]] bool closed() const override { return closed_; }

 private:
  // A pipe, FIFO or terminal can block a write for ever (its reader stopped). Such an fd is
  // opened again through /proc/self/fd as a description of our own, non-blocking, so that a
  // write waits in poll() and can be cancelled; the caller's description (a shell's stdout)
  // keeps its flags. Where that is not possible (a socket) writes stay blocking.
  void make_waits_cancellable() {
    struct stat st {};
    if (fd_ < 0 || fstat(fd_, &st) != 0 || S_ISREG(st.st_mode) || S_ISSOCK(st.st_mode)) return;
    const std::string self = "/proc/self/fd/" + std::to_string(fd_);
    int own = ::open(self.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (own < 0) return;
    if (owns_fd_) ::close(fd_);
    fd_ = own;
    owns_fd_ = true;
  }

  static constexpr size_t kFlushAt = 64 * 1024;
  std::unique_ptr<Formatter> formatter_;
  int fd_;
  bool owns_fd_;
  bool header_;
  std::string path_;  // empty: not a file we can reopen
  FileRotation rotation_;
  size_t written_ = 0;  // bytes in the current file
  std::string buf_;
  bool closed_ = false;
  std::atomic<bool> cancelled_{false};
  // When a write last got bytes out: once stopping, a reader idle this long is given up on.
  static constexpr std::chrono::seconds kGiveUpAfter{5};
  std::chrono::steady_clock::time_point last_progress_ = std::chrono::steady_clock::now();
};

}  // namespace

std::unique_ptr<Sink> make_stream_sink(std::unique_ptr<Formatter> formatter, int fd, bool owns_fd,
                                       bool header) {
  return std::make_unique<StreamSink>(std::move(formatter), fd, owns_fd, header, std::string());
}

Result<std::unique_ptr<Sink>> open_file_sink(std::unique_ptr<Formatter> formatter,
                                             const std::string& path, bool header,
                                             FileRotation rotation) {
  if (rotation.max_bytes && rotation.keep == 0) {
    return make_error("rotating " + path + " needs at least one old file kept");
  }
  // A rotated log is appended to after a restart (a service's); a plain output starts anew.
  const int mode = rotation.max_bytes ? O_APPEND : O_TRUNC;
  auto opened = open_output(path, mode, "open output");
  if (!opened) return opened.error();
  auto sink =
      std::make_unique<StreamSink>(std::move(formatter), *opened, true, header, path, rotation);
  if (rotation.max_bytes) {
    if (auto s = sink->resume(); !s) return s.error();
  }
  return std::unique_ptr<Sink>(std::move(sink));
}

}  // namespace proctrail
