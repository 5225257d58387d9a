#!/usr/bin/env python3
"""Footprint: each tool's resident memory and open fds, at idle and over a long storm.

For each tool: started, left idle for --idle seconds (RSS and fds read then), then a storm of
--processes short processes (4 spawner loops of /bin/true) runs under it while RSS and fds are
sampled every 0.2 s, with the number of processes the spawners have run by then (each
reports its count). Reported: idle RSS (and its ratio to the anchor's, forkstat by default,
from the same run), the value at the first sample taken once 10,000 processes had run (by
count, not by time share; the count it was taken at is given), at the end, and their ratio (at
most 1.2 is the target). For one million processes through proctrail, see
reliability.py soak.

Run as root from the repository after building:  python3 bench/footprint.py
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TRACEFS = "/sys/kernel/tracing"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def tools(build):
    proctrail = os.path.join(build, "proctrail")
    return {
        "proctrail-bpf": [proctrail, "--backend", "bpf", "-f", "json"],
        "proctrail-netlink": [proctrail, "--backend", "netlink", "-f", "json"],
        "forkstat": ["forkstat", "-l"],
        "execsnoop": ["/usr/sbin/execsnoop"],
    }


def run_tool(name, cmd, spawner, processes, idle, work):
    mount = name == "execsnoop" and not os.path.exists(os.path.join(TRACEFS, "events"))
    if mount:
        subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS], check=True)
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL)
        time.sleep(idle)
        if proc.poll() is not None:
            return None
        idle_rss, idle_fds = rss_kib(proc.pid), fds(proc.pid)
        loops, per = 4, processes // 4
        samples = []
        counts = [os.path.join(work, f"{name}{i}.count") for i in range(loops)]
        spawners = [subprocess.Popen([spawner, str(per), f"{name}{i}", counts[i]],
                                     stdout=subprocess.DEVNULL) for i in range(loops)]
        start = time.time()

        def done():
            n = 0
            for c in counts:
                try:
                    with open(c) as f:
                        n += int(f.read().strip() or 0)
                except (OSError, ValueError):
                    pass
            return n

        while any(s.poll() is None for s in spawners):
            time.sleep(0.2)
            samples.append((done(), rss_kib(proc.pid), fds(proc.pid)))
        total = time.time() - start
        time.sleep(1.0)
        end_rss, end_fds = rss_kib(proc.pid), fds(proc.pid)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        first = next((s for s in samples if s[0] >= 10_000), samples[-1])
        return dict(idle_rss=idle_rss, idle_fds=idle_fds, rss_10k=first[1], fds_10k=first[2],
                    count_at_10k=first[0], end_rss=end_rss, end_fds=end_fds,
                    peak_rss=max(s[1] for s in samples), seconds=round(total))
    finally:
        if mount:
            subprocess.run(["umount", TRACEFS])


SPAWNER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char** argv) {
  long n = atol(argv[1]);
  char tag[64];
  for (long i = 0; i < n; ++i) {
    snprintf(tag, sizeof tag, "%s-%ld", argv[2], i);
    pid_t p = fork();
    if (p == 0) { execl("/bin/true", "/bin/true", tag, (char*)0); _exit(127); }
    if (p > 0) waitpid(p, 0, 0);
    if ((i + 1) % 100 == 0 || i + 1 == n) {  /* how far it is, for the sampler */
      FILE* f = fopen(argv[3], "w");
      if (f) { fprintf(f, "%ld\n", i + 1); fclose(f); }
    }
  }
  return 0;
}
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--processes", type=int, default=50_000)
    ap.add_argument("--idle", type=float, default=3.0)
    ap.add_argument("--tools", default="proctrail-bpf,proctrail-netlink,forkstat,execsnoop")
    ap.add_argument("--anchor", default="forkstat")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("footprint: run as root")
    work = tempfile.mkdtemp(prefix="proctrail-footprint-")
    results = {}
    try:
        spawner = os.path.join(work, "spawner")
        with open(spawner + ".c", "w") as f:
            f.write(SPAWNER)
        subprocess.run(["gcc", "-O2", "-o", spawner, spawner + ".c"], check=True)
        for name in args.tools.split(","):
            cmd = tools(args.build)[name]
            if not shutil.which(cmd[0]) and not os.path.exists(cmd[0]):
                print(f"footprint: skipping {name}: not installed", file=sys.stderr)
                continue
            r = run_tool(name, cmd, spawner, args.processes, args.idle, work)
            if r:
                results[name] = r
                print(f"footprint: {name}: {r}", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    anchor = results.get(args.anchor, {}).get("idle_rss")
    print(f"| tool | RSS idle | ratio to {args.anchor} | RSS after 10k (taken at) | RSS after "
          f"{args.processes // 1000}k | end / 10k | fds idle / 10k / end |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        ratio = f"{r['idle_rss'] / anchor:.1f}x" if anchor else "-"
        print(f"| {name} | {r['idle_rss'] / 1024:.1f} MiB | {ratio} | {r['rss_10k'] / 1024:.1f} MiB "
              f"({r['count_at_10k']}) | "
              f"{r['end_rss'] / 1024:.1f} MiB | {r['end_rss'] / r['rss_10k']:.2f} | "
              f"{r['idle_fds']} / {r['fds_10k']} / {r['end_fds']} |")


if __name__ == "__main__":
    main()
