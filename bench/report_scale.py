#!/usr/bin/env python3
"""Report scale: does `proctrail report`'s HTML page stay responsive with 100,000 processes?

Records two real workloads with `proctrail --record` (run mode: the workload's own process
tree): --processes short processes (default 100,000) and, as the anchor in the same run,
--anchor processes (default 1,000). Each is /bin/true run by `sh` loops, 500 to a loop, two
loops at a time. Then for each recording: `proctrail report` writes the page (its time and
size are reported), and headless Chromium opens it --repeat times (default 5), through
bench/report_probe.js: the time until the page's self-check is written (every process laid
out), then how long the page is busy with each pan (D), zoom (W, S), scroll of the rows and
search keystroke. Reported: the median and the spread over the repeats of each, and the
ratio of the large recording's figure to the anchor's.

Needs Debian's chromium and playwright-core from the npm registry (installed on first use into
--node-dir, default build/bench-node). Run as root from the repository after building:

    python3 bench/report_scale.py
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def playwright(node_dir):
    if not os.path.isdir(os.path.join(node_dir, "node_modules", "playwright-core")):
        os.makedirs(node_dir, exist_ok=True)
        subprocess.run(["npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix",
                        node_dir, "playwright-core@1"], check=True, stdout=subprocess.DEVNULL)
    return node_dir


def record(proctrail, db, processes):
    loops = max(1, processes // 500)
    workload = (f"seq {loops} | xargs -P 2 -I{{}} sh -c "
                f"'i=0; while [ $i -lt 500 ]; do /bin/true; i=$((i+1)); done'")
    start = time.monotonic()
    r = subprocess.run([proctrail, "--record", db, "-f", "json", "-o", os.devnull, "--",
                        "sh", "-c", workload], stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"report_scale: recording failed: {r.stderr.strip()}")
    return time.monotonic() - start


def spread(values):
    return f"{statistics.median(values):.1f} ({min(values):.1f} .. {max(values):.1f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--processes", type=int, default=100_000)
    ap.add_argument("--anchor", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--node-dir", default=os.path.join(ROOT, "build", "bench-node"))
    a = ap.parse_args()
    if a.repeat < 1 or a.processes < 500 or a.anchor < 500:
        sys.exit("report_scale: --repeat must be at least 1, sizes at least 500")
    proctrail = os.path.join(a.build, "proctrail")
    env = dict(os.environ, PLAYWRIGHT_DIR=playwright(a.node_dir))
    results = {}
    with tempfile.TemporaryDirectory(prefix="pt-report-scale-") as work:
        for name, n in (("anchor", a.anchor), ("large", a.processes)):
            db = os.path.join(work, f"{name}.db")
            page = os.path.join(work, f"{name}.html")
            took = record(proctrail, db, n)
            t = time.monotonic()
            subprocess.run([proctrail, "report", db, "-o", page], check=True)
            report_s = time.monotonic() - t
            probes = []
            for _ in range(a.repeat):
                out = subprocess.run(["node", os.path.join(HERE, "report_probe.js"), page],
                                     env=env, check=True, stdout=subprocess.PIPE, text=True)
                probes.append(json.loads(out.stdout))
            for p in probes:
                if p["drawn"] != p["processes"]:
                    sys.exit(f"report_scale: {name}: the page laid out {p['drawn']} of "
                             f"{p['processes']} processes")
            p0 = probes[0]
            row = {"processes": p0["processes"], "record_s": took, "report_s": report_s,
                   "page_mib": os.path.getsize(page) / 2**20,
                   "ready_ms": [p["ready_ms"] for p in probes]}
            for action in p0["runs"]:
                # Per repeat, the slowest of the action's tries: what a user would feel.
                row[action] = [max(p["runs"][action]) if p["runs"][action] else 0 for p in probes]
            results[name] = row
            print(f"{name}: {row['processes']} processes recorded in {took:.0f} s; report "
                  f"{report_s:.1f} s, page {row['page_mib']:.1f} MiB", flush=True)
    anchor, large = results["anchor"], results["large"]
    print(f"\n| figure (ms; median of {a.repeat}, min .. max) | {anchor['processes']:,} processes"
          f" (anchor) | {large['processes']:,} processes | x anchor |")
    print("|---|---:|---:|---:|")
    labels = {"ready_ms": "page ready (self-check written)", "pan": "slowest pan (D)",
              "zoom_in": "slowest zoom in (W)", "zoom_out": "slowest zoom out (S)",
              "scroll": "slowest scroll of the rows", "search": "slowest search keystroke"}
    for key, label in labels.items():
        ratio = statistics.median(large[key]) / max(statistics.median(anchor[key]), 1e-3)
        print(f"| {label} | {spread(anchor[key])} | {spread(large[key])} | {ratio:.1f}x |")


if __name__ == "__main__":
    main()
