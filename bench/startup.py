#!/usr/bin/env python3
"""Ready time: how long after a monitor is started it captures, and writes, the first exec.

For each tool and each of --starts runs: a spawner runs /bin/true every --interval ms (logging
each child's pid and fork time on CLOCK_MONOTONIC), the tool is started, and two times are
taken from that moment:
  capture  the fork time of the first child it reports: from then on it sees every exec (the
           resolution is the spawner's interval);
  output   when its first exec record appeared in its output (polled every 10 ms): what a user
           waiting for output sees, the tool's own output delay included (proctrail writes
           every 50 ms, after an exec guard of 20 ms).
Reported: median, min and max of each over the runs, each tool's medians as ratios to the
anchor's (execsnoop) from the same run, and how many runs could not be timed, with why (no exec
reported within the window, or a reported pid the spawner never made): none is dropped unsaid.

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
    seen_ns = None
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
                        seen_ns = time.monotonic_ns()
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
    if first is None:
        return "no exec reported within the window"
    # The child with that pid forked after the tool started (pids are reused: take the first).
    after = [ns for ns in forks.get(first, []) if ns >= t0]
    if not after:
        return "its first reported pid is not one the spawner made after the start"
    return ((min(after) - t0) / 1e9, (seen_ns - t0) / 1e9)


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
                times, outs, untimed = [], [], {}
                for n in range(args.starts):
                    t = one_start(tool, spawner, args.interval, args.window, work, f"{name}{n}")
                    if isinstance(t, str):
                        untimed[t] = untimed.get(t, 0) + 1
                    else:
                        times.append(t[0])
                        outs.append(t[1])
            finally:
                if mount:
                    subprocess.run(["umount", TRACEFS])
            for why, count in untimed.items():
                print(f"startup: {name}: {count} of {args.starts} runs not timed: {why}",
                      file=sys.stderr)
            if not times:
                print(f"startup: {name} reported no exec", file=sys.stderr)
                continue
            results[name] = dict(median_s=statistics.median(times), min_s=min(times),
                                 max_s=max(times), output_median_s=statistics.median(outs),
                                 output_min_s=min(outs), output_max_s=max(outs),
                                 runs=len(times), starts=args.starts, untimed=untimed)
            print(f"startup: {name}: capture median {results[name]['median_s']:.3f} s, output "
                  f"median {results[name]['output_median_s']:.3f} s over {len(times)}",
                  file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    anchor = results.get(args.anchor, {})
    print(f"| tool | capture ready, median (min .. max) | × {args.anchor} | first record out, "
          f"median (min .. max) | × {args.anchor} | runs timed |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        ratio = f"{r['median_s'] / anchor['median_s']:.2f}x" if anchor else "-"
        out_ratio = f"{r['output_median_s'] / anchor['output_median_s']:.2f}x" if anchor else "-"
        print(f"| {name} | {r['median_s']:.3f} s ({r['min_s']:.3f} .. {r['max_s']:.3f}) | "
              f"{ratio} | {r['output_median_s']:.3f} s ({r['output_min_s']:.3f} .. "
              f"{r['output_max_s']:.3f}) | {out_ratio} | {r['runs']} of {r['starts']} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
