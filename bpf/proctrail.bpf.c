/* proctrail's kernel side: fork, exec and exit records into a ring buffer.
 *
 * Attached to BTF-enabled tracepoints (tp_btf), which need neither kprobes nor tracefs. At
 * sched_process_exec the new program image is installed but not yet running, so the argument
 * area, credentials, comm and paths read here are the exec's own: no later exec, exit or
 * argv rewrite can change them. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "proctrail_events.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Named here so that every record's layout is in the object's BTF, where a unit test compares
 * it with the C++ compiler's view (records built in locals would otherwise be left out). */
const struct pt_fork* pt_fork_btf __attribute__((unused));
const struct pt_exit* pt_exit_btf __attribute__((unused));
const struct pt_exec_failed* pt_exec_failed_btf __attribute__((unused));

/* Set by user space before loading. */
const volatile __u32 max_args = 128 * 1024; /* < PT_ARGS_MAX */
/* Wake the consumer for every exec (it reads /proc for each) instead of by the fill level. */
const volatile __u8 wake_on_exec = 0;
/* Wake the consumer once this much data is waiting (it also polls on a timer). */
const volatile __u32 wake_bytes = 1u << 20;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 2u << 20); /* resized by user space */
} events SEC(".maps");

/* Losses, per CPU: [0] records that did not fit in the ring buffer, [1] new processes of a
 * followed tree that could not be added to `followed` (it was full). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, __u64);
} drops SEC(".maps");

/* -p: only the processes (tgids) in `followed` are reported; a new process joins when its
 * parent is followed and leaves when it ends. Seeded by user space. */
const volatile __u8 follow_trees = 0;
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, 1); /* resized by user space when trees are followed */
  __type(key, __s32);
  __type(value, __u8);
} followed SEC(".maps");

/* Processes whose end was reported. Two threads that exit at once can both find the
 * process's live count at zero; the first to claim the process reports its end. Keyed by
 * (tgid, start time of the process) so a reused pid is a new key; LRU, so it never fills. */
struct process_key {
  __s32 tgid;
  __u32 pad;
  __u64 start_ns;
};
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 4096);
  __type(key, struct process_key);
  __type(value, __u8);
} ended SEC(".maps");

/* Where the main thread's exit is, for processes with other threads (enum pt_main_mark; see
 * pt_exit_ends_process). Needed only until the main thread is a zombie, which its exit_state
 * says from then on; LRU, so it never fills. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 4096);
  __type(key, struct process_key);
  __type(value, __u32);
} mains_out SEC(".maps");

/* How many execs each process has done since the programs were loaded: the exec ordinal of
 * its exec_id. Kept on the task itself, so it goes with the process and needs no key. */
struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, __u32);
} exec_ordinals SEC(".maps");

/* kernel/sched/signal.h: the process is exiting as a group (exit_group, a fatal signal). */
#define PT_SIGNAL_GROUP_EXIT 0x00000004

/* Room to build an exec record, one per CPU (an array: too big for a per-CPU map). The
 * tracepoint runs with preemption off, so a CPU's slot has one user at a time. */
struct scratch {
  struct pt_exec exec;
  char args[PT_ARGS_MAX];
  char filename[PT_PATH_MAX];
  char exe[PT_PATH_MAX];
  char cwd[PT_PATH_MAX];
  const unsigned char* names[PT_PATH_DEPTH];
  __u32 lens[PT_PATH_DEPTH];
  /* The path walk's counters live here, not in the loop's context on the stack: a value read
   * from a map is just "some number" to the verifier, so every pass of a loop looks the same
   * to it and it checks the step once. Kept on the stack, each count (0, 1, 2 ...) would be a
   * state of its own, and on_exec took half a second to verify. */
  __u32 walk_n;   /* components collected, leaf first */
  __u32 walk_pos; /* bytes written */
  /* A failed exec's record and the state of its argument copy (same reasoning). */
  struct pt_exec_failed failed;
  const char* const* argv;
  __u32 args_pos;
};
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1); /* set to the number of possible CPUs by user space */
  __type(key, __u32);
  __type(value, struct scratch);
} scratch_map SEC(".maps");

static __always_inline void count_loss(__u32 what) {
  __u64* n = bpf_map_lookup_elem(&drops, &what);
  if (n) __sync_fetch_and_add(n, 1);
}

static __always_inline void count_drop(void) {
  count_loss(0);
}

