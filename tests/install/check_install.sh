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
for f in bin/proctrail include/proctrail/proctrail.hpp; do
  [ -e "$prefix/$f" ] || { say "not installed: $f"; exit 1; }
done

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
