// Socket filters (classic BPF) that route proc connector messages between sockets.
#include "source/netlink/cn_proc.hpp"
#include "source/netlink/cn_proc_layout.hpp"

#include <arpa/inet.h>
#include <linux/filter.h>

#include <cstdlib>

namespace proctrail::cn_proc {

using namespace layout;

namespace {

// A classic BPF program ending in two returns, "keep" and "drop", that jumps can name.
class FilterBuilder {
 public:
  enum class To { Next, Keep, Drop };

  void load_word(uint32_t offset) { p_.push_back({BPF_LD | BPF_W | BPF_ABS, 0, 0, offset}); }
  void jump_if_equal(uint32_t k, To if_true, To if_false) {
    fixups_.push_back({p_.size(), if_true, if_false});
    p_.push_back({BPF_JMP | BPF_JEQ | BPF_K, 0, 0, k});
  }
  void ret(bool keep) { p_.push_back({BPF_RET | BPF_K, 0, 0, keep ? kKeep : 0u}); }

  std::vector<FilterInsn> finish() {
    const size_t keep = p_.size(), drop = keep + 1;
    ret(true);
    ret(false);
    auto offset = [&](size_t from, To to) -> uint8_t {
      if (to == To::Next) return 0;
      size_t jump = (to == To::Keep ? keep : drop) - from - 1;
      // Classic BPF jumps are 8 bits; callers keep programs short (64 CPUs at most).
      if (jump > 255) std::abort();
      return static_cast<uint8_t>(jump);
    };
    for (const auto& f : fixups_) {
      p_[f.at].jt = offset(f.at, f.if_true);
      p_[f.at].jf = offset(f.at, f.if_false);
    }
    return std::move(p_);
  }

 private:
  static constexpr uint32_t kKeep = 0xffffffffu;
  struct Fixup {
    size_t at;
    To if_true, if_false;
  };
  std::vector<FilterInsn> p_;
  std::vector<Fixup> fixups_;
};

}  // namespace

std::vector<FilterInsn> socket_filter(Route route, std::span<const int> cpus,
                                      std::optional<uint32_t> types) {
  static_assert(sizeof(FilterInsn) == sizeof(sock_filter));
  static_assert(offsetof(FilterInsn, k) == offsetof(sock_filter, k));
  // Absolute loads read from the start of the netlink message, in network byte order: the
  // constants are compared as htonl(value).
  constexpr uint32_t kWhatAt = kNlHdr + kCnHdr + offsetof(proc_event, what);
  constexpr uint32_t kCpuAt = kNlHdr + kCnHdr + offsetof(proc_event, cpu);
  using To = FilterBuilder::To;
  FilterBuilder b;
  b.load_word(kWhatAt);
  b.jump_if_equal(htonl(PROC_EVENT_NONE), To::Keep, To::Next);
  if (route == Route::All || route == Route::AllButExec) {
    if (!types) {
      if (route == Route::AllButExec) b.jump_if_equal(htonl(PROC_EVENT_EXEC), To::Drop, To::Keep);
      return b.finish();
    }
    // The kernel filter's "non-zero exit" is a kind of exit, not a message type.
    uint32_t kinds = *types;
    if (kinds & kNonzeroExit) kinds = (kinds & ~kNonzeroExit) | PROC_EVENT_EXIT;
    if (route == Route::AllButExec) kinds &= ~PROC_EVENT_EXEC;
    // One comparison per kept type; anything else, unknown types included, is dropped.
    for (uint32_t bit = 1; bit != 0; bit <<= 1) {
      if (kinds & bit) b.jump_if_equal(htonl(bit), To::Keep, To::Next);
    }
    b.ret(false);
    return b.finish();
  }
  const bool on = route == Route::ExecOnCpus;
  b.jump_if_equal(htonl(PROC_EVENT_EXEC), To::Next, To::Drop);
  b.load_word(kCpuAt);
  for (int cpu : cpus) {
    b.jump_if_equal(htonl(static_cast<uint32_t>(cpu)), on ? To::Keep : To::Drop, To::Next);
  }
  b.ret(!on);  // no listed CPU matched
  return b.finish();
}
}  // namespace proctrail::cn_proc