static __always_inline int is_followed(__s32 tgid) {
  return !follow_trees || bpf_map_lookup_elem(&followed, &tgid) != 0;
}

/* This CPU's scratch slot (slot 0 if the map has fewer), or null, counted as a loss. */
static __always_inline struct scratch* scratch_slot(void) {
  __u32 zero = 0, cpu = bpf_get_smp_processor_id();
  struct scratch* s = bpf_map_lookup_elem(&scratch_map, &cpu);
  if (!s) s = bpf_map_lookup_elem(&scratch_map, &zero);
  if (!s) count_drop(); /* no room to build the record: it is lost, and counted as such */
  return s;
}

static __always_inline __u64 wakeup_flags(int is_exec) {
  if (is_exec && wake_on_exec) return BPF_RB_FORCE_WAKEUP;
  return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wake_bytes ? BPF_RB_FORCE_WAKEUP
                                                                     : BPF_RB_NO_WAKEUP;
}

/* The task's real and effective uid and gid. */
static __always_inline void read_creds(struct task_struct* t, __u32* uid, __u32* euid, __u32* gid,
                                       __u32* egid) {
  const struct cred* cred = BPF_CORE_READ(t, cred);
  *uid = BPF_CORE_READ(cred, uid.val);
  *euid = BPF_CORE_READ(cred, euid.val);
  *gid = BPF_CORE_READ(cred, gid.val);
  *egid = BPF_CORE_READ(cred, egid.val);
}

static __always_inline void fill_header(struct pt_header* h, __u32 type, struct task_struct* t) {
  h->ts_ns = bpf_ktime_get_ns();
  h->type = type;
  h->cpu = bpf_get_smp_processor_id();
  h->pid = BPF_CORE_READ(t, tgid);
  h->tid = BPF_CORE_READ(t, pid);
}

/* Path walking, in two bpf_loop passes so the verifier checks each step once. */
enum walk_state { WALKING, AT_ROOT, TOO_LONG, UNREACHABLE };

struct path_walk {
  struct scratch* s; /* with the counters: s->walk_n, s->walk_pos */
  struct vfsmount* vfsmnt;
  struct mount* mnt;
  struct dentry* dentry;
  int which; /* 0: exe, 1: cwd */
  int state; /* enum walk_state */
};

/* One step up from w->dentry: a component, or a mount crossing, or the end. */
static long walk_up(__u32 i, void* ctx) {
  struct path_walk* w = ctx;
  /* Copy out of w first: CO-RE reads must name kernel types only. */
  struct vfsmount* vfsmnt = w->vfsmnt;
  struct mount* mnt = w->mnt;
  struct dentry* dentry = w->dentry;
  struct dentry* mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
  struct dentry* parent = BPF_CORE_READ(dentry, d_parent);
  if (dentry == mnt_root || dentry == parent) {
    if (dentry != mnt_root) {
      w->state = UNREACHABLE; /* a detached tree: no name from the root */
      return 1;
    }
    struct mount* up = BPF_CORE_READ(mnt, mnt_parent);
    if (up == mnt) {
      w->state = AT_ROOT;
      return 1;
    }
    w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
    w->mnt = up;
    w->vfsmnt = &up->mnt;
    return 0;
  }
  struct scratch* s = w->s;
  __u32 n = s->walk_n;
  if (n >= PT_PATH_DEPTH) {
    w->state = TOO_LONG;
    return 1;
  }
  s->names[n] = BPF_CORE_READ(dentry, d_name.name);
  s->lens[n] = BPF_CORE_READ(dentry, d_name.len);
  s->walk_n = n + 1;
  w->dentry = parent;
  return 0;
}

/* Writes component i counted from the root: "/" and its name. */
static long write_down(__u32 i, void* ctx) {
  struct path_walk* w = ctx;
  struct scratch* s = w->s;
  __u32 n = s->walk_n;
  if (i >= n) return 1;
  __u32 idx = n - 1 - i;
  if (idx >= PT_PATH_DEPTH) return 1;
  __u32 len = s->lens[idx];
  __u32 pos = s->walk_pos;
  if (len > 255 || pos > PT_PATH_MAX - 258) {
    w->state = TOO_LONG;
    return 1;
  }
  char* out = w->which ? s->cwd : s->exe;
  out[pos & (PT_PATH_MAX - 1)] = '/';
  pos++;
  if (bpf_probe_read_kernel(out + (pos & (PT_PATH_MAX - 1)), len & 255, s->names[idx]) != 0) {
    w->state = TOO_LONG;
    return 1;
  }
  s->walk_pos = pos + len;
  return 0;
}

