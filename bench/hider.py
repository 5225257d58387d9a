#!/usr/bin/env python3
"""The hider check: a process that overwrites its own argv right after exec (a decoy in
/proc/PID/cmdline) must still be reported with the argv it was started with.

Each tool watches ROUNDS runs of `scenario rewrite-argv` (the child execs
"scenario rewrite-child secret-original-argument", then fills its arguments with X) and is
judged per run: right (the original argv), decoy (the X's: what /proc shows once rewritten),
unavailable (the tool said it could not read it), missing (no exec line).

Run as root from the repository after building:  python3 bench/hider.py
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ORIGINAL = ["scenario", "rewrite-child", "secret-original-argument"]


def proctrail_execs(out):
    execs = {}
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        if r.get("type") == "exec":
            execs[r["pid"]] = r.get("argv") if r.get("argv_source") != "unavailable" else None
    return execs


def forkstat_execs(out):
    execs = {}
    for line in out.splitlines():
        m = re.match(r"^\S+ exec\s+(\d+)\s+(.*?)\s*$", line)
        if m:
            execs[int(m.group(1))] = m.group(2).split(" ") if m.group(2) else None
    return execs


def extrace_execs(out):
    execs = {}
    for line in out.splitlines():
        m = re.match(r"^(\d+)\s+(.*)$", line)
        if m:
            execs[int(m.group(1))] = m.group(2).split(" ")
    return execs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--tools", default="proctrail-netlink,proctrail-bpf,forkstat,extrace")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("hider: run as root")
    scenario = os.path.join(args.build, "tests", "scenario")
    proctrail = os.path.join(args.build, "proctrail")
    tools = {
        "proctrail-netlink": ([proctrail, "--backend", "netlink", "-f", "json", "-e", "exec"],
                              proctrail_execs),
        "proctrail-bpf": ([proctrail, "--backend", "bpf", "-f", "json", "-e", "exec"],
                          proctrail_execs),
        "forkstat": (["forkstat", "-e", "exec", "-l"], forkstat_execs),
        "extrace": (["extrace", "-f"], extrace_execs),
    }
    work = tempfile.mkdtemp(prefix="proctrail-hider-")
    print("| tool | runs | right | decoy | unavailable | missing |")
    print("|---|---:|---:|---:|---:|---:|")
    try:
        for name in args.tools.split(","):
            cmd, parse = tools[name]
            if not shutil.which(cmd[0]) and not os.path.exists(cmd[0]):
                print(f"hider: skipping {name}: not installed", file=sys.stderr)
                continue
            out_path = os.path.join(work, name)
            with open(out_path, "w") as out:
                proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL)
                time.sleep(2.0)  # every tool listening
                pids = []
                for _ in range(args.rounds):
                    r = subprocess.run([scenario, "rewrite-argv"], stdout=subprocess.PIPE,
                                       text=True, check=True)
                    pids.append(int(r.stdout.split("child=")[1].split()[0]))
                time.sleep(1.0)
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=30)
            execs = parse(open(out_path, errors="replace").read())
            counts = dict(right=0, decoy=0, unavailable=0, missing=0)
            for pid in pids:
                if pid not in execs:
                    counts["missing"] += 1
                    continue
                argv = execs[pid]
                if argv is None:
                    counts["unavailable"] += 1
                elif [os.path.basename(argv[0])] + argv[1:] == ORIGINAL:
                    counts["right"] += 1
                else:
                    counts["decoy"] += 1
            print(f"| {name} | {len(pids)} | {counts['right']} | {counts['decoy']} | "
                  f"{counts['unavailable']} | {counts['missing']} |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
