// The event model shared by every source and every sink.
//
// An Event is passive data: a kernel timestamp, the subject process and thread, and one
// payload whose alternative says what happened. Sources fill in what the kernel told them;
// enrichment adds ExecDetails / ExitDetails; sinks only read.
#pragma once

#include <array>
#include <cstddef>
#include <initializer_list>
#include <iterator>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace proctrail {

struct Event;

// Which program image of which process an event is about, from parts anyone on the machine
// can recompute: the process's pid, its start time in clock ticks since boot (the 22nd field of
// /proc/PID/stat), and its exec ordinal: 0 for the image it was forked with, or had when
// proctrail found it running; each exec seen adds one. With the machine's and the boot's ids
// (in the start record) it makes the exec_id of the output (format_exec_id, docs/output.md).
struct ProcessKey {
  int32_t pid = 0;
  uint32_t exec_ordinal = 0;
  uint64_t start_ticks = 0;  // 0: not known (only after lost events)
  [[nodiscard]] bool known() const { return pid > 0 && start_ticks > 0; }
  // The process, whatever image it runs: pid and start, ordinal 0.
  [[nodiscard]] ProcessKey process() const { return {pid, 0, start_ticks}; }
  bool operator==(const ProcessKey&) const = default;
};

struct ProcessKeyHash {
  size_t operator()(const ProcessKey& k) const noexcept {
    return std::hash<uint64_t>{}((k.start_ticks << 22) ^ static_cast<uint32_t>(k.pid) ^
                                 (uint64_t{k.exec_ordinal} << 54));
  }
};

// The machine and the boot a stream comes from: the first half of every exec_id.
struct HostIdentity {
  std::string machine_id;  // /etc/machine-id, 32 hex digits
  std::string boot_id;     // /proc/sys/kernel/random/boot_id, without dashes
  std::string hostname;
  bool operator==(const HostIdentity&) const = default;
  // This machine, now (read once).
  static const HostIdentity& local();
};

// "<machine id, 16 hex>-<boot id, 16 hex>-<pid>-<start ticks>-<exec ordinal>"; empty when the
// key is not known.
std::string format_exec_id(const HostIdentity& host, const ProcessKey& key);

// Order matters: it is the index of the matching alternative in EventData.
enum class EventType : uint8_t {
  Ack,         // the kernel's answer to a (un)subscribe request
  Fork,        // a new process or thread
  Exec,        // a process replaced its program image
  Uid,         // real/effective uid changed
  Gid,         // real/effective gid changed
  Sid,         // setsid()
  Ptrace,      // attach (tracer set) or detach (tracer 0)
  Comm,        // the thread's name changed (prctl, /proc/PID/comm)
  Coredump,    // a core dump started
  Exit,        // a thread or process exited
  Unknown,     // an event type this build does not know
  Lost,        // events were lost; count when known
  Resync,      // the process table was rebuilt from /proc after a loss
  Start,       // first record of a stream: which backend and why
  ExecFailed,  // an execve that returned an error: the caller keeps its program (eBPF only)
  Summary,     // totals of what passed the filter (--summary): at the end, or on request
};
inline constexpr size_t kEventTypeCount = 16;

// Every event type's names, in one table that every encoder, the option parser and the schema
// test read: `name` in JSON's "type" (and the other encodings), `option` for --events (empty:
// not selectable, a record about the stream), `column` in the text format's event column.
struct EventTypeInfo {
  EventType type;
  std::string_view name;
  std::string_view option;
  std::string_view column;
};
const EventTypeInfo& describe(EventType type);
std::span<const EventTypeInfo> event_types();

// describe(type).name.
std::string_view event_type_name(EventType type);
// The type whose name (JSON "type") this is.
std::optional<EventType> event_type_named(std::string_view name);

struct AckData {
  uint32_t error = 0;  // 0 on success, else a positive errno
  uint32_t nonce = 0;  // cn_msg.ack: the requester's ack value plus one
};

