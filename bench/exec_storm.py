#!/usr/bin/env python3
"""Exec storms: how many execs each monitor reports with the right argv, and its CPU per exec.

Every tool is measured on the same machine, in the same run, one after the other, on the same
workloads:

  true     2 spawner loops running /bin/true as fast as they can
  static   the same with a static binary that exits the moment it starts
  rate200  1 spawner loop at 200 execs per second

Each exec gets a unique argument ("TAG-loop-n") and the spawner logs its pid, so every line a
tool prints can be judged: right (exactly [binary, tag]), unavailable (the tool said it could not
read it, or printed only the process's own name), wrong (any other argv: another process's or
program's), or missing (no exec line for that exec at all).
CPU per exec is the tool's CPU time during the storm (all its threads' schedstat run time,
including catching up afterwards) divided by the execs spawned. Slowdown compares the spawner's
exec rate with the tool running against a run with no tool.

Run as root from the repository, after building:  python3 bench/exec_storm.py
"""
import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def peak_rss_kb(pid):
    """The process's peak resident memory so far (VmHWM), in KiB; 0 when unknown."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid):
    """CPU time of a whole process, all threads, in seconds: the sum of each thread's
    schedstat run time (nanoseconds), finer than the 10 ms ticks of /proc/PID/stat."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / 1e9


# ---------------------------------------------------------------------------- parsers
# Each returns {pid: [argv-or-None, ...]} for the exec lines it printed; None = "unavailable".

def parse_proctrail(out, err):
    execs = {}
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        if r.get("type") != "exec":
            continue
        argv = r.get("argv") if r.get("argv_source") != "unavailable" else None
        execs.setdefault(r["pid"], []).append(argv)
    return execs


def parse_ecs(out, err):
    """--schema ecs documents: the same execs under process.pid and process.args."""
    execs = {}
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        d = json.loads(line)
        if d.get("event", {}).get("action") != "exec":
            continue
        p = d.get("process", {})
        execs.setdefault(p["pid"], []).append(p.get("args"))
    return execs


FORKSTAT = re.compile(r"^\S+ exec\s+(\d+)\s+(.*?)\s*$")


def parse_forkstat(out, err):
    execs = {}
    for line in out.splitlines():
        m = FORKSTAT.match(line)
        if m:
            text = m.group(2)
            execs.setdefault(int(m.group(1)), []).append(text.split(" ") if text else None)
    return execs


EXTRACE = re.compile(r"^(\d+)\s+(.*)$")


def parse_extrace(out, err):
    execs = {}
    for line in out.splitlines():
        m = EXTRACE.match(line)
        if m:
            execs.setdefault(int(m.group(1)), []).append(m.group(2).split(" "))
    for line in err.splitlines():  # "extrace: process vanished before notification: pid N"
        m = re.search(r"vanished.*pid (\d+)", line)
        if m:
            execs.setdefault(int(m.group(1)), []).append(None)
    return execs


EXECSNOOP = re.compile(r"^(\S+)\s+(\d+)\s+(\d+)\s+(-?\d+)\s+(.*)$")


def parse_execsnoop(out, err):
    execs = {}
    for line in out.splitlines():
        m = EXECSNOOP.match(line)
        if m and m.group(2).isdigit():
            execs.setdefault(int(m.group(2)), []).append(m.group(5).rstrip().split(" "))
    return execs


SEED = re.compile(r"^exec: tid=(\d+) pid=(\d+)$")


def parse_seed(out, err):
    # The sample prints no argv: an exec line only counts as reported.
    execs = {}
    for line in out.splitlines():
        m = SEED.match(line)
        if m:
            execs.setdefault(int(m.group(2)), []).append(None)
    return execs


# ---------------------------------------------------------------------------- tools

def build_seed(seed_text, work):
    """Compiles the proc connector sample from shared/seed at run time (its code is not ours to
    keep in this repository)."""
    if not seed_text or not os.path.exists(seed_text):
        return None
    lines = open(seed_text, encoding="utf-8", errors="replace").read().splitlines()
    try:
        start = next(i for i, l in enumerate(lines) if l.startswith("#define _XOPEN_SOURCE"))
        end = next(i for i, l in enumerate(lines) if l.startswith("exit(rc);"))
    except StopIteration:
        return None
    src = os.path.join(work, "seed.c")
    with open(src, "w") as f:
        f.write("\n".join(lines[start:end + 1]) + "\n}\n")
    exe = os.path.join(work, "seed")
    if subprocess.run(["gcc", "-O2", "-w", "-o", exe, src]).returncode != 0:
        return None
    return exe


