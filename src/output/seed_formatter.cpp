// The exact lines of the proc connector sample program (shared/seed/proc_events_answer.txt),
// plus lines in the same style for the event types it did not know.
#include <fmt/format.h>

#include <iterator>

#include "output/escape.hpp"
#include "proctrail/format.hpp"

namespace proctrail {

namespace {

class SeedFormatter final : public Formatter {
 public:
  void format(const Event& e, std::string& out) override {
    auto it = std::back_inserter(out);
    std::visit(
        [&](const auto& d) {
          using T = std::decay_t<decltype(d)>;
          if constexpr (std::is_same_v<T, AckData>) {
            out += "set mcast listen ok\n";
          } else if constexpr (std::is_same_v<T, ForkData>) {
            fmt::format_to(it, "fork: parent tid={} pid={} -> child tid={} pid={}\n", d.parent_tid,
                           d.parent_pid, d.child_tid, d.child_pid);
          } else if constexpr (std::is_same_v<T, ExecData>) {
            fmt::format_to(it, "exec: tid={} pid={}\n", e.tid, e.pid);
          } else if constexpr (std::is_same_v<T, UidData>) {
            fmt::format_to(it, "uid change: tid={} pid={} from {} to {}\n", e.tid, e.pid,
                           static_cast<int32_t>(d.ruid), static_cast<int32_t>(d.euid));
          } else if constexpr (std::is_same_v<T, GidData>) {
            fmt::format_to(it, "gid change: tid={} pid={} from {} to {}\n", e.tid, e.pid,
                           static_cast<int32_t>(d.rgid), static_cast<int32_t>(d.egid));
          } else if constexpr (std::is_same_v<T, SidData>) {
            fmt::format_to(it, "sid change: tid={} pid={}\n", e.tid, e.pid);
          } else if constexpr (std::is_same_v<T, PtraceData>) {
            fmt::format_to(it, "ptrace: tid={} pid={} tracer tid={} pid={}\n", e.tid, e.pid,
                           d.tracer_tid, d.tracer_pid);
          } else if constexpr (std::is_same_v<T, CommData>) {
            fmt::format_to(it, "comm: tid={} pid={} comm=", e.tid, e.pid);
            append_shell_word(out, d.comm);
            out += '\n';
          } else if constexpr (std::is_same_v<T, CoredumpData>) {
            fmt::format_to(it, "coredump: tid={} pid={} parent tid={} pid={}\n", e.tid, e.pid,
                           d.parent_tid, d.parent_pid);
          } else if constexpr (std::is_same_v<T, ExitData>) {
            fmt::format_to(it, "exit: tid={} pid={} exit_code={}\n", e.tid, e.pid,
                           static_cast<int32_t>(d.raw_status));
          } else if constexpr (std::is_same_v<T, UnknownData>) {
            out += "unhandled proc event\n";
          } else if constexpr (std::is_same_v<T, LostData>) {
            if (d.count) {
              fmt::format_to(it, "lost: count={}\n", *d.count);
            } else {
              out += "lost: count=unknown\n";
            }
          }
          // resync and start records carry nothing the seed's style can say.
        },
        e.data);
  }
};

}  // namespace

std::unique_ptr<Formatter> make_seed_formatter() {
  return std::make_unique<SeedFormatter>();
}

}  // namespace proctrail
