#include "pipeline/pipeline.hpp"

#include "util/privileges.hpp"
#include "util/sched.hpp"

namespace proctrail {

Pipeline::Pipeline(EventSource& source, Enricher* enricher, SinkRoutes& sink,
                   PipelineOptions options)
    : source_(source),
      enricher_(enricher),
      sink_(sink),
      options_(std::move(options)),
      queue_(options_.queue_capacity, options_.queue_capacity_bytes),
      receive_(source, enricher, queue_,
               ReceiveStage::Options{
                   options_.poll_interval,
                   options_.ordering.exec_guard_ns +
                       2 * static_cast<uint64_t>(options_.poll_interval.count()) * 1'000'000}),
      output_(queue_, sink,
              OutputStage::Options{options_.ordering, options_.exclude_pid, options_.start_record,
                                   options_.output_interval}) {}

Pipeline::~Pipeline() {
  stop_ = true;
  (void)join();
}

Status Pipeline::start() {
  if (enricher_) {
    ClockSync clock;
    if (auto s = enricher_->seed(clock); !s) return s;
    // A history (the record) starts with what was running: every parent then has a row.
    if (sink_.keeps_history()) {
      if (auto s = sink_.running(enricher_->running(clock)); !s) return s;
    }
    if (enricher_->tracks_processes()) output_.table_ready(monotonic_now_ns());
  }
  joined_ = false;
  writer_ = std::thread([this] {
    // Formatting and writing need no privilege at all.
    (void)drop_capabilities({});
    output_status_ = output_.run(output_closed_, reopens_);
    if (!output_status_ || output_closed_) give_up_ = true;  // nobody takes the queue any more
    done_writing_ = true;
    done_writing_.notify_all();
  });
  receiver_ = std::thread([this] {
    // Raised only here: the writer must not inherit it. The receive thread runs the exec
    // handlers when nobody else does (eBPF, or netlink without readers): it reads /proc, and
    // reads the eBPF maps.
    if (options_.priority != Priority::Normal) {
      priority_ = "receive thread: " + raise_thread_priority(options_.priority);
    }
    (void)drop_capabilities(options_.receive_capabilities);
    receiver_ready_ = true;
    receiver_ready_.notify_one();
    receive_status_ = receive_.run(stop_, give_up_);
    done_receiving_ = true;
    queue_.close();
  });
  receiver_ready_.wait(false);  // so stats() can tell the priority it got
  return {};
}

Status Pipeline::join(std::chrono::milliseconds timeout) {
  if (joined_) return receive_status_ ? output_status_ : receive_status_;
  if (receiver_.joinable()) receiver_.join();
  // The receive side is done and has closed the queue: the writer has what is left to write.
  // After `timeout` the sinks are told to give up a write whose reader makes no progress.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done_writing_.load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!done_writing_.load()) sink_.cancel();
  if (writer_.joinable()) writer_.join();
  joined_ = true;
  if (!receive_status_) return receive_status_;
  return output_status_;
}

Status Pipeline::run(const std::atomic<bool>& stop) {
  if (auto s = start(); !s) return s;
  while (!stop.load() && !finished()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  request_stop();
  return join();
}

PipelineStats Pipeline::stats() const {
  PipelineStats s;
  s.queue_drops = receive_.queue_drops();
  s.resyncs = receive_.resyncs();
  s.execs = output_.execs();
  s.argv_kernel = output_.argv_kernel();
  s.argv_procfs = output_.argv_procfs();
  s.argv_unavailable = output_.argv_unavailable();
  s.superseded = output_.superseded();
  s.written = output_.written();
  s.priority = priority_;
  return s;
}

}  // namespace proctrail