/* Writes the path of (mnt, dentry), as seen from the global root, into s->exe (which 0) or
 * s->cwd (which 1). Returns its length with the NUL, or 0 with a flag set in s->exec.flags
 * when the path is too deep or long, or not under the root. */
static __always_inline __u32 read_path(struct scratch* s, int which, struct vfsmount* vfsmnt,
                                       struct dentry* dentry) {
  /* An unlinked file's dentry is out of the hash: its name no longer leads to it. A
   * filesystem's root dentry is never hashed, and is its own parent: not deleted. */
  if (!BPF_CORE_READ(dentry, d_hash.pprev) && BPF_CORE_READ(dentry, d_parent) != dentry) {
    s->exec.flags |= which ? PT_CWD_DELETED : PT_EXE_DELETED;
  }
  s->walk_n = 0;
  s->walk_pos = 0;
  struct path_walk w = {
      .s = s,
      .vfsmnt = vfsmnt,
      .mnt = container_of(vfsmnt, struct mount, mnt),
      .dentry = dentry,
      .which = which,
      .state = WALKING,
  };
  bpf_loop(4 * PT_PATH_DEPTH, walk_up, &w, 0);
  if (w.state == AT_ROOT) bpf_loop(PT_PATH_DEPTH, write_down, &w, 0);
  if (w.state != AT_ROOT) {
    if (w.state == UNREACHABLE) {
      s->exec.flags |= which ? PT_CWD_UNREACHABLE : PT_EXE_UNREACHABLE;
    } else {
      s->exec.flags |= which ? PT_CWD_TRUNCATED : PT_EXE_TRUNCATED;
    }
    return 0;
  }
  char* out = which ? s->cwd : s->exe;
  __u32 pos = s->walk_pos;
  if (pos > PT_PATH_MAX - 2) return 0;
  if (pos == 0) out[pos++] = '/';
  out[pos & (PT_PATH_MAX - 1)] = 0;
  return pos + 1;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct* parent, struct task_struct* child) {
  if (follow_trees) {
    int is_thread = BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid);
    __s32 child_tgid = BPF_CORE_READ(child, tgid);
    __s32 owner = is_thread ? child_tgid : BPF_CORE_READ(child, real_parent, tgid);
    if (!is_followed(owner)) return 0;
    __u8 one = 1;
    if (!is_thread && bpf_map_update_elem(&followed, &child_tgid, &one, BPF_ANY) != 0) {
      count_loss(1);
    }
  }
  struct pt_fork* r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
  if (!r) {
    count_drop();
    return 0;
  }
  /* As the proc connector does: the subject is the child's real parent for a new process (the
   * caller, unless CLONE_PARENT made it the caller's parent) and the process gaining a thread
   * for a new thread; "parent" is the child's real parent either way. */
  struct task_struct* real_parent = BPF_CORE_READ(child, real_parent);
  int thread = BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid);
  fill_header(&r->h, PT_FORK, thread ? child : real_parent);
  r->parent_pid = BPF_CORE_READ(real_parent, tgid);
  r->parent_tid = BPF_CORE_READ(real_parent, pid);
  r->child_pid = BPF_CORE_READ(child, tgid);
  r->child_tid = BPF_CORE_READ(child, pid);
  r->child_start_boottime_ns = BPF_CORE_READ(child, group_leader, start_boottime);
  bpf_ringbuf_submit(r, wakeup_flags(0));
  return 0;
}

/* Whether this exit ends its process, and the claim on that end (see pt_exit_ends_process).
 * The swaps are fully ordered: a thread that reads the count at zero after the main thread
 * marked itself in finds the mark, and one that finds no mark was counted off before the main
 * thread reads the count, which then reads zero too. */