def tools(build, work, seed_exe, wanted):
    proctrail = os.path.join(build, "proctrail")
    t = {
        "proctrail": dict(cmd=[proctrail, "--backend", "netlink", "-f", "json", "-e", "exec",
                               "--stats"], parse=parse_proctrail, ready="line"),
        "proctrail-lean": dict(cmd=[proctrail, "--backend", "netlink", "-f", "json", "-e", "exec",
                                    "--proc-fields", "none", "--stats"],
                               parse=parse_proctrail, ready="line"),
        "proctrail-bpf": dict(cmd=[proctrail, "--backend", "bpf", "-f", "json", "-e", "exec",
                                   "--stats"], parse=parse_proctrail, ready="line"),
        # The default configuration: every event type, the process table and, on eBPF, the
        # proc connector for uid, gid ... events too.
        "proctrail-all": dict(cmd=[proctrail, "--backend", "netlink", "-f", "json", "--stats"],
                              parse=parse_proctrail, ready="line"),
        "proctrail-bpf-all": dict(cmd=[proctrail, "--backend", "bpf", "-f", "json", "--stats"],
                                  parse=parse_proctrail, ready="line"),
        # The same as ECS documents (--schema ecs): against proctrail-bpf-all it is the cost
        # of the ECS encoding.
        "proctrail-bpf-ecs": dict(cmd=[proctrail, "--backend", "bpf", "-f", "json", "--schema",
                                       "ecs", "--stats"], parse=parse_ecs, ready="line"),
        # The same, also keeping every event in a SQLite record (--record): against
        # proctrail-bpf-all it is the record's cost. Each trial adds a run to one file in the
        # bench's work folder, as a long-lived recorder would.
        "proctrail-bpf-record": dict(cmd=[proctrail, "--backend", "bpf", "-f", "json", "--stats",
                                          "--record", os.path.join(work, "storm.db")],
                                     parse=parse_proctrail, ready="line"),
        # The same, also sent to a systemd-journald of the bench's own (--journal): the
        # journal's cost. Its consumer-side count is the entries journald holds afterwards.
        "proctrail-bpf-journal": dict(
            cmd=["unshare", "-m", "--propagation", "private",
                 os.path.join(HERE, "with-journald.sh"), os.path.join(work, "journal.pid"),
                 os.path.join(work, "journal.count"), proctrail, "--backend", "bpf", "-f",
                 "json", "--stats", "--journal"],
            parse=parse_proctrail, ready="line", pidfile=os.path.join(work, "journal.pid"),
            consumer=lambda pid: int(open(os.path.join(work, "journal.count")).read())),
        # The same, also sent to an rsyslogd of the bench's own over TCP (--syslog): the
        # syslog sink's cost. Its consumer-side count is the messages rsyslogd wrote.
        "proctrail-bpf-syslog": dict(
            cmd=[proctrail, "--backend", "bpf", "-f", "json", "--stats", "--syslog",
                 "tcp:127.0.0.1:{syslog_port}"],
            parse=parse_proctrail, ready="line", syslog=True,
            consumer=lambda pid: syslog_messages_of(work, pid)),
        # The same, also sent to Kafka (--kafka): librdkafka's mock cluster of three brokers on
        # 127.0.0.1 (the tests' helper, built with the tests), the sink's cost. Its
        # consumer-side count is what kcat reads of the topic, less what was there before.
        "proctrail-bpf-kafka": dict(
            cmd=[proctrail, "--backend", "bpf", "-f", "json", "--stats", "--kafka",
                 "{kafka_bootstrap}", "--kafka-topic", "bench"],
            parse=parse_proctrail, ready="line", kafka=True),
        "forkstat": dict(cmd=["forkstat", "-e", "exec", "-l"], parse=parse_forkstat, ready=1.0),
        "forkstat-rt": dict(cmd=["forkstat", "-r", "-e", "exec", "-l"], parse=parse_forkstat,
                            ready=1.0),
        "extrace": dict(cmd=["extrace", "-f"], parse=parse_extrace, ready=1.0),
        "execsnoop": dict(cmd=["/usr/sbin/execsnoop"], parse=parse_execsnoop, ready=3.0,
                          tracefs=True),
        "seed": dict(cmd=[seed_exe], parse=parse_seed, ready=1.0),
    }
    out = {}
    for name in wanted:
        if name not in t:
            sys.exit(f"exec_storm: unknown tool '{name}' (choose from {', '.join(t)})")
        if name == "seed" and not seed_exe:
            print("exec_storm: skipping seed: sample program not found or not compilable",
                  file=sys.stderr)
            continue
        exe = t[name]["cmd"][0]
        if not shutil.which(exe) and not os.path.exists(exe):
            print(f"exec_storm: skipping {name}: {exe} not installed", file=sys.stderr)
            continue
        out[name] = t[name]
    return out


