#!/usr/bin/env python3
"""The record's SQL layer alone, as it is and as it might be: CPU per process, file size.

Feeds an exec storm's rows (each process: a fork, an exec of /bin/true, an exit; 3 events
and 2 program images) to SQLite with the schema and the statements of src/cli/record.cpp,
read out of that file, so what is measured is what the recorder runs, with nothing of
proctrail around it (capture, formatting, the field walk). Transactions of --per-commit
processes, as the recorder's 250 ms commits hold at 10,000 execs a second.

Variants, each timed in the same run against the first (the anchor):
  as-is          the recorder's schema and statements
  without-rowid  processes as a WITHOUT ROWID table keyed by exec_id
  coalesced      the rows of a process written once per transaction: one INSERT for the
                 image it was forked with and one for the image it exec'd, instead of the
                 fork's insert, the exec's update of the image it replaced, the exec's upsert
                 and the exit's upsert (a design, not code the recorder has)

Reports per variant the median process CPU time per process over --repeat runs (min .. max),
its ratio to the anchor's (median of the per-run ratios), and the file's bytes per 1,000
processes. Python's own work per row is in every variant alike: the ratios understate what
the SQL layer saves or costs inside proctrail.

    python3 bench/record_sql.py [--processes 10000] [--per-commit 2500] [--repeat 5]
"""
import argparse
import os
import re
import sqlite3
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RECORD_CPP = os.path.join(HERE, "..", "src", "cli", "record.cpp")


def recorder_sql():
    """(schema, {statement name: SQL}, {column name: parameter number}) from record.cpp."""
    src = open(RECORD_CPP, encoding="utf-8").read()
    schema = re.search(r'constexpr char kSchema\[\] = R"sql\((.*?)\)sql";', src, re.S).group(1)
    statements = {}
    for name, body in re.findall(r'constexpr char (k\w+)\[\] =\s*((?:"(?:[^"\\]|\\.)*"\s*)+);',
                                 src):
        pieces = re.findall(r'"((?:[^"\\]|\\.)*)"', body)
        statements[name] = "".join(p.replace('\\"', '"') for p in pieces)
    enum = re.search(r"enum Col : int \{(.*?)\};", src, re.S).group(1)
    names = [n.split("=")[0].strip() for n in enum.split(",") if n.strip()]
    cols = {n: i + 1 for i, n in enumerate(names)}  # kRunId = 1, the rest in order
    for need in ("kInsertEvent", "kForked", "kReplaced", "kExeced", "kExited"):
        if need not in statements:
            sys.exit(f"record_sql: no {need} in {RECORD_CPP}")
    return schema, statements, cols


# The coalesced design's two statements, with the recorder's parameter numbers.
COALESCED_FORKED = (
    "INSERT INTO processes(exec_id, parent_exec_id, run, pid, ppid, started, uid, ended, ended_by)"
    " VALUES(?8, ?9, ?1, ?6, ?10, ?4, ?31, ?4, 'exec') ON CONFLICT(exec_id) DO UPDATE SET"
    " ended = excluded.ended, ended_by = excluded.ended_by")
COALESCED_EXECED = (
    "INSERT INTO processes(exec_id, parent_exec_id, run, pid, ppid, argv, exe, cwd, user, uid,"
    " gid, cgroup, container, started, ended, ended_by, exit_code, signal, core_dumped,"
    " duration_ns) VALUES(?8, ?9, ?1, ?6, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?4, ?4,"
    " 'exit', ?19, ?20, ?21, ?22) ON CONFLICT(exec_id) DO UPDATE SET ended = excluded.ended,"
    " ended_by = 'exit', exit_code = excluded.exit_code")


def width(sql):
    """How many parameters a statement takes (its highest ?N)."""
    return max((int(n) for n in re.findall(r"\?(\d+)", sql)), default=0)