static __always_inline int claim_process_end(struct task_struct* p, __s32 tgid, __s32 tid) {
  struct signal_struct* sig = BPF_CORE_READ(p, signal);
  struct task_struct* leader = BPF_CORE_READ(p, group_leader);
  struct process_key key = {.tgid = tgid, .start_ns = BPF_CORE_READ(leader, start_time)};
  int main_thread = tgid == tid;
  __u32* mark = 0;
  __u32 mark_was = 0;
  if (main_thread && BPF_CORE_READ(sig, nr_threads) > 1) {
    /* Made with PT_MAIN_IN in it: a thread that finds the mark must not find it empty. The
     * exchange is the barrier between the mark and the read of the count. */
    __u32 in = PT_MAIN_IN;
    bpf_map_update_elem(&mains_out, &key, &in, BPF_ANY);
    mark = bpf_map_lookup_elem(&mains_out, &key);
    if (mark) __sync_lock_test_and_set(mark, PT_MAIN_IN);
  }
  long live = BPF_CORE_READ(sig, live.counter);
  int main_zombie = 0;
  if (main_thread) {
    if (live != 0 && mark) mark_was = __sync_val_compare_and_swap(mark, PT_MAIN_IN, PT_MAIN_OUT);
  } else if (live == 0) {
    main_zombie = BPF_CORE_READ(leader, exit_state) != 0;
    if (!main_zombie) {
      mark = bpf_map_lookup_elem(&mains_out, &key);
      if (mark) mark_was = __sync_val_compare_and_swap(mark, PT_MAIN_IN, PT_MAIN_AWAITED);
    }
  }
  if (!pt_exit_ends_process(live, main_thread, main_zombie, mark_was)) return 0;
  __u8 one = 1;
  return bpf_map_update_elem(&ended, &key, &one, BPF_NOEXIST) == 0;
}

/* A thread of a followed process whose end another thread has reported already: the process
 * has left the followed tree, and this is the last of it. */