// pid/tid of a fork event: the parent's for a new process; for a new thread, the process
// that gains it and the new thread.
struct ForkData {
  int32_t parent_pid = 0;
  int32_t parent_tid = 0;
  int32_t child_pid = 0;
  int32_t child_tid = 0;
  // When the child's process started (CLOCK_BOOTTIME), when the kernel said (eBPF).
  std::optional<uint64_t> child_start_boottime_ns;
  // The kernel's own fields tell threads from processes: a new thread keeps the tgid.
  [[nodiscard]] bool is_thread() const { return child_pid != child_tid; }
};

enum class ArgvSource : uint8_t { Kernel, Procfs, Unavailable };
std::string_view argv_source_name(ArgvSource source);

// Where a field of ExecDetails came from.
enum class FieldSource : uint8_t { None, Kernel, Procfs, Table };
std::string_view field_source_name(FieldSource source);

// Fields of ExecDetails whose provenance is reported.
enum class Field : uint8_t { Exe, Cwd, Creds, Comm, Ppid, StartTime, Cgroup, Env, Ancestry };
inline constexpr size_t kFieldCount = 9;
std::string_view field_name(Field field);

// A list of byte strings as the kernel keeps a command line or an environment: each string's
// bytes followed by a NUL, all in one buffer. An exec with 131,000 empty arguments costs 131 KB
// here, not one string object per argument. Iteration yields each string as a view (exact
// bytes, empty strings kept).
class Strings {
 public:
  class iterator {
   public:
    using value_type = std::string_view;
    using difference_type = std::ptrdiff_t;
    using iterator_category = std::forward_iterator_tag;
    iterator() = default;
    iterator(const std::string* bytes, size_t pos) : bytes_(bytes), pos_(pos) {}
    std::string_view operator*() const;
    iterator& operator++();
    iterator operator++(int) {
      iterator old = *this;
      ++*this;
      return old;
    }
    bool operator==(const iterator& o) const { return pos_ == o.pos_; }

   private:
    const std::string* bytes_ = nullptr;
    size_t pos_ = 0;
  };

  Strings() = default;
  Strings(std::initializer_list<std::string_view> args);
  Strings(const std::vector<std::string>& args);  // NOLINT: a list of strings is one
  // From /proc/PID/cmdline's layout: arguments each ended by a NUL (a missing last NUL is
  // added; an empty area is no argument at all).
  static Strings from_nul_separated(std::string_view area);

  void push_back(std::string_view arg);
  void clear() {
    bytes_.clear();
    count_ = 0;
  }
  [[nodiscard]] size_t size() const { return count_; }
  [[nodiscard]] bool empty() const { return count_ == 0; }
  // The first argument; empty when there is none.
  [[nodiscard]] std::string_view front() const;
  [[nodiscard]] iterator begin() const { return {&bytes_, 0}; }
  [[nodiscard]] iterator end() const { return {&bytes_, bytes_.size()}; }
  // The arguments, each followed by a NUL.
  [[nodiscard]] const std::string& bytes() const { return bytes_; }
  // The arguments joined by single spaces (what --argv matches).
  [[nodiscard]] std::string joined() const;
  [[nodiscard]] std::vector<std::string> to_vector() const;
  bool operator==(const Strings& o) const { return count_ == o.count_ && bytes_ == o.bytes_; }
  bool operator==(const std::vector<std::string>& o) const { return *this == Strings(o); }

 private:
  std::string bytes_;
  size_t count_ = 0;
};
using Argv = Strings;

struct Credentials {
  uint32_t uid = 0, euid = 0, gid = 0, egid = 0;
  bool operator==(const Credentials&) const = default;
};

struct Container {
  std::string runtime;  // docker, containerd, cri-o, podman, kubernetes
  std::string id;       // 64 lower-case hex digits
  bool operator==(const Container&) const = default;
};

struct Ancestor {
  int32_t pid = 0;
  std::string comm;
  bool operator==(const Ancestor&) const = default;
};