# ---------------------------------------------------------------------------- running

class Rsyslogd:
    """An rsyslogd of the bench's own, listening on a free TCP port of 127.0.0.1 and writing
    each message's procid to a file, for the syslog tool."""

    def __init__(self, work):
        self.work = work
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        conf = os.path.join(work, "rsyslog.conf")
        with open(conf, "w") as f:
            f.write(f'global(workDirectory="{work}" maxMessageSize="1m")\n'
                    'module(load="imtcp")\n'
                    f'input(type="imtcp" address="127.0.0.1" port="{self.port}")\n'
                    'template(name="procid" type="string" string="%procid%\\n")\n'
                    f'*.* action(type="omfile" file="{work}/syslog.out" template="procid")\n')
        self.proc = subprocess.Popen(["rsyslogd", "-n", "-f", conf, "-i",
                                      os.path.join(work, "rsyslog.pid")])
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        sys.exit("exec_storm: rsyslogd did not start")

    def close(self):
        self.proc.terminate()
        self.proc.wait()


class KafkaMock:
    """librdkafka's mock cluster (tests/programs/kafka_mock.cpp): three brokers, topic 'bench'
    of four partitions, for the kafka tool; kcat counts what it holds."""

    def __init__(self, build):
        exe = os.path.join(build, "tests", "kafka_mock")
        if not os.path.exists(exe):
            sys.exit(f"exec_storm: {exe} is missing: build the tests first")
        self.proc = subprocess.Popen([exe, "3", "bench", "4"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("bootstrap "):
            sys.exit("exec_storm: the Kafka mock cluster did not start")
        self.bootstrap = line.split()[1]

    def count(self):
        """Messages in the topic, once they stop coming."""
        last, still = -1, 0
        while still < 5:
            out = subprocess.run(["kcat", "-C", "-b", self.bootstrap, "-t", "bench", "-o",
                                  "beginning", "-e", "-q", "-f", "x\n"],
                                 capture_output=True, text=True, check=True).stdout
            n = out.count("\n")
            still = still + 1 if n == last else 0
            last = n
            time.sleep(0.2)
        return last

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def syslog_messages_of(work, pid):
    """How many messages from proctrail `pid` rsyslogd has written (once they stop coming)."""
    path = os.path.join(work, "syslog.out")
    last, still = -1, 0
    while still < 10:
        n = sum(1 for l in open(path) if l.strip() == str(pid)) if os.path.exists(path) else 0
        still = still + 1 if n == last else 0
        last = n
        time.sleep(0.1)
    return last


class Tracefs:
    """Mounts tracefs for tools that need it (execsnoop) and unmounts it again."""

    path = "/sys/kernel/tracing"

    def __enter__(self):
        self.mounted = False
        if not os.path.exists(os.path.join(self.path, "events")):
            sh(["mount", "-t", "tracefs", "nodev", self.path])
            self.mounted = True
        return self

    def __exit__(self, *a):
        if self.mounted:
            subprocess.run(["umount", self.path])


def spawn(spawner, loops, seconds, rate, binary, tag, work):
    log = os.path.join(work, "spawn-" + tag)
    r = sh([spawner, str(loops), str(seconds), str(rate), binary, tag, log],
           stdout=subprocess.PIPE, text=True)
    m = re.match(r"execs (\d+) seconds ([\d.]+)", r.stdout)
    children = {}
    for l in range(loops):
        with open(f"{log}.{l}") as f:
            for line in f:
                pid, t, ns = line.split()
                children.setdefault(int(pid), []).append((int(ns), t))
        os.unlink(f"{log}.{l}")
    # A reused pid's children in the order they were forked, whichever loop forked them.
    pids = {pid: [t for _, t in sorted(c)] for pid, c in children.items()}
    return int(m.group(1)), float(m.group(2)), pids


def judge(pids, binary, execs):
    """Matches each pid's exec lines, in order, with the execs the spawner made with it."""
    comm = os.path.basename(binary)[:15]
    # What tools print when they could not read the command line: nothing, an empty word,
    # a placeholder, or the process's own name. Not its argv, but not another's either.
    degraded = [None, [], [""], ["''"], ["<unknown>"], [comm]]
    right = unavailable = wrong = missing = 0
    for pid, tags in pids.items():
        lines = execs.get(pid) or []
        for i, tag in enumerate(tags):
            if i >= len(lines):
                missing += 1
            elif lines[i] == [binary, tag]:
                right += 1
            elif lines[i] in degraded:
                unavailable += 1
            else:
                wrong += 1  # another process's or another program's command line
    return dict(right=right, unavailable=unavailable, wrong=wrong, missing=missing)


def trial(name, tool, workload, args, paths, work, n):
    loops, rate, binary = workload["loops"], workload["rate"], workload["binary"]
    tag = f"t{n}"
    out_path = os.path.join(work, f"{name}.out")
    err_path = os.path.join(work, f"{name}.err")
    cmd = list(tool["cmd"])
    before = tool["consumer_base"]() if tool.get("consumer_base") else 0
    with open(out_path, "w") as out, open(err_path, "w") as err:
        # SIGINT as it is by default: a bench started in the background (`... &`) has it
        # ignored, and a shell wrapper (with-journald.sh) would inherit that and could not trap
        # it, so the trial's stop would never reach it.
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        if tool.get("pidfile") and os.path.exists(tool["pidfile"]):
            os.unlink(tool["pidfile"])
        if tool["ready"] == "line":
            deadline = time.time() + 15
            while time.time() < deadline and os.path.getsize(out_path) == 0:
                time.sleep(0.01)
            if os.path.getsize(out_path) == 0:
                proc.kill()
                sys.exit(f"exec_storm: {name} printed nothing within 15 s of starting")
        else:
            time.sleep(tool["ready"])
        if proc.poll() is not None:
            sys.exit(f"exec_storm: {name} exited at start: {open(err_path).read().strip()}")
        # The tool's own pid: a wrapper (with-journald.sh) says it in a file.
        pid = int(open(tool["pidfile"]).read()) if tool.get("pidfile") else proc.pid
        cpu0 = cpu_seconds(pid)
        execs, secs, pids = spawn(paths["spawner"], loops, args.seconds, rate, binary, tag, work)
        time.sleep(args.drain)
        cpu1 = cpu_seconds(pid)
        rss_kb = peak_rss_kb(pid)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if execs == 0:
        sys.exit(f"exec_storm: the spawner ran no execs during {name}'s trial")
    text_out = open(out_path, errors="replace").read()
    text_err = open(err_path, errors="replace").read()
    verdict = judge(pids, binary, tool["parse"](text_out, text_err))
    verdict.update(execs=execs, rate=execs / secs, cpu_us_per_exec=(cpu1 - cpu0) * 1e6 / execs,
                   rss_kb=rss_kb)
    if tool.get("consumer"):
        # What the exporter's far end holds, against the records proctrail wrote to its output.
        verdict["records"] = sum(1 for l in text_out.splitlines() if l.startswith("{"))
        try:
            verdict["consumer"] = tool["consumer"](pid) - before
        except (OSError, ValueError) as e:
            sys.exit(f"exec_storm: {name}: no count from the far end ({e}); the trial's "
                     f"stderr ends:\n" + "\n".join(text_err.splitlines()[-15:]))
        said = [l for l in text_err.splitlines() if "kafka" in l and "took" not in l]
        print(f"{name}: the far end took {verdict['consumer']} of {verdict['records']} records "
              f"this trial" + "".join("\n  " + l for l in said), file=sys.stderr)
    if name.startswith("proctrail"):
        m = re.search(r"lost (\d+) counted \+ (\d+) overflow", text_err)
        if m:
            verdict["lost_counted"], verdict["overflow_reports"] = int(m.group(1)), int(m.group(2))
    return verdict


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="proctrail build dir")
    ap.add_argument("--seconds", type=float, default=10.0, help="storm length per trial")
    ap.add_argument("--drain", type=float, default=2.0, help="time for tools to catch up")
    ap.add_argument("--repeat", type=int, default=5,
                    help="runs per tool and workload (at least 5 for a slowdown median that "
                         "means anything); counts add up, slowdown is the median, with its spread")
    ap.add_argument("--tools", default="proctrail,forkstat,extrace,seed",
                    help="comma list: proctrail, proctrail-lean, proctrail-bpf (all three -e exec), "
                         "proctrail-all, proctrail-bpf-all (every event, the default), "
                         "proctrail-bpf-ecs (that, as ECS), proctrail-bpf-record (that, and --record), "
                         "proctrail-bpf-journal (and --journal), proctrail-bpf-syslog (and "
                         "--syslog over TCP), proctrail-bpf-kafka (and --kafka to a mock cluster), "
                         "forkstat, "
                         "forkstat-rt, extrace, execsnoop, seed")
    ap.add_argument("--workloads", default="true,static,rate200")
    ap.add_argument("--seed-text", default=os.path.join(ROOT, "..", "shared", "seed",
                                                          "proc_events_answer.txt"))
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--pid-max", type=int,
                    help="lower kernel.pid_max for the run (restored after), so pids wrap and "
                         "are reused within moments: the pid-reuse check")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("exec_storm: run as root")
    if args.repeat < 5:
        print("exec_storm: fewer than 5 repeats: the slowdown median is one or two runs' luck",
              file=sys.stderr)
    if args.pid_max:
        with open("/proc/sys/kernel/pid_max") as f:
            saved = f.read().strip()
        with open("/proc/sys/kernel/pid_max", "w") as f:
            f.write(str(args.pid_max))
        try:
            run(args)
        finally:
            with open("/proc/sys/kernel/pid_max", "w") as f:
                f.write(saved)
        return
    run(args)