static __always_inline int ended_before_this_thread(struct task_struct* p, __s32 tgid) {
  if (!follow_trees) return 0;
  struct process_key key = {.tgid = tgid, .start_ns = BPF_CORE_READ(p, group_leader, start_time)};
  return bpf_map_lookup_elem(&ended, &key) != 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct* p) {
  __s32 tgid = BPF_CORE_READ(p, tgid);
  if (!is_followed(tgid) && !ended_before_this_thread(p, tgid)) return 0;
  /* do_exit() has already taken this thread off the process's live count. At zero the
   * process is over: a main thread that called pthread_exit leaves the process to the others,
   * and a thread that calls execve takes the main thread's place. */
  int ends = claim_process_end(p, tgid, BPF_CORE_READ(p, pid));
  /* A process that ends leaves its tree now, whether or not its record fits below: a pid
   * left in the map would make whoever gets it next "followed". Only the thread that reports
   * the end: the main thread may still be to come. */
  if (follow_trees && ends) bpf_map_delete_elem(&followed, &tgid);
  struct pt_exit* r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
  if (!r) {
    count_drop();
    return 0;
  }
  fill_header(&r->h, PT_EXIT, p);
  r->start_boottime_ns = BPF_CORE_READ(p, group_leader, start_boottime);
  r->exit_code = BPF_CORE_READ(p, exit_code);
  r->exit_signal = BPF_CORE_READ(p, exit_signal);
  r->flags = 0;
  r->process_status = 0;
  if (ends) {
    struct signal_struct* sig = BPF_CORE_READ(p, signal);
    r->flags |= PT_EXIT_PROCESS_ENDED;
    /* What wait(2) will report: the group's code after a group exit, else the main thread's
     * own. */
    r->process_status = (BPF_CORE_READ(sig, flags) & PT_SIGNAL_GROUP_EXIT)
                            ? BPF_CORE_READ(sig, group_exit_code)
                            : BPF_CORE_READ(p, group_leader, exit_code);
  }
  /* A thread has no parent of its own: 0, as the proc connector says (it has already
   * released a thread by the time it reports the exit). The process's end names its
   * parent, whichever thread was last: threads share the main thread's parent. */
  if (r->h.pid == r->h.tid || (r->flags & PT_EXIT_PROCESS_ENDED)) {
    struct task_struct* parent = BPF_CORE_READ(p, real_parent);
    r->parent_pid = BPF_CORE_READ(parent, tgid);
    r->parent_tid = BPF_CORE_READ(parent, pid);
  } else {
    r->parent_pid = 0;
    r->parent_tid = 0;
  }
  bpf_ringbuf_submit(r, wakeup_flags(0));
  return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct* p, pid_t old_pid, struct linux_binprm* bprm) {
  if (!is_followed(BPF_CORE_READ(p, tgid))) return 0;
  if (old_pid != BPF_CORE_READ(p, tgid)) {
    /* An execve from another thread: the old main thread's mark (PT_MAIN_OUT) is under the
     * same key as its successor, who has not left. */
    struct process_key key = {.tgid = BPF_CORE_READ(p, tgid),
                              .start_ns = BPF_CORE_READ(p, start_time)};
    bpf_map_delete_elem(&mains_out, &key);
  }
  struct scratch* s = scratch_slot();
  if (!s) return 0;
  struct pt_exec* e = &s->exec;
  fill_header(&e->h, PT_EXEC, p);
  e->exec_tid = old_pid;
  e->ppid = BPF_CORE_READ(p, real_parent, tgid);
  /* After execve the caller leads its process. */
  __u32* ordinal = bpf_task_storage_get(&exec_ordinals, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
  if (ordinal) {
    *ordinal += 1;
    e->exec_ordinal = *ordinal;
  } else {
    e->exec_ordinal = 0;
  }

  read_creds(p, &e->uid, &e->euid, &e->gid, &e->egid);
  e->argc = BPF_CORE_READ(bprm, argc);
  e->start_boottime_ns = BPF_CORE_READ(p, start_boottime);
  e->cgroup_id = bpf_get_current_cgroup_id();
  e->flags = 0;
  bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), p->comm);

  /* The argument area of the new image: the strings execve copied, NUL-separated. */
  struct mm_struct* mm = BPF_CORE_READ(p, mm);
  unsigned long arg_start = BPF_CORE_READ(mm, arg_start);
  unsigned long arg_end = BPF_CORE_READ(mm, arg_end);
  __u64 size = arg_end > arg_start ? arg_end - arg_start : 0;
  e->args_size = size > 0xffffffffu ? 0xffffffffu : (__u32)size;
  __u32 len = size < max_args ? (__u32)size : max_args;
  len &= PT_ARGS_MAX - 1;
  if (len && bpf_probe_read_user(s->args, len, (void*)arg_start) != 0) {
    e->flags |= PT_ARGS_FAULT;
    len = 0;
  }
  e->args_len = len;

  /* One byte short of the buffer, so a length always fits the mask used below. */
  long fn = bpf_probe_read_kernel_str(s->filename, PT_PATH_MAX - 1, BPF_CORE_READ(bprm, filename));
  e->filename_len = fn > 0 ? (__u16)fn : 0;
  struct file* file = BPF_CORE_READ(bprm, file);
  e->exe_len = read_path(s, 0, BPF_CORE_READ(file, f_path.mnt), BPF_CORE_READ(file, f_path.dentry));
  struct fs_struct* fs = BPF_CORE_READ(p, fs);
  e->cwd_len = read_path(s, 1, BPF_CORE_READ(fs, pwd.mnt), BPF_CORE_READ(fs, pwd.dentry));

  __u32 fn_len = e->filename_len & (PT_PATH_MAX - 1);
  __u32 exe_len = e->exe_len & (PT_PATH_MAX - 1);
  __u32 cwd_len = e->cwd_len & (PT_PATH_MAX - 1);
  __u32 total = sizeof(*e) + len + fn_len + exe_len + cwd_len;
  struct bpf_dynptr out;
  if (bpf_ringbuf_reserve_dynptr(&events, total, 0, &out) != 0) {
    bpf_ringbuf_discard_dynptr(&out, 0);
    count_drop();
    return 0;
  }
  __u32 off = 0;
  bpf_dynptr_write(&out, off, e, sizeof(*e), 0);
  off += sizeof(*e);
  bpf_dynptr_write(&out, off, s->args, len, 0);
  off += len;
  bpf_dynptr_write(&out, off, s->filename, fn_len, 0);
  off += fn_len;
  bpf_dynptr_write(&out, off, s->exe, exe_len, 0);
  off += exe_len;
  bpf_dynptr_write(&out, off, s->cwd, cwd_len, 0);
  bpf_ringbuf_submit_dynptr(&out, wakeup_flags(1));
  return 0;
}

#if defined(__TARGET_ARCH_x86)
/* Failed execs, x86-64 only: the system call numbers and the registers that hold the
 * arguments are the architecture's. execve(filename, argv, envp) and
 * execveat(dirfd, filename, argv, envp, flags); 32-bit callers (int 0x80, TS_COMPAT) number
 * their calls differently and are left out. */
#define PT_NR_EXECVE 59
#define PT_NR_EXECVEAT 322
#define PT_TS_COMPAT 0x0002

/* bpf_loop's context must live on the stack. */
struct failed_copy {
  struct scratch* s;
};