def one_run(variant, schema, statements, cols, processes, per_commit, path):
    for tail in ("", "-wal", "-shm"):
        if os.path.exists(path + tail):
            os.unlink(path + tail)
    db = sqlite3.connect(path, isolation_level=None)
    if variant == "without-rowid":
        schema = re.sub(r"(CREATE TABLE IF NOT EXISTS processes\(.*?\));",
                        r"\1 WITHOUT ROWID;", schema, flags=re.S)
    # The recorder's pragmas (RecordSink::open), its page cache included.
    db.executescript("PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL;"
                     " PRAGMA synchronous = NORMAL; PRAGMA cache_size = -2048;" + schema)
    sql = {k: (v, width(v)) for k, v in statements.items()}
    sql["forked2"] = (COALESCED_FORKED, width(COALESCED_FORKED))
    sql["execed2"] = (COALESCED_EXECED, width(COALESCED_EXECED))

    def run(name, values):
        text, n = sql[name]
        db.execute(text, values[:n])

    boot = "4d1c0a7e"
    parent, parent_pid = f"{boot}:100:1000-1", 1000
    values = [None] * (max(cols.values()) + 1)  # index 0 unused: ?N is values[N - 1] below
    started = time.process_time()
    db.execute("BEGIN IMMEDIATE")
    for i in range(processes):
        pid = 20000 + i % 30000
        part = f"{boot}:{5_000_000 + i * 37}:{pid}-"
        forked_id, execed_id = part + "0", part + "1"
        when = f"2026-12-07T00:{i // 60000 % 60:02d}:{i // 1000 % 60:02d}.{i % 1000:03d}000000Z"
        base = {"kRunId": 1, "kTime": when, "kPid": pid, "kTid": pid, "kParentExecId": parent,
                "kParentPid": parent_pid, "kEventUid": 0}
        image = {"kArgv": '["/bin/true","tag-%d"]' % i, "kExe": "/usr/bin/true",
                 "kCwd": "/work/main", "kUser": "root", "kUid": 0, "kGid": 0,
                 "kCgroup": "/user.slice/user-0.slice/session-1.scope"}
        for kind, exec_id in (("fork", forked_id), ("exec", execed_id), ("exit", execed_id)):
            row = dict(base, kType=kind, kTsNs=i * 3, kExecId=exec_id, kProcessPart=part)
            if kind == "exec":
                row.update(image)
            if kind == "exit":
                row.update(kExitCode=0, kCoreDumped=0, kDurationNs=1_234_567)
            # The event's line, about as long as -f json writes one for such an event.
            row["kLine"] = ('{"type":"%s","time":"%s","pid":%d,"tid":%d,"exec_id":"%s",'
                            '"parent_exec_id":"%s","parent_pid":%d,"argv":["/bin/true",'
                            '"tag-%d"],"exe":"/usr/bin/true","cwd":"/work/main","user":"root",'
                            '"uid":0,"gid":0,"host":{"hostname":"bench","boot_id":"%s"},'
                            '"sources":{"argv":"kernel","exe":"kernel","cwd":"kernel"}}'
                            % (kind, when, pid, pid, exec_id, parent, parent_pid, i, boot))
            v = [None] * len(values)
            for name, value in row.items():
                v[cols[name] - 1] = value
            run("kInsertEvent", v)
            if variant == "coalesced":
                # Held until the transaction's end in the design; written here at the
                # process's last event of it, which costs the same.
                if kind == "exit":
                    for exec_id, more in ((forked_id, {}), (execed_id, image)):
                        w = [None] * len(values)
                        for name, value in dict(row, kExecId=exec_id, **more).items():
                            w[cols[name] - 1] = value
                        run("forked2" if exec_id == forked_id else "execed2", w)
                continue
            if kind == "fork":
                run("kForked", v)
            elif kind == "exec":
                run("kReplaced", v)
                run("kExeced", v)
            else:
                run("kExited", v)
        if (i + 1) % per_commit == 0:
            db.execute("COMMIT")
            db.execute("BEGIN IMMEDIATE")
    db.execute("COMMIT")
    db.close()  # checkpoints the WAL into the file, as the recorder's close does
    cpu = time.process_time() - started
    return cpu, os.path.getsize(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--processes", type=int, default=10000)
    ap.add_argument("--per-commit", type=int, default=2500)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--variants", default="as-is,without-rowid,coalesced")
    a = ap.parse_args()
    if a.processes < 1 or a.per_commit < 1 or a.repeat < 1:
        sys.exit("record_sql: --processes, --per-commit and --repeat take 1 or more")
    variants = a.variants.split(",")
    for v in variants:
        if v not in ("as-is", "without-rowid", "coalesced"):
            sys.exit(f"record_sql: unknown variant '{v}' (as-is, without-rowid, coalesced)")
    schema, statements, cols = recorder_sql()
    print(f"sqlite {sqlite3.sqlite_version}, {a.processes} processes, {a.per_commit} per commit,"
          f" {a.repeat} runs; the anchor is {variants[0]}")
    runs = {v: [] for v in variants}
    sizes = {}
    with tempfile.TemporaryDirectory() as d:
        # Interleaved: each round runs every variant once, so a drift of the machine's speed
        # falls on all of them.
        for _ in range(a.repeat):
            for v in variants:
                cpu, size = one_run(v, schema, statements, cols, a.processes, a.per_commit,
                                    os.path.join(d, "bench.db"))
                runs[v].append(cpu / a.processes * 1e6)
                sizes[v] = size
    anchor = runs[variants[0]]
    print(f"{'variant':15} {'µs/process (min .. max)':>28} {'× anchor (min .. max)':>24}"
          f" {'KiB per 1,000':>14}")
    for v in variants:
        us = runs[v]
        ratios = [x / y for x, y in zip(us, anchor)]
        print(f"{v:15} {statistics.median(us):10.1f} ({min(us):6.1f} .. {max(us):6.1f})"
              f"   {statistics.median(ratios):7.2f} ({min(ratios):.2f} .. {max(ratios):.2f})"
              f" {sizes[v] / a.processes * 1000 / 1024:14.0f}")


if __name__ == "__main__":
    main()
