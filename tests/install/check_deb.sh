#!/usr/bin/env bash
# Builds the Debian package from a build directory (cpack -G DEB), installs it with apt as an
# admin would, checks what it installed (the tool, its mode, group and capabilities, a run, the
# manual, the unit), then purges it and checks that none of it is left.
#
#   check_deb.sh BUILD_DIR SOURCE_DIR
#
# Exits 77 (ctest's "skipped") where it cannot run, saying why. It installs into this machine's
# own /usr, so it refuses to run (exit 1) where that would replace or then delete something it
# did not bring: an installed proctrail package, any file the package holds (/usr/bin/proctrail
# ...), /var/log/proctrail or /var/lib/proctrail. A group of the package's name that is there
# before is used and must still be there after the purge: the package deletes only a group it
# created (the end-to-end tests create it too, so it is often there).
set -euo pipefail
build=$1
src=$2
say() { printf 'check_deb: %s\n' "$*"; }
fail() { say "$*"; exit 1; }
started=$SECONDS

if [ "$(id -u)" != 0 ]; then
  say "[skip:needs-root] installing and purging a Debian package needs root"
  exit 77
fi
[ -f "$src/packaging/setcap.sh" ] || fail "$src is not proctrail's source tree"
[ -f "$build/CPackConfig.cmake" ] ||
  fail "$build has no CPackConfig.cmake: not configured, or from a tree without cmake/package.cmake"
for tool in cpack apt-get dpkg-deb dpkg-shlibdeps file getcap man; do
  command -v "$tool" >/dev/null ||
    fail "$tool is not installed (packages cmake, apt, dpkg-dev, file, libcap2-bin, man-db)"
done

cached() {  # cached NAME: a variable's value in the build's CMakeCache.txt
  sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"
}
version=$(cached CMAKE_PROJECT_VERSION)
group=$(cached PROCTRAIL_GROUP)
[ -n "$version" ] || fail "no CMAKE_PROJECT_VERSION in $build/CMakeCache.txt"
[ -n "$group" ] || fail "no PROCTRAIL_GROUP in $build/CMakeCache.txt"

status=$(dpkg-query -W -f='${Status}' proctrail 2>/dev/null || true)
case "$status" in
  "" | *not-installed) ;;
  *) fail "refusing to run: package proctrail is on this machine ($status); this test would purge it" ;;
esac
for d in /var/log/proctrail /var/lib/proctrail; do
  [ ! -e "$d" ] || fail "refusing to run: $d exists, and purging the package would delete it"
done

tmp=$(mktemp -d)
installed=no
cleanup() {
  # A failed check must not leave the package on the machine.
  if [ "$installed" = yes ]; then
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -q -o DPkg::Lock::Timeout=120 proctrail \
      >/dev/null 2>&1 || dpkg --purge proctrail >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
# apt reads a local package as its own user _apt when it can; mktemp's folder is root's only.
chmod 755 "$tmp"

say "cpack -G DEB from $build"
cpack --config "$build/CPackConfig.cmake" -G DEB -B "$tmp" >"$tmp/cpack.log" 2>&1 ||
  { cat "$tmp/cpack.log"; fail "cpack -G DEB failed"; }
deb=$tmp/proctrail_${version}_$(dpkg --print-architecture).deb
[ -f "$deb" ] || { ls "$tmp"; fail "cpack wrote no $(basename "$deb")"; }

# The control fields: dpkg-shlibdeps found the libraries' packages; the maintainer scripts' tools.
depends=$(dpkg-deb -f "$deb" Depends)
for d in libcap2-bin libc6 libstdc++6 libfmt; do
  [[ ", $depends" == *", $d"* ]] || fail "Depends lacks $d: $depends"
done
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "the package's version is not $version"
control=$(dpkg-deb --ctrl-tarfile "$deb" | tar -t)
for f in postinst prerm postrm conffiles; do
  grep -qx "./$f" <<<"$control" || fail "the package has no $f"
done

# Everything the package would write must be new here: dpkg silently takes over files that no
# package owns, and the purge would then delete them.
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }' >"$tmp/contents"
[ -s "$tmp/contents" ] || fail "the package holds no files"
while read -r f; do
  if [ -e "$f" ] || [ -L "$f" ]; then
    fail "refusing to run: $f exists and installing the package would replace it (remove it, or run this on a scratch machine)"
  fi
done <"$tmp/contents"
for f in /usr/bin/proctrail /lib/systemd/system/proctrail.service /etc/logrotate.d/proctrail \
  /usr/share/proctrail/setcap.sh; do
  grep -qx "$f" "$tmp/contents" || fail "the package does not hold $f"
done
gid_before=$(getent group "$group" | cut -d: -f3 || true)
if [ -n "$gid_before" ]; then
  say "group $group exists already (gid $gid_before): the package must use it and leave it"
fi

export DEBIAN_FRONTEND=noninteractive
apt=(apt-get -q -o DPkg::Lock::Timeout=120)
# Only when apt cannot find a dependency in the lists it has does it need fresh ones: no network
# for a machine that has them all.
if ! "${apt[@]}" -s install "$deb" >"$tmp/simulate.log" 2>&1; then
  say "apt cannot place every dependency ($(grep -m1 -E '^ ' "$tmp/simulate.log" || true)); apt-get update"
  "${apt[@]}" update -qq >"$tmp/update.log" 2>&1 || { cat "$tmp/update.log"; fail "apt-get update failed"; }
