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
# The tools that check the unit and the man page are part of the set-up (quickstart.sh
# installs them): without them this test fails rather than pass unchecked.
for tool in systemd-analyze man; do
  command -v "$tool" >/dev/null || { say "$tool is not installed (packages systemd, man-db)"; exit 1; }
done
# "verify" checks the syntax, every directive's value and that the binary it names is
# there (the man page it cites is not on the system's MANPATH from a temporary prefix).
out=$(systemd-analyze verify "$prefix/lib/systemd/system/proctrail.service" 2>&1 |
  grep -v -e "Command 'man proctrail(8)' failed" || true)
[ -z "$out" ] || { say "systemd-analyze verify: $out"; exit 1; }
# The unit's hardening: rated by systemd itself, and its system-call filter checked against
# what proctrail really calls on both backends (strace), so the filter cannot break the service.
unit="$prefix/lib/systemd/system/proctrail.service"
score=$(systemd-analyze security --offline=yes "$unit" 2>/dev/null |
  sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
[ -n "$score" ] || { say "systemd-analyze security gave no rating"; exit 1; }
awk -v s="$score" 'BEGIN { exit !(s <= 3.0) }' ||
  { say "systemd-analyze security rates the unit $score, worse than 3.0"; exit 1; }
say "systemd-analyze security: exposure $score (3.0 or better wanted)"
if [ "$(id -u)" = 0 ]; then  # capture needs root; a run as another user skips below
  command -v strace >/dev/null || { say "strace is not installed"; exit 1; }
  denied=$(sed -n 's/^SystemCallFilter=~//p' "$unit")
  for backend in bpf netlink; do
    strace -f -qq -o "$tmp/strace-$backend" "$prefix/bin/proctrail" -b "$backend" -f json \
      -o "$tmp/strace-out" -D 1 &
    sleep 0.5
    /bin/true strace-check
    wait
  done
  cat "$tmp"/strace-* | grep -oE '^[0-9]+ +[a-z_0-9]+\(' | awk '{print $2}' | tr -d '(' |
    sort -u >"$tmp/used"
  for group in $denied; do
    hit=$(systemd-analyze syscall-filter "$group" | awk '/^ +[a-z]/ {print $1}' | grep -xFf "$tmp/used" || true)
    [ -z "$hit" ] || { say "the unit denies $group, which proctrail calls: $hit"; exit 1; }
  done
  say "SystemCallFilter denies none of the $(wc -l <"$tmp/used") system calls proctrail made"
fi
# The man page renders without warnings.
warn=$(MANWIDTH=80 man --warnings -l "$prefix/share/man/man8/proctrail.8" 2>&1 >/dev/null || true)
[ -z "$warn" ] || { say "man page warnings: $warn"; exit 1; }

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
  say "[skip:needs-root] built both ways; running them needs root"
  exit 77
fi
# The setcap install (packaging/setcap.sh, as -DPROCTRAIL_SETCAP=ON and the Debian package run
# it): only root and the monitor group may run the binary, and it has the capabilities.
group=proctrail-check-$$
sh "$src/packaging/setcap.sh" "$prefix/bin/proctrail" "$group" >"$tmp/setcap.log"
mode=$(stat -c '%a %G' "$prefix/bin/proctrail")
[ "$mode" = "750 $group" ] || { say "setcap.sh left mode and group '$mode'"; groupdel "$group"; exit 1; }
caps=$(getcap "$prefix/bin/proctrail")
for c in cap_bpf cap_perfmon cap_net_admin cap_sys_ptrace cap_sys_nice; do
  case "$caps" in *"$c"*) ;; *) caps=missing ;; esac
done
case "$caps" in *=ep) ;; *) caps=missing ;; esac
[ "$caps" != missing ] ||
  { say "setcap.sh did not set the capabilities: $(getcap "$prefix/bin/proctrail")"; groupdel "$group"; exit 1; }
chmod 755 "$tmp" "$prefix" "$prefix/bin"
# runuser, not setpriv: setpriv keeps root's saved uid, and with it the capabilities that let
# the exec itself past the file's mode.
if runuser -u nobody -- "$prefix/bin/proctrail" --version >/dev/null 2>&1; then
  say "a user outside group $group could run the setcap'd binary"; groupdel "$group"; exit 1
fi
runuser -u nobody -G "$group" -- "$prefix/bin/proctrail" --version >/dev/null ||
  { say "a member of group $group could not run the setcap'd binary"; groupdel "$group"; exit 1; }
groupdel "$group"
say "setcap.sh: mode 0750, group and capabilities set; others cannot run it"

# Each example, built both ways, must see what it is for: print_execs an exec, poll_loop (the
# pull API with a filter) a process that fails.
run_example() {  # run_example BINARY WORKLOAD MARKER
  local binary=$1 workload=$2 marker=$3
  "$binary" 30 >"$tmp/out" 2>"$tmp/err" &
  local pid=$!
  # Each says which backend it runs once it listens.
  for _ in $(seq 300); do grep -q backend "$tmp/err" && break; sleep 0.1; done
  grep -q backend "$tmp/err" || { say "$binary did not start: $(cat "$tmp/err")"; kill "$pid"; exit 1; }
  sh -c "$workload" || true  # the failing workload fails on purpose
  for _ in $(seq 100); do grep -q -- "$marker" "$tmp/out" && break; sleep 0.1; done
  kill -INT "$pid"
  wait "$pid" || { say "$binary failed: $(cat "$tmp/err")"; exit 1; }
  grep -q -- "$marker" "$tmp/out" || { say "$binary missed $marker: $(cat "$tmp/out" "$tmp/err")"; exit 1; }
  say "$(basename "$binary") saw $marker ($(head -n 1 "$tmp/err"))"
}
marker=check-install-$$
for way in "$tmp/cmake/" "$tmp/"; do
  suffix=$([ "$way" = "$tmp/" ] && echo -pc || true)
  run_example "${way}print_execs$suffix" "/bin/true $marker-exec" "$marker-exec"
  run_example "${way}poll_loop$suffix" "sh -c 'exit 3' $marker-fail" "$marker-fail"
done
