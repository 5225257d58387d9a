#!/usr/bin/env python3
"""Writes the seed inputs of fuzz_procfs and fuzz_bpf_record into tests/fuzz/corpus.

The /proc seeds are files as the kernel writes them, plus the awkward cases the parsers must
survive; the eBPF seeds are records laid out as bpf/proctrail_events.h says (little-endian
x86-64). Run it again after changing that layout."""
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))


def write(folder, name, data):
    os.makedirs(os.path.join(here, folder), exist_ok=True)
    with open(os.path.join(here, folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


STAT_TAIL = ("S 1 1234 1234 0 -1 4194560 500 0 0 0 3 2 0 0 20 0 1 0 {start} 10000000 200 "
             "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94000 94100 "
             "140720000000000 140720000000100 140720000000100 140720000000200 0\n")
procfs = {
    "stat": "4321 (bash) " + STAT_TAIL.format(start=123456),
    "stat-comm-with-paren": "77 (a) b) (c) " + STAT_TAIL.format(start=5),
    "stat-zombie": "88 (gone) Z 1 88 88 0 -1 4227084 0 0 0 0 0 0 0 0 20 0 1 0 99 0 0 "
                   "18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
    "status": "Name:\tbash\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4321\nPid:\t4321\n"
              "PPid:\t1\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\n"
              "Groups:\t27 1000\nThreads:\t1\n",
    "cgroup-v2": "0::/system.slice/docker-" + "a" * 64 + ".scope\n",
    "cgroup-hybrid": "12:pids:/user.slice\n1:name=systemd:/user.slice/session-2.scope\n0::/\n",
    "cgroup-kubepods": "0::/kubepods.slice/kubepods-besteffort.slice/cri-containerd-" + "b" * 64
                       + ".scope\n",
    "cmdline": "bash\0-c\0echo hi\0\0",
    "cmdline-no-nul": "sleep\x001",
    "mountinfo": "25 1 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n"
                 "36 25 0:30 / /mnt/my\\040tree rw - ext4 /dev/sda1 rw\n",
    "events": "fork,exec,exit,nonzero-exit",
    "hostile": "\x1b]0;x\x07\x1b[2J\r\n\x7f\xc2\x9b\xe2\x80\xae\xff\xfe",
}
for name, text in procfs.items():
    write("procfs", name, text.encode("latin-1") if any(ord(c) > 127 for c in text) else text)

# struct pt_header: u64 ts, u32 type, u32 cpu, s32 pid, s32 tid
def header(kind, pid, tid, ts=1000, cpu=0):
    return struct.pack("<QIIii", ts, kind, cpu, pid, tid)

PT_FORK, PT_EXEC, PT_EXIT = 1, 2, 3
# pt_fork: parent_pid, parent_tid, child_pid, child_tid, child_start_boottime_ns
write("bpf", "fork", header(PT_FORK, 10, 10) + struct.pack("<iiiiQ", 10, 10, 11, 11, 5_000_000))
write("bpf", "thread", header(PT_FORK, 10, 12) + struct.pack("<iiiiQ", 1, 1, 10, 12, 4_000_000))
# pt_exit: exit_code, exit_signal, parent_pid, parent_tid, process_status, flags,
# start_boottime_ns
write("bpf", "exit",
      header(PT_EXIT, 11, 11) + struct.pack("<IiiiIIQ", 3 << 8, 17, 10, 10, 0, 0, 5_000_000))
write("bpf", "exit-last-thread",
      header(PT_EXIT, 11, 13) + struct.pack("<IiiiIIQ", 0, -1, 10, 10, 7 << 8, 1, 5_000_000))


def exec_record(args, filename, exe, cwd, flags=0, args_size=None, exec_tid=0):
    fn, ex, cw = [s + b"\0" if s else b"" for s in (filename, exe, cwd)]
    # ..., comm[16], exec_tid, exec_ordinal
    fixed = struct.pack("<iIIIIIQQIIHHHH16siI", 10, 0, 0, 0, 0, args.count(b"\0"), 5_000_000,
                        42, len(args) if args_size is None else args_size, len(args), len(fn),
                        len(ex), len(cw), flags, b"scenario", exec_tid, 1)
    return header(PT_EXEC, 11, 11) + fixed + args + fn + ex + cw


write("bpf", "exec", exec_record(b"ls\0-l\0/tmp\0", b"/bin/ls", b"/usr/bin/ls", b"/root"))
write("bpf", "exec-truncated", exec_record(b"cat\0aaaa", b"/bin/cat", b"/usr/bin/cat", b"/",
                                           args_size=4096))
write("bpf", "exec-from-thread", exec_record(b"true\0", b"/bin/true", b"/usr/bin/true", b"/",
                                             exec_tid=14))
write("bpf", "exec-fault", exec_record(b"", b"/x", b"", b"", flags=1 | 8 | 16))
write("bpf", "exec-hostile", exec_record(b"\x1b[2J\0\xff\xfe\0", b"/tmp/new\nline",
                                         b"/tmp/new\nline (x)", b"/\xc2\x9b"))

# pt_exec_failed: error, ppid, uid, euid, gid, egid, args_len, filename_len (u16), flags (u16),
# comm[16]; then args and the filename.
PT_EXEC_FAILED = 4


def failed_record(args, filename, error=2, flags=0):
    fn = filename + b"\0"
    fixed = struct.pack("<iiIIIIIHH16s", error, 1, 0, 0, 0, 0, len(args), len(fn), flags, b"sh")
    return header(PT_EXEC_FAILED, 11, 11) + fixed + args + fn


write("bpf", "exec-failed", failed_record(b"/nope\0-x\0", b"/nope"))
write("bpf", "exec-failed-truncated", failed_record(b"a" * 40, b"/x\x1b[2J", error=13, flags=1))