fi
say "apt-get install $(basename "$deb")"
installed=yes
"${apt[@]}" install -y --no-install-recommends "$deb" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; fail "apt-get install ./$(basename "$deb") failed"; }
[ "$(dpkg-query -W -f='${Status}' proctrail)" = "install ok installed" ] ||
  { cat "$tmp/install.log"; fail "proctrail is not installed after apt-get install"; }
# postinst says what it did; a warning there (no capabilities) shows up as a failed check below.
grep -E '^(setcap\.sh|proctrail):' "$tmp/install.log" | sed 's/^/  postinst: /' || true

bin=/usr/bin/proctrail  # the package's, not another proctrail earlier in PATH
out=$("$bin" --version) || fail "$bin --version failed"
[[ "$out" == *"$version"* ]] || fail "$bin --version printed '$out', not version $version"

# postinst ran packaging/setcap.sh: root and the group may run it, with the capabilities.
mode=$(stat -c '%a %U %G' "$bin")
[ "$mode" = "750 root $group" ] || fail "$bin is '$mode', not '750 root $group'"
caps=$(getcap "$bin")
for c in cap_bpf cap_perfmon cap_net_admin cap_sys_ptrace cap_sys_nice; do
  [[ "$caps" == *"$c"* ]] || fail "$bin lacks $c: '$caps'"
done
[[ "$caps" == *=ep ]] || fail "$bin's capabilities are not effective and permitted: '$caps'"
if runuser -u nobody -- "$bin" --version >/dev/null 2>&1; then
  fail "a user outside group $group could run $bin"
fi
[ "$(stat -c '%a %U' /var/log/proctrail 2>/dev/null)" = "750 root" ] ||
  fail "postinst did not make /var/log/proctrail mode 0750, owned by root"

# A second of capture, as root, from the installed binary.
timeout 30 "$bin" -D 1 -f json >"$tmp/run.jsonl" 2>"$tmp/run.err" ||
  fail "$bin -D 1 -f json failed: $(cat "$tmp/run.err")"
start=$(head -n 1 "$tmp/run.jsonl")
[[ "$start" == *'"type":"start"'* && "$start" == *"\"version\":\"$version\""* ]] ||
  fail "the first record of $bin -D 1 -f json is not its start record: $start"
say "ran $bin -D 1: $(wc -l <"$tmp/run.jsonl") records, starting with the start record"

# -a: a proctrail installed under /usr/local has its page earlier on the search path.
pages=$(man -aw proctrail 2>&1 || true)
grep -qE '^/usr/share/man/man8/proctrail\.8(\.gz)?$' <<<"$pages" ||
  fail "man -w proctrail does not find /usr/share/man/man8/proctrail.8 (it finds: $pages)"
unit=/lib/systemd/system/proctrail.service
[ -f "$unit" ] || fail "$unit is missing"
grep -q "^ExecStart=$bin " "$unit" || fail "$unit does not start $bin"
if command -v systemd-analyze >/dev/null; then
  err=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify $unit: $err"
fi
# The shipped copies of the source tree's files.
cmp -s /etc/logrotate.d/proctrail "$src/packaging/proctrail.logrotate" ||
  fail "/etc/logrotate.d/proctrail is not $src/packaging/proctrail.logrotate"
cmp -s /usr/share/proctrail/setcap.sh "$src/packaging/setcap.sh" ||
  fail "/usr/share/proctrail/setcap.sh is not $src/packaging/setcap.sh"
conffiles=$(dpkg-query -W -f='${Conffiles}' proctrail)
grep -q '^ /etc/logrotate.d/proctrail ' <<<"$conffiles" ||
  fail "dpkg does not know /etc/logrotate.d/proctrail as a configuration file"
say "installed: mode, group, capabilities, a run, the manual, the unit and the logrotate file are right"

# What dpkg says the package installed, and which of it are folders (/lib too, a link to one on
# Debian 12), before it goes.
dpkg -L proctrail >"$tmp/listing"
while read -r p; do
  if [ -d "$p" ]; then echo "$p"; fi
done <"$tmp/listing" >"$tmp/dirs"

say "apt-get purge proctrail"
"${apt[@]}" purge -y proctrail >"$tmp/purge.log" 2>&1 ||
  { cat "$tmp/purge.log"; fail "apt-get purge proctrail failed"; }
installed=no
status=$(dpkg-query -W -f='${Status}' proctrail 2>/dev/null || true)
case "$status" in
  "" | *not-installed) ;;
  *) fail "proctrail is still known to dpkg after the purge: $status" ;;
esac
left=()
while read -r p; do
  if grep -qxF "$p" "$tmp/dirs"; then
    # Shared folders (/usr/bin ...) stay; the package's own ones must go.
    case "${p##*/}" in *proctrail*) [ ! -e "$p" ] || left+=("$p/") ;; esac
  elif [ -e "$p" ] || [ -L "$p" ]; then
    left+=("$p")
  fi
done <"$tmp/listing"
for p in /var/log/proctrail /var/lib/proctrail; do
  [ ! -e "$p" ] || left+=("$p")
done
[ ${#left[@]} = 0 ] || fail "left after the purge: ${left[*]}"
gid_after=$(getent group "$group" | cut -d: -f3 || true)
if [ -n "$gid_before" ]; then
  [ "$gid_after" = "$gid_before" ] ||
    fail "group $group (gid $gid_before) was there before the package, and the purge changed it (now '${gid_after}')"
  say "group $group, there before, is still there (gid $gid_after)"
else
  [ -z "$gid_after" ] || fail "the package created group $group, and the purge left it"
  say "group $group, created by the package, is gone"
fi
say "purged: none of the $(wc -l <"$tmp/listing") paths dpkg listed is left, nor /var/log/proctrail ($((SECONDS - started)) s in all)"