// What identifies one program image of one process, read from /proc/PID/stat (fields 48-51).
// Every exec maps a new image with its own randomised addresses, so two reads that see the
// same identity saw the same image.
struct ImageIdentity {
  uint64_t arg_start = 0, arg_end = 0, env_start = 0, env_end = 0;
  bool operator==(const ImageIdentity&) const = default;
};

// When and what /proc was read for an exec: lets the output stage prove the read saw the
// image of this exec and not of a later one, nor another process's.
struct ProcfsRead {
  uint64_t start_ns = 0;  // CLOCK_MONOTONIC just before the first read
  uint64_t end_ns = 0;    // CLOCK_MONOTONIC after the last read
  std::optional<ImageIdentity> image;
};

struct ExecDetails {
  ArgvSource argv_source = ArgvSource::Unavailable;
  // Why fields are missing or marked; empty when everything was read cleanly.
  std::string note;

  Argv argv;                            // exact bytes, empty arguments kept
  bool argv_truncated = false;          // argv holds a prefix of the real command line
  std::optional<uint64_t> argv_bytes;   // real size of the argument area, NULs included
  std::optional<uint32_t> argc;         // real argument count, when the kernel told us
  std::optional<std::string> filename;  // path given to execve (kernel backend)
  std::optional<std::string> exe;       // resolved executable
  std::optional<std::string> cwd;
  std::optional<int32_t> ppid;
  // The thread that called execve, when it was not the main thread: the kernel gives it the
  // process's pid, and the tid it had is not seen again.
  std::optional<int32_t> exec_tid;
  std::optional<Credentials> creds;
  std::optional<std::string> user;  // name of creds->uid, filled by the output stage
  std::optional<std::string> comm;
  std::optional<uint64_t> start_boottime_ns;  // process start, CLOCK_BOOTTIME
  // The kernel's count of this process's execs, this one included (eBPF): its exec ordinal.
  std::optional<uint32_t> exec_ordinal;
  std::optional<std::string> cgroup;  // v2 path, or the v1 name=systemd / first hierarchy
  std::optional<uint64_t> cgroup_id;  // cgroup v2 id (kernel backend)
  std::optional<Container> container;
  std::optional<Strings> env;  // only with --env
  bool env_truncated = false;
  std::vector<Ancestor> ancestry;  // parent first, up to pid 1 (only with --ancestry)
  // The image a process had when proctrail found it running (the start-up scan, a resync):
  // no exec of it is in the stream, so the exit of such a process says its command line.
  bool found_running = false;

  std::array<FieldSource, kFieldCount> sources{};
  std::optional<ProcfsRead> procfs_read;

  void set_source(Field f, FieldSource s) { sources[static_cast<size_t>(f)] = s; }
  [[nodiscard]] FieldSource source(Field f) const { return sources[static_cast<size_t>(f)]; }
};

struct ExecData {
  std::shared_ptr<ExecDetails> details;  // null when enrichment is off (e.g. seed format)
};

struct UidData {
  uint32_t ruid = 0, euid = 0;
};
struct GidData {
  uint32_t rgid = 0, egid = 0;
};
struct SidData {};
struct PtraceData {
  int32_t tracer_pid = 0;  // 0: detached
  int32_t tracer_tid = 0;
};
struct CommData {
  std::string comm;  // raw bytes, at most 15
};
struct CoredumpData {
  int32_t parent_pid = 0;
  int32_t parent_tid = 0;
};

// The command of an exiting process and how long it lived, from the process table.
struct ExitDetails {
  std::optional<std::string> comm;
  // The program the process ran: its last exec, or for a child that never exec'd, the one it
  // was forked from. Shared with that exec's event, so the verdict the output stage reaches on
  // the exec's /proc read holds here too: an argv withdrawn there is not shown here either.
  std::shared_ptr<const ExecDetails> image;
  std::optional<uint64_t> duration_ns;
  bool duration_approximate = false;  // start known only to /proc's 10 ms clock ticks

  // The command line to show: the image's, while its argv is available; else empty.
  [[nodiscard]] const Argv& argv() const;
  [[nodiscard]] bool argv_truncated() const;
};