/* Copies argument i of a failed exec after the ones before it. */
static long copy_failed_arg(__u32 i, void* ctx) {
  struct scratch* s = ((struct failed_copy*)ctx)->s;
  const char* arg = 0;
  if (bpf_probe_read_user(&arg, sizeof(arg), s->argv + i) != 0) {
    s->failed.flags |= PT_FAILED_ARGS_FAULT;
    return 1;
  }
  if (!arg) return 1;
  __u32 pos = s->args_pos;
  if (pos >= PT_FAILED_ARGS_BYTES) {
    s->failed.flags |= PT_FAILED_ARGS_TRUNCATED;
    return 1;
  }
  long n = bpf_probe_read_user_str(s->args + (pos & (PT_FAILED_ARGS_BYTES - 1)),
                                   PT_FAILED_ARGS_BYTES - pos, arg);
  if (n <= 0) {
    s->failed.flags |= PT_FAILED_ARGS_FAULT;
    return 1;
  }
  if ((__u32)n == PT_FAILED_ARGS_BYTES - pos) {
    /* The string may go on past what fitted. */
    s->failed.flags |= PT_FAILED_ARGS_TRUNCATED;
  }
  s->args_pos = pos + (__u32)n;
  return 0;
}

/* Every system call's return, to catch the execs that fail (the others show as
 * sched_process_exec). Loaded only when failed execs are asked for: while it is attached, each
 * system call on the machine takes the kernel's slower tracing exit path. */
SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs* regs, long ret) {
  if (ret >= 0) return 0;
  long nr = BPF_CORE_READ(regs, orig_ax);
  if (nr != PT_NR_EXECVE && nr != PT_NR_EXECVEAT) return 0;
  struct task_struct* t = bpf_get_current_task_btf();
  if (BPF_CORE_READ(t, thread_info.status) & PT_TS_COMPAT) return 0;
  if (!is_followed(bpf_get_current_pid_tgid() >> 32)) return 0;
  /* The registers still hold the call's arguments: a failed exec leaves the caller as it was. */
  const char* filename;
  const char* const* argv;
  if (nr == PT_NR_EXECVE) {
    filename = (const char*)BPF_CORE_READ(regs, di);
    argv = (const char* const*)BPF_CORE_READ(regs, si);
  } else {
    filename = (const char*)BPF_CORE_READ(regs, si);
    argv = (const char* const*)BPF_CORE_READ(regs, dx);
  }
  struct scratch* s = scratch_slot();
  if (!s) return 0;
  struct pt_exec_failed* f = &s->failed;
  fill_header(&f->h, PT_EXEC_FAILED, t);
  f->error = (__s32)-ret;
  f->ppid = BPF_CORE_READ(t, real_parent, tgid);
  read_creds(t, &f->uid, &f->euid, &f->gid, &f->egid);
  f->flags = 0;
  bpf_get_current_comm(f->comm, sizeof(f->comm));
  s->argv = argv;
  s->args_pos = 0;
  struct failed_copy copy = {.s = s};
  /* All PT_FAILED_ARGS_MAX passes run only when there were more arguments than that. */
  if (argv && bpf_loop(PT_FAILED_ARGS_MAX, copy_failed_arg, &copy, 0) == PT_FAILED_ARGS_MAX) {
    f->flags |= PT_FAILED_ARGS_TRUNCATED;
  }
  __u32 len = s->args_pos;
  if (len > PT_FAILED_ARGS_BYTES) len = PT_FAILED_ARGS_BYTES;
  f->args_len = len;
  long fn = bpf_probe_read_user_str(s->filename, PT_PATH_MAX - 1, filename);
  f->filename_len = fn > 0 ? (__u16)fn : 0;
  __u32 fn_len = f->filename_len & (PT_PATH_MAX - 1);

  __u32 total = sizeof(*f) + len + fn_len;
  struct bpf_dynptr out;
  if (bpf_ringbuf_reserve_dynptr(&events, total, 0, &out) != 0) {
    bpf_ringbuf_discard_dynptr(&out, 0);
    count_drop();
    return 0;
  }
  bpf_dynptr_write(&out, 0, f, sizeof(*f), 0);
  bpf_dynptr_write(&out, sizeof(*f), s->args, len, 0);
  bpf_dynptr_write(&out, sizeof(*f) + len, s->filename, fn_len, 0);
  bpf_ringbuf_submit_dynptr(&out, wakeup_flags(0));
  return 0;
}
#endif /* __TARGET_ARCH_x86 */
