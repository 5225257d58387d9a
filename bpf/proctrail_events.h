/* Records the eBPF programs put in the ring buffer, shared by bpf/proctrail.bpf.c and user
 * space (src/source/bpf), which checks the layout with static_asserts.
 *
 * Every record starts with struct pt_header. Exec records are variable-sized: the fixed part,
 * then args_len bytes of the argument area (NUL-separated, as in /proc/PID/cmdline), then the
 * NUL-terminated filename, exe and cwd, each of the length given. */
#ifndef PROCTRAIL_EVENTS_H
#define PROCTRAIL_EVENTS_H

#ifdef __cplusplus
#include <cstdint>
typedef std::uint8_t pt_u8;
typedef std::uint16_t pt_u16;
typedef std::uint32_t pt_u32;
typedef std::int32_t pt_s32;
typedef std::uint64_t pt_u64;
#else
typedef __u8 pt_u8;
typedef __u16 pt_u16;
typedef __u32 pt_u32;
typedef __s32 pt_s32;
typedef __u64 pt_u64;
#endif

#define PT_COMM_LEN 16
/* Bytes of argv kept per exec at most (the configurable limit is at most one less). */
#define PT_ARGS_MAX (1u << 18)
/* Bytes of a path (filename, exe, cwd), NUL included. */
#define PT_PATH_MAX 4096u
/* Path components walked at most; a deeper path is reported truncated. Paths are walked up
 * to the top of the process's mount tree: for a process in another mount namespace, the
 * path as that namespace sees it. */
#define PT_PATH_DEPTH 48

enum pt_type {
  PT_FORK = 1,
  PT_EXEC = 2,
  PT_EXIT = 3,
  PT_EXEC_FAILED = 4,
};

/* Bytes of argv copied for a failed exec (it is an error report, not an audit record), and
 * arguments looked at at most. */
#define PT_FAILED_ARGS_BYTES 4096u
#define PT_FAILED_ARGS_MAX 64

/* pt_exec.flags */
enum pt_exec_flags {
  PT_ARGS_FAULT = 1u << 0,    /* the argument area could not be read */
  PT_EXE_TRUNCATED = 1u << 1, /* deeper than PT_PATH_DEPTH or longer than PT_PATH_MAX */
  PT_CWD_TRUNCATED = 1u << 2,
  PT_EXE_UNREACHABLE = 1u << 3, /* a detached tree: no path from a root */
  PT_CWD_UNREACHABLE = 1u << 4,
  PT_EXE_DELETED = 1u << 5, /* unlinked since: the path is the name it had */
  PT_CWD_DELETED = 1u << 6,
};

struct pt_header {
  pt_u64 ts_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
  pt_u32 type;  /* enum pt_type */
  pt_u32 cpu;
  pt_s32 pid; /* tgid */
  pt_s32 tid;
};

struct pt_fork {
  struct pt_header h;
  pt_s32 parent_pid, parent_tid;
  pt_s32 child_pid, child_tid;
  pt_u64 child_start_boottime_ns; /* the child's process (group leader) start: its identity */
};

/* pt_exit.flags */
enum pt_exit_flags {
  PT_EXIT_PROCESS_ENDED = 1u << 0, /* the last thread of its process: the process is gone */
};

/* Which thread's exit is the end of its process. The kernel ends a process with the thread
 * that takes its count of live threads to zero, and the exit tracepoint cannot tell which one
 * that was: a joined thread can still be on its way out when the main thread leaves, and a
 * thread that calls exit_group leaves with the main thread, so both can read zero. The main
 * thread then reports the end (what the parent's wait(2) is about); another thread reports it
 * only when the main thread is already out, as after pthread_exit.
 *
 * The main thread of a process with other threads marks itself in (PT_MAIN_IN) before it reads
 * the count, and on finding other threads live swaps the mark to PT_MAIN_OUT. Another thread
 * that reads zero swaps PT_MAIN_IN to PT_MAIN_AWAITED, leaving the end to the main thread; the
 * main thread then finds its own swap refused and reports the end. mark_was is what the
 * thread's swap found (0: no mark, or no swap). */
enum pt_main_mark { PT_MAIN_IN = 1, PT_MAIN_OUT = 2, PT_MAIN_AWAITED = 3 };
static inline int pt_exit_ends_process(long live, int main_thread, int main_zombie,
                                       unsigned mark_was) {
  if (main_thread) return live == 0 || mark_was == PT_MAIN_AWAITED;
  return live == 0 && (main_zombie || mark_was == PT_MAIN_OUT);
}

struct pt_exit {
  struct pt_header h;
  pt_u32 exit_code; /* this thread's task->exit_code: wait(2) status */
  pt_s32 exit_signal;
  pt_s32 parent_pid, parent_tid;
  pt_u32 process_status;    /* with PT_EXIT_PROCESS_ENDED: what the parent's wait(2) sees */
  pt_u32 flags;             /* enum pt_exit_flags */
  pt_u64 start_boottime_ns; /* the process's (group leader's) start: its identity */
};

struct pt_exec {
  struct pt_header h;
  pt_s32 ppid;
  pt_u32 uid, euid, gid, egid;
  pt_u32 argc;
  pt_u64 start_boottime_ns;
  pt_u64 cgroup_id;
  pt_u32 args_size;                      /* real size of the argument area */
  pt_u32 args_len;                       /* bytes of it that follow */
  pt_u16 filename_len, exe_len, cwd_len; /* NUL included; 0: absent */
  pt_u16 flags;                          /* enum pt_exec_flags */
  char comm[PT_COMM_LEN];
  pt_s32 exec_tid;     /* the thread that called execve (its tid before it took the pid) */
  pt_u32 exec_ordinal; /* execs of this process since the programs were loaded, this one too */
  /* char data[]: args, filename, exe, cwd */
};

/* pt_exec_failed.flags */
enum pt_exec_failed_flags {
  PT_FAILED_ARGS_TRUNCATED = 1u << 0, /* more or longer arguments than were copied */
  PT_FAILED_ARGS_FAULT = 1u << 1,     /* the argument array could not be read */
};

/* An execve/execveat that returned an error. Followed by args_len bytes of NUL-separated
 * arguments, then the NUL-terminated filename (filename_len bytes). */
struct pt_exec_failed {
  struct pt_header h;
  pt_s32 error; /* positive errno */
  pt_s32 ppid;
  pt_u32 uid, euid, gid, egid;
  pt_u32 args_len;
  pt_u16 filename_len;
  pt_u16 flags; /* enum pt_exec_failed_flags */
  char comm[PT_COMM_LEN];
};

#endif