struct ExitData {
  uint32_t raw_status = 0;  // this thread's task->exit_code: wait(2) status layout
  int32_t exit_signal = 0;  // signal for the parent: SIGCHLD (17) usually, -1 for threads
  int32_t parent_pid = 0;
  int32_t parent_tid = 0;
  // Whether the process ended with this thread, its last one. A process whose main thread
  // exits first lives on; one that calls execve from another thread loses its main thread
  // too. eBPF reads this from the kernel; otherwise the process table decides from the
  // threads it has seen. Unset (no table, e.g. the seed format): the main thread's exit.
  std::optional<bool> process_ended;
  // The process's status as its parent's wait(2) sees it, when process_ended: the group exit
  // code when the process exited as a group (exit_group, a fatal signal), else the main
  // thread's own code. Unset: raw_status is the best there is.
  std::optional<uint32_t> process_status;
  std::shared_ptr<const ExitDetails> details;
  // When the process started (CLOCK_BOOTTIME), when the kernel said (eBPF).
  std::optional<uint64_t> start_boottime_ns;

  [[nodiscard]] bool ends_process(const Event& e) const;
  // The status to report: the process's when this exit ends it, else the thread's own.
  [[nodiscard]] uint32_t status(const Event& e) const;
};

struct UnknownData {
  uint32_t what = 0;
};

struct LostData {
  std::optional<uint64_t> count;  // nullopt: the kernel did not say how many
  std::string reason;
};

struct ResyncData {
  uint64_t added = 0;
  uint64_t removed = 0;
  uint64_t table_size = 0;
};

struct StartData {
  std::string backend;  // netlink, bpf
  std::string reason;   // why this backend
  std::string version;
  // Event types asked for that this setup cannot deliver, and fields it cannot read.
  std::vector<std::string> missing_events;
  std::vector<std::string> missing_fields;
  // When the process table had read the processes already running (CLOCK_MONOTONIC; 0: no
  // table). A process that ended between the start and this may be one it never saw.
  uint64_t table_ready_ns = 0;
  // Whose processes the stream shows: "all" users', or only the caller's "own" (see
  // EventFilter::owner_uid).
  std::string scope = "all";
  // The machine and boot the events come from: every exec_id in the stream starts with them.
  HostIdentity host;
  // CLOCK_BOOTTIME minus CLOCK_MONOTONIC at the start (time spent suspended before it): what
  // turns a process's start (boot time) into wall time for the events that follow.
  uint64_t boottime_offset_ns = 0;
};

// An execve or execveat that failed: the process goes on running what it ran. The path and
// argv are what the caller passed, read from its memory when the call returned.
struct ExecFailedData {
  int32_t error = 0;  // positive errno: ENOENT, EACCES, ENOEXEC ...
  std::string filename;
  Argv argv;
  bool argv_truncated = false;  // more arguments, or longer ones, than were copied
  std::optional<Credentials> creds;
  std::optional<std::string> user;  // name of creds->uid, filled by the output stage
  std::string comm;                 // the caller's
  int32_t ppid = 0;
  // A PATH search (execvp) folded into its last try: the paths tried before it, in order, that
  // failed the same way. Empty for a lone failure or with raw PATH searches.
  std::vector<std::string> tried;
};

// Totals over what passed the filter since the start (see make_summary_sink). A figure the
// summary could not see (its event type was not watched) is unset: "not watched", never 0.
struct SummaryData {
  struct Command {
    std::string name;       // argv[0]'s last component, else comm (cut to kMaxNameBytes)
    uint64_t count = 0;     // execs of it
    uint64_t ended = 0;     // processes running it that ended
    uint64_t total_ns = 0;  // their run time
  };
  struct Process {
    int32_t pid = 0;
    std::string name;
    uint64_t duration_ns = 0;
  };
  struct Failure {
    int32_t pid = 0;
    std::string name;
    uint32_t raw_status = 0;  // wait(2) status of a process that ended; 0 for a failed exec
    int32_t exec_error = 0;   // a failed exec's errno; 0 for a process that ended
  };
  static constexpr size_t kMaxNameBytes = 256;

