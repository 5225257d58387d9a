#!/usr/bin/env bash
# Installs a build into a temporary prefix, builds the examples against it with find_package
# and with pkg-config, and (as root) runs print_execs to see it catch an exec.
#
#   check_install.sh BUILD_DIR SOURCE_DIR
#
# Exits 77 (ctest's "skipped") where it cannot run, saying why.
set -euo pipefail
build=$1
src=$2
say() { printf 'check_install: %s\n' "$*"; }

if [ "${PROCTRAIL_E2E_TIME_SCALE:-1}" -gt 1 ]; then
  say "skipped under emulation (compiling the examples takes minutes there; the host run covers it)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log"
for f in bin/proctrail include/proctrail/proctrail.hpp share/man/man8/proctrail.8 \
  share/doc/proctrail/event.schema.json lib/systemd/system/proctrail.service; do
  [ -e "$prefix/$f" ] || { say "not installed: $f"; exit 1; }
done
# The unit starts the installed binary, and systemd can parse it.
grep -q "^ExecStart=$prefix/bin/proctrail " "$prefix/lib/systemd/system/proctrail.service" ||
  { say "proctrail.service does not start $prefix/bin/proctrail"; exit 1; }
if command -v systemd-analyze >/dev/null; then
  # "verify" checks the syntax, every directive's value and that the binary it names is
  # there (the man page it cites is not on the system's MANPATH from a temporary prefix).
  out=$(systemd-analyze verify "$prefix/lib/systemd/system/proctrail.service" 2>&1 |
    grep -v -e "Command 'man proctrail(8)' failed" || true)
  [ -z "$out" ] || { say "systemd-analyze verify: $out"; exit 1; }
fi
# The man page renders without warnings.
if command -v man >/dev/null; then
  warn=$(MANWIDTH=80 man --warnings -l "$prefix/share/man/man8/proctrail.8" 2>&1 >/dev/null || true)
  [ -z "$warn" ] || { say "man page warnings: $warn"; exit 1; }
fi

say "building the examples with find_package(proctrail)"
cmake -S "$src/examples" -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/configure.log"
cmake --build "$tmp/cmake" >"$tmp/build.log" || { cat "$tmp/build.log"; exit 1; }

say "building the examples with pkg-config"
pc=$(find "$prefix" -name proctrail.pc)
[ -n "$pc" ] || { say "no proctrail.pc installed"; exit 1; }
flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags --libs proctrail)
for example in print_execs poll_loop; do
  # shellcheck disable=SC2086 # the flags are words
  c++ "$src/examples/$example.cpp" -o "$tmp/$example-pc" $flags
done

if [ "$(id -u)" != 0 ]; then
  say "built both ways; running them needs root: skipped"
  exit 77
fi
marker=check-install-$$
for binary in "$tmp/cmake/print_execs" "$tmp/print_execs-pc"; do
  "$binary" >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  # print_execs says which backend it runs once it listens.
  for _ in $(seq 100); do grep -q backend "$tmp/err" && break; sleep 0.1; done
  /bin/true "$marker"
  sleep 0.5
  kill -INT "$pid"
  wait "$pid" || { say "$binary failed: $(cat "$tmp/err")"; exit 1; }
  grep -q "$marker" "$tmp/out" || { say "$binary missed the exec: $(cat "$tmp/out" "$tmp/err")"; exit 1; }
  say "$(basename "$binary") saw the exec ($(head -n 1 "$tmp/err"))"
done
