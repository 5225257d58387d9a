#!/usr/bin/env python3
"""Totals of one test run, with every skip and its reason; fails on a skip nobody explained.

    scripts/test-report.py PART JUNIT_XML [--env TAG[,TAG...]]

PART names the run in the output ("host", "linux-6.1", "asan" ...). JUNIT_XML is what
`ctest --output-junit` wrote. A skipped test must say why with a key, `[skip:KEY] reason`
(tests/common/skip.hpp for gtest, the same words on a shell test's output); the key must be
in tests/skips.list with one of the run's environment TAGs. A run as a user other than root
adds the tag `unprivileged`.

Prints one line per skip, then `PART: N passed, N failed, N skipped`. Exits 1 when a test
failed, a skip has no key, or its key is not explained in this environment; 0 otherwise.
"""

import argparse
import os
import re
import sys
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
SKIPS = os.path.join(HERE, "..", "tests", "skips.list")
KEY = re.compile(r"\[skip:([a-z0-9-]+)\]\s*(.*)")


def load_explained(path):
    """KEY -> (set of environment tags, reason), from tests/skips.list."""
    explained = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 2)
            if len(parts) < 3:
                sys.exit(f"{path}:{n}: want KEY ENVIRONMENTS REASON, got: {line}")
            explained[parts[0]] = (set(parts[1].split(",")), parts[2])
    return explained


def skip_reason(case):
    """The [skip:KEY] line a skipped test printed: (key, reason), or (None, last words)."""
    out = case.findtext("system-out") or ""
    for line in out.splitlines():
        m = KEY.search(line)
        if m:
            return m.group(1), m.group(2).strip()
    # No key: show what it said after gtest's "Skipped" line, or its last line.
    lines = [l for l in out.splitlines() if l.strip()]
    for i, l in enumerate(lines):
        if l.endswith(": Skipped") and i + 1 < len(lines):
            return None, lines[i + 1].strip()
    return None, lines[-1].strip() if lines else "(said nothing)"


def failure_summary(case, limit=300):
    """': ' and the first words of why a test failed, so that the end of a long CI log says
    what went wrong, not only what: gtest's first failure (its file:line and what follows, up
    to a blank line or the next failure), or else the test's last line of output (a crash, a
    timeout). Control characters become '?'."""
    lines = [l.strip() for l in (case.findtext("system-out") or "").splitlines()]
    words = ""
    for i, l in enumerate(lines):
        if l.endswith(": Failure"):
            said = [l]
            for nxt in lines[i + 1:]:
                if not nxt or nxt.startswith("[  FAILED") or nxt.endswith(": Failure"):
                    break
                said.append(nxt)
            words = " ".join(said)
            break
    else:
        said = [l for l in lines if l]
        words = said[-1] if said else ""
    if not words:
        return ""
    words = re.sub(r"[\x00-\x1f\x7f]", "?", words)
    return ": " + (words[:limit] + " ..." if len(words) > limit else words)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("part")
    ap.add_argument("junit")
    ap.add_argument("--env", default="", help="environment tags, comma-separated")
    ap.add_argument("--skips", default=SKIPS, help="the list of explained skips")
    a = ap.parse_args()

    env = {t for t in a.env.split(",") if t}
    if os.geteuid() != 0:
        env.add("unprivileged")
    explained = load_explained(a.skips)
    try:
        cases = ET.parse(a.junit).getroot().iter("testcase")
    except (OSError, ET.ParseError) as e:
        print(f"{a.part}: cannot read the test results {a.junit}: {e}", file=sys.stderr)
        print(f"{a.part}: 0 passed, 1 failed, 0 skipped")
        return 1

    passed = failed = skipped = 0
    bad_skips = []
    for case in cases:
        name = case.get("name")
        if case.find("skipped") is not None or case.get("status") == "notrun":
            skipped += 1
            key, reason = skip_reason(case)
            if key is None:
                verdict = "NOT EXPLAINED: no [skip:KEY] in its output"
            elif key not in explained:
                verdict = f"NOT EXPLAINED: key '{key}' is not in tests/skips.list"
            elif not (explained[key][0] & env):
                verdict = (f"NOT EXPLAINED here: '{key}' is expected only in "
                           f"{','.join(sorted(explained[key][0]))}")
            else:
                verdict = "explained: " + explained[key][1]
            if verdict.startswith("NOT"):
                bad_skips.append(name)
            print(f"{a.part}: skipped {name}: [{key or '?'}] {reason} ({verdict})")
        elif case.find("failure") is not None or case.find("error") is not None \
                or case.get("status") == "fail":
            failed += 1
            print(f"{a.part}: FAILED {name}{failure_summary(case)}")
        else:
            passed += 1
    if passed + failed + skipped == 0:
        print(f"{a.part}: no test ran", file=sys.stderr)
        failed = 1
    if bad_skips:
        print(f"{a.part}: {len(bad_skips)} skip(s) the environment does not explain: "
              + ", ".join(bad_skips), file=sys.stderr)
    print(f"{a.part}: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or bad_skips else 0


if __name__ == "__main__":
    sys.exit(main())
