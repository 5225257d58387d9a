#!/usr/bin/env python3
"""Ready time: how long after a monitor is started it reports the first exec.

For each tool and each of --starts runs: a spawner runs /bin/true every --interval ms (logging
each child's pid and fork time on CLOCK_MONOTONIC), the tool is started, and its ready time is
the fork time of the first child it reports, minus the moment it was started. The resolution is
the spawner's interval. Reported: the median, min and max over the runs, and each tool's median
as a ratio to the anchor's (execsnoop) from the same run.

Tools: proctrail-bpf, proctrail-netlink (default options, JSON), execsnoop (libbpf-tools),
bpftrace (a one-line tracepoint program). execsnoop and bpftrace need tracefs: the script mounts
it for their runs and unmounts it after, as proctrail works without it.

Run as root from the repository after building:  python3 bench/startup.py
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TRACEFS = "/sys/kernel/tracing"


def pids_proctrail(line):
    if line.startswith("{"):
        r = json.loads(line)
        if r.get("type") == "exec":
            return r["pid"]
    return None


def pids_execsnoop(line):
    m = re.match(r"^\S+\s+(\d+)\s+\d+\s+-?\d+\s", line)
    return int(m.group(1)) if m else None


def pids_bpftrace(line):
    m = re.match(r"^exec (\d+)$", line.strip())
    return int(m.group(1)) if m else None


def tools(build):
    proctrail = os.path.join(build, "proctrail")
    return {
        "proctrail-bpf": dict(cmd=[proctrail, "--backend", "bpf", "-f", "json"],
                              parse=pids_proctrail),
        "proctrail-netlink": dict(cmd=[proctrail, "--backend", "netlink", "-f", "json"],
                                  parse=pids_proctrail),
        "execsnoop": dict(cmd=["/usr/sbin/execsnoop"], parse=pids_execsnoop, tracefs=True),
        "bpftrace": dict(cmd=["bpftrace", "-e",
                              'tracepoint:sched:sched_process_exec { printf("exec %d\\n", pid); }'],
                         parse=pids_bpftrace, tracefs=True),
    }


def mounted_tracefs():
    return os.path.exists(os.path.join(TRACEFS, "events"))


def one_start(tool, spawner, interval_ms, window, work, n):
    log = os.path.join(work, f"spawn{n}")
    # The spawner runs all along (for `window` seconds): the tool's first report is of an exec
    # after it was ready.
    spawn = subprocess.Popen([spawner, "1", str(window), str(1000 / interval_ms), "/bin/true",
                              f"s{n}", log], stdout=subprocess.DEVNULL)
    time.sleep(0.2)
    out_path = os.path.join(work, f"out{n}")
    with open(out_path, "w") as out:
        t0 = time.monotonic_ns()
        proc = subprocess.Popen(tool["cmd"], stdout=out, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL)
        first = None
        deadline = time.time() + window
        while first is None and time.time() < deadline:
            time.sleep(0.01)
            with open(out_path, errors="replace") as f:
                for line in f:
                    pid = tool["parse"](line)
                    if pid is not None:
                        first = pid
                        break
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    spawn.wait()  # its log is complete once it has exited
    forks = {}
    with open(f"{log}.0") as f:
        for line in f:
            pid, _, ns = line.split()
            forks.setdefault(int(pid), []).append(int(ns))
    os.unlink(f"{log}.0")
    if first is None or first not in forks:
        return None
    # The child with that pid forked after the tool started (pids are reused: take the first).
    after = [ns for ns in forks[first] if ns >= t0]
    return (min(after) - t0) / 1e9 if after else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--starts", type=int, default=10)
    ap.add_argument("--interval", type=float, default=5.0, help="ms between the spawner's execs")
    ap.add_argument("--window", type=float, default=4.0,
                    help="seconds each start is watched; a slower tool reports nothing")
    ap.add_argument("--tools", default="proctrail-bpf,proctrail-netlink,execsnoop,bpftrace")
    ap.add_argument("--anchor", default="execsnoop")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("startup: run as root")
    work = tempfile.mkdtemp(prefix="proctrail-startup-")
    results = {}
    try:
        spawner = os.path.join(work, "spawner")
        subprocess.run(["gcc", "-O2", "-o", spawner, os.path.join(HERE, "spawner.c")], check=True)
        all_tools = tools(args.build)
        for name in args.tools.split(","):
            tool = all_tools[name]
            exe = tool["cmd"][0]
            if not shutil.which(exe) and not os.path.exists(exe):
                print(f"startup: skipping {name}: {exe} not installed", file=sys.stderr)
                continue
            mount = tool.get("tracefs") and not mounted_tracefs()
            if mount:
                subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS], check=True)
            try:
                times = []
                for n in range(args.starts):
                    t = one_start(tool, spawner, args.interval, args.window, work, f"{name}{n}")
                    if t is not None:
                        times.append(t)
            finally:
                if mount:
                    subprocess.run(["umount", TRACEFS])
            if not times:
                print(f"startup: {name} reported no exec", file=sys.stderr)
                continue
            results[name] = dict(median_s=statistics.median(times), min_s=min(times),
                                 max_s=max(times), runs=len(times))
            print(f"startup: {name}: median {results[name]['median_s']:.3f} s over {len(times)}",
                  file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    anchor = results.get(args.anchor, {}).get("median_s")
    print(f"| tool | ready time, median | min .. max | runs | ratio to {args.anchor} |")
    print("|---|---:|---:|---:|---:|")
    for name, r in results.items():
        ratio = f"{r['median_s'] / anchor:.2f}x" if anchor else "-"
        print(f"| {name} | {r['median_s']:.3f} s | {r['min_s']:.3f} .. {r['max_s']:.3f} | "
              f"{r['runs']} | {ratio} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