  uint64_t elapsed_ns = 0;
  std::optional<uint64_t> processes;  // new processes (forks that are not threads)
  std::optional<uint64_t> execs;
  std::optional<uint64_t> exits;                 // processes that ended
  std::optional<uint64_t> exits_started_before;  // of those, started before the summary did
  std::optional<uint64_t> failed;                // ended with a non-zero status or a signal
  std::optional<uint64_t> exec_failed;           // execve calls that returned an error
  uint64_t lost = 0;                             // events lost, as counted by lost records
  std::optional<uint32_t> max_depth;             // deepest chain of new processes seen
  bool final = true;                             // false: asked for while running (SIGUSR1)
  // More distinct commands ran than the summary keeps (it keeps a bounded table): the counts
  // of the commands listed may be over by as much as the rarest one evicted.
  bool approximate = false;
  std::vector<Command> by_count;  // most often first
  std::vector<Command> by_time;   // most total run time first (of those that ended)
  std::vector<Process> slowest;   // longest lived first
  std::vector<Failure> failures;  // the first ones, in order
  uint64_t more_failures = 0;     // failures beyond those listed
  // What each exporter (--kafka) had done when the summary was made, as --stats says it. A
  // final summary is made before the exporters' last flush: what they deliver in it is in
  // `waiting` here, and in --stats and the words at the end.
  struct Exporter {
    std::string name;         // "kafka"
    uint64_t produced = 0;    // messages handed to it (a message sent again counts again)
    uint64_t delivered = 0;   // messages the far end confirmed
    uint64_t sent_again = 0;  // after a failure that may pass
    uint64_t failed = 0;      // refused for good: lost
    uint64_t dropped = 0;     // beyond its buffer: lost
    uint64_t waiting = 0;     // not yet delivered
  };
  std::vector<Exporter> exporters;
};

using EventData = std::variant<AckData, ForkData, ExecData, UidData, GidData, SidData, PtraceData,
                               CommData, CoredumpData, ExitData, UnknownData, LostData, ResyncData,
                               StartData, ExecFailedData, SummaryData>;
static_assert(std::variant_size_v<EventData> == kEventTypeCount);

struct Event {
  uint64_t ts_ns = 0;   // kernel timestamp, CLOCK_MONOTONIC
  int64_t wall_ns = 0;  // the same instant as CLOCK_REALTIME, set at capture
  int32_t cpu = -1;     // -1: unknown
  int32_t pid = 0;      // process (thread group) id of the subject
  int32_t tid = 0;      // thread id of the subject
  // The subject's image (exec_id): for a fork, the new process's; for an exec, the new image;
  // for any other event of a process, its current image. Set by the process table.
  ProcessKey key;
  // The image that forked the subject process (parent_exec_id).
  ProcessKey parent_key;
  // The subject process's real uid, when known: whose event it is (rate limits, scope).
  std::optional<uint32_t> uid;
  EventData data;

  [[nodiscard]] EventType type() const { return static_cast<EventType>(data.index()); }
  // The process the event is about, as the process table identified it (for a fork, the new
  // process; a thread's events, its process): views and filters keep what they know of a
  // process under this, never under a bare pid, so a reused pid is a new process to them too.
  // Where the table could not tell (after lost events) the pid stands alone, start 0.
  [[nodiscard]] ProcessKey process() const;
  // The process that forked it, the same way.
  [[nodiscard]] ProcessKey parent_process() const;
};

// A decoded wait(2)-style status as the kernel stores it in task->exit_code.
struct ExitStatus {
  bool exited = false;  // true: normal exit with code; false: killed by signal
  int code = 0;
  int signal = 0;
  bool core_dumped = false;
};
ExitStatus decode_exit_status(uint32_t raw);

// "SIGTERM", or "SIG42" for numbers without a name.
std::string signal_name(int signal);

// "ENOENT", or "E42" for numbers without a name.
std::string errno_name(int error);

// The inverses: 0 for a name that is none.
int signal_number(std::string_view name);
int errno_number(std::string_view name);

}  // namespace proctrail