def run(args):

    work = tempfile.mkdtemp(prefix="proctrail-storm-")
    try:
        paths = {"spawner": os.path.join(work, "spawner"),
                 "exit_now": os.path.join(work, "exit_now")}
        sh(["gcc", "-O2", "-o", paths["spawner"], os.path.join(HERE, "spawner.c")])
        sh(["gcc", "-O2", "-static", "-nostdlib", "-o", paths["exit_now"],
            os.path.join(HERE, "exit_now.c")])
        seed = build_seed(args.seed_text, work)
        selected = tools(args.build, work, seed, args.tools.split(","))
        rsyslogd = None
        if any(t.get("syslog") for t in selected.values()):
            rsyslogd = Rsyslogd(work)
            for t in selected.values():
                t["cmd"] = [c.replace("{syslog_port}", str(rsyslogd.port)) for c in t["cmd"]]
        kafka = None
        if any(t.get("kafka") for t in selected.values()):
            kafka = KafkaMock(args.build)
            for t in selected.values():
                t["cmd"] = [c.replace("{kafka_bootstrap}", kafka.bootstrap) for c in t["cmd"]]
                if t.get("kafka"):
                    t["consumer"] = lambda pid: kafka.count()
                    t["consumer_base"] = kafka.count
        all_workloads = {
            "true": dict(loops=2, rate=0, binary="/bin/true"),
            "static": dict(loops=2, rate=0, binary=paths["exit_now"]),
            "rate200": dict(loops=1, rate=200, binary="/bin/true"),
        }
        results = {}
        n = 0
        needs_tracefs = any(t.get("tracefs") for t in selected.values())
        with Tracefs() if needs_tracefs else contextlib.nullcontext():
            for wname in args.workloads.split(","):
                w = all_workloads[wname]
                results[wname] = {"baseline_rate": 0.0, "tools": {}}
                baselines = []
                for r in range(args.repeat):
                    for name, tool in selected.items():
                        # A run without any tool right before each tool's run: the machine's
                        # speed drifts, so each slowdown is against its neighbour.
                        execs, secs, _ = spawn(paths["spawner"], w["loops"], args.seconds,
                                               w["rate"], w["binary"], f"base{n}", work)
                        base = execs / secs
                        baselines.append(base)
                        n += 1
                        v = trial(name, tool, w, args, paths, work, n)
                        v["slowdown_pct"] = 100.0 * (1 - v["rate"] / base)
                        report(wname, name, v)
                        merge(results[wname]["tools"], name, v)
                results[wname]["baseline_rate"] = sum(baselines) / len(baselines)
        if rsyslogd:
            rsyslogd.close()
        if kafka:
            kafka.close()
        print_table(results)
        for wname, r in results.items():
            for name, v in r["tools"].items():
                if "consumer" in v:
                    print(f"{wname} {name}: the far end holds {v['consumer']} of the "
                          f"{v['records']} records written ({v['consumer'] - v['records']:+d})")
        record = os.path.join(work, "storm.db")
        if os.path.exists(record):
            # What the record costs on disk: the file (after its last close checkpointed the
            # WAL) per 1,000 processes it has a row for, and per event.
            import sqlite3
            db = sqlite3.connect(record)
            images = db.execute("SELECT count(*) FROM processes").fetchone()[0]
            events = db.execute("SELECT count(*) FROM events").fetchone()[0]
            db.close()
            size = os.path.getsize(record)
            print(f"record: {size / 2**20:.1f} MiB for {events} events and {images} program "
                  f"images: {size / max(images, 1) * 1000 / 2**20:.2f} MiB per 1,000 images, "
                  f"{size / max(events, 1):.0f} bytes per event")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def merge(tools, name, v):
    """Sums counts over repeats; keeps every run's slowdown for the median."""
    if name not in tools:
        tools[name] = dict(v, slowdowns=[v["slowdown_pct"]], cpu_us=v["cpu_us_per_exec"] * v["execs"],
                           rates=[v["rate"]], cpus=[v["cpu_us_per_exec"]], rsss=[v["rss_kb"]])
        return
    t = tools[name]
    for k in ("execs", "right", "unavailable", "wrong", "missing", "lost_counted",
              "overflow_reports", "records", "consumer"):
        if k in v:
            t[k] = t.get(k, 0) + v[k]
    t["cpu_us"] += v["cpu_us_per_exec"] * v["execs"]
    t["cpu_us_per_exec"] = t["cpu_us"] / t["execs"]
    t["slowdowns"].append(v["slowdown_pct"])
    t["cpus"].append(v["cpu_us_per_exec"])
    t["rsss"].append(v["rss_kb"])
    t["rates"].append(v["rate"])
    t["slowdown_pct"] = sorted(t["slowdowns"])[len(t["slowdowns"]) // 2]
    t["rate"] = sum(t["rates"]) / len(t["rates"])


def report(wname, name, v):
    print(f"[{wname}] {name}: {v['execs']} execs, right {v['right']}, unavailable "
          f"{v['unavailable']}, wrong {v['wrong']}, missing {v['missing']}, "
          f"{v['cpu_us_per_exec']:.1f} µs CPU/exec", file=sys.stderr)


def print_table(results):
    print("| workload | tool | execs | argv right | unavailable | wrong | missing | "
          "CPU µs/exec | CPU µs/exec per run: median (min .. max) | peak RSS MiB (max of runs) | "
          "exec rate | slowdown: median (min .. max), runs |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for wname, r in results.items():
        for name, v in r["tools"].items():
            pct = 100.0 * v["right"] / v["execs"]
            s = v["slowdowns"]
            print(f"| {wname} | {name} | {v['execs']} | {pct:.2f}% | {v['unavailable']} | "
                  f"{v['wrong']} | {v['missing']} | {v['cpu_us_per_exec']:.1f} | "
                  f"{sorted(v['cpus'])[len(v['cpus']) // 2]:.1f} ({min(v['cpus']):.1f} .. "
                  f"{max(v['cpus']):.1f}) | {max(v['rsss']) / 1024:.1f} | "
                  f"{v['rate']:.0f}/s | {v['slowdown_pct']:+.1f}% ({min(s):+.1f} .. {max(s):+.1f}), "
                  f"{len(s)} |")
        print(f"| {wname} | (no tool) | | | | | | | | | {r['baseline_rate']:.0f}/s | |")


if __name__ == "__main__":
    main()
