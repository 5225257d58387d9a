#!/usr/bin/env bash
# Runs the ctest suite of an existing build inside one of Debian 12's own kernels, booted under
# qemu's TCG emulation, so the project can be checked on an older kernel than the host's.
#
#   scripts/kernel-test.sh VERSION [BUILD_DIR] [-- CTEST_ARGS...]
#
#   VERSION     a kernel series in Debian 12's archive, e.g. 6.1 or 6.12 (its newest build), or
#               one exact build, e.g. 6.1.0-57 or 6.12.117+deb12
#   BUILD_DIR   a configured build tree (default: build in this checkout)
#   CTEST_ARGS  more ctest arguments, e.g. -L unit or -R Netlink
#
# Exits with ctest's status in the guest. The guest sees the host's / read-only over 9p, under a
# tmpfs overlay, so it runs the very same files and none of its writes reach the host except
# the ctest log and status, which come back through a second, writable share.
#
# Run as root: it installs qemu-system-x86 and busybox-static when they are missing, and
# downloads the kernel package once into ${XDG_CACHE_HOME:-/var/cache}/proctrail/kernels
# (unpacked there, never installed).
#
# Environment:
#   PROCTRAIL_KERNEL_TEST_TIMEOUT  how long qemu may run, as timeout(1) reads it (default 30m)
#   PROCTRAIL_KERNEL_TEST_MEMORY   guest memory (default 4G)
#   PROCTRAIL_KERNEL_TEST_CPUS     guest CPUs (default 2)
#   PROCTRAIL_KERNEL_TEST_APPEND   more kernel command line, e.g. loglevel=7 to see the boot
#   PROCTRAIL_E2E_TIME_SCALE       how much the end-to-end tests stretch deadlines and shrink
#                                  storms in the guest (default 8)
#   PROCTRAIL_KERNEL_TEST_JUNIT    also keep the guest's JUnit results at this path
#
# After the run it prints the totals and each skip with its reason (scripts/test-report.py,
# environment tag linux-VERSION); a skip tests/skips.list does not expect there fails it.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
guest_init=$here/scripts/kernel-test/guest-init
cache=${XDG_CACHE_HOME:-/var/cache}/proctrail/kernels
time_limit=${PROCTRAIL_KERNEL_TEST_TIMEOUT:-30m}
memory=${PROCTRAIL_KERNEL_TEST_MEMORY:-4G}
cpus=${PROCTRAIL_KERNEL_TEST_CPUS:-2}
append=${PROCTRAIL_KERNEL_TEST_APPEND:-}
# What the guest needs that Debian builds as modules: the virtio PCI transport, 9p over it, and
# overlayfs. Their dependencies (virtio_ring, netfs, fscache ...) are found in the modules.
wanted_modules=(virtio_pci 9pnet_virtio 9p overlay)

say() { printf '==> kernel-test: %s\n' "$*" >&2; }
die() {
  printf 'kernel-test: error: %s\n' "$*" >&2
  exit 1
}
usage() { die "usage: $0 VERSION [BUILD_DIR] [-- CTEST_ARGS...], e.g. $0 6.1 build -- -L unit"; }

run_dir=
qemu_pid=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  # timeout passes the TERM on to qemu.
  if [ -n "$qemu_pid" ]; then kill "$qemu_pid" 2>/dev/null && wait "$qemu_pid" 2>/dev/null; fi
  if [ -n "$run_dir" ]; then rm -rf "$run_dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

parse_args() {
  if [ $# -eq 0 ] || [ "$1" = -- ]; then usage; fi
  version=${1%-amd64}
  shift
  # It becomes part of an apt-cache search pattern: only what kernel versions are made of.
  [[ $version =~ ^[0-9]+\.[0-9]+[0-9a-z.+~-]*$ ]] || die "not a kernel version: $version"
  build_dir=$here/build
  if [ $# -gt 0 ] && [ "$1" != -- ]; then
    build_dir=$1
    shift
  fi
  if [ $# -gt 0 ]; then
    [ "$1" = -- ] || usage
    shift
  fi
  ctest_args=("$@")
}

check_build_dir() {
  [ -d "$build_dir" ] || die "no build directory $build_dir (build first, or give BUILD_DIR)"
  build_dir=$(realpath -e "$build_dir")
  [ -f "$build_dir/CTestTestfile.cmake" ] || die "$build_dir has no tests (no CTestTestfile.cmake)"
  # The guest mounts fresh file systems there, hiding the host's.
  local top=${build_dir#/}
  top=/${top%%/*}
  case "$top" in
    /tmp | /run | /proc | /sys | /dev)
      die "$build_dir is hidden in the guest (it has its own $top); use a build dir elsewhere"
      ;;
  esac
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

ensure_packages() {
  local missing=() p
  for p in qemu-system-x86 busybox-static; do
    installed "$p" || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    die "apt-get install ${missing[*]} failed"
}

# The signed image package of the newest build of the series ($version 6.1 gives
# linux-image-6.1.0-57-amd64, 6.12 gives linux-image-6.12.117+deb12-amd64), else the package of
# exactly that build. The -unsigned, -cloud and -rt packages are other builds and never match.
newest_image_package() {
  local v=${version//./\\.}
  v=${v//+/\\+}
  apt-cache search --names-only "^linux-image-$v(\.0-[0-9]+|\.[0-9]+\+deb[0-9]+)-amd64\$" |
    awk '{print $1}' | sort -V | tail -n 1
}

resolve_package() {
  package=$(newest_image_package)
  if [ -z "$package" ] && apt-cache show "linux-image-$version-amd64" >/dev/null 2>&1; then
    package=linux-image-$version-amd64
  fi
  [ -n "$package" ] || return 1
  package_version=$(apt-cache show --no-all-versions "$package" | awk '/^Version:/ {print $2; exit}')
  [ -n "$package_version" ]
}

download_kernel() {
  local tmp
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.download.XXXXXX")
  # apt downloads as the _apt user; let it write here (else it warns and downloads as root).
  chown _apt "$tmp" 2>/dev/null || true
  if ! (cd "$tmp" && apt-get download -q=2 "$package=$package_version"); then
    rm -rf "$tmp"
    return 1
  fi
  say "unpacking $package $package_version into $kernel_dir"
  dpkg-deb -x "$tmp"/*.deb "$tmp/tree" || {
    rm -rf "$tmp"
    die "cannot unpack $package"
  }
  # Renamed into place only once complete: an interrupted run leaves no half kernel behind (and
  # if a parallel run got there first, its copy is as good).
  mv -T "$tmp/tree" "$kernel_dir" 2>/dev/null || [ -d "$kernel_dir" ] || die "cannot create $kernel_dir"
  rm -rf "$tmp"
}

# Sets package, package_version, kernel_dir. The apt lists are refreshed only when they do not
# know the version, or name a package the archive no longer has.
fetch_kernel() {
  if ! resolve_package; then
    say "no kernel $version in the apt lists; updating them"
    apt-get update -qq || die "apt-get update failed"
    resolve_package || die "Debian 12 has no kernel $version (try 6.1 or 6.12)"
  fi
  kernel_dir=$cache/${package}_$package_version
  [ -d "$kernel_dir" ] && return 0
  say "downloading $package $package_version (once)"
  download_kernel && return 0
  say "download failed; updating the apt lists and trying again"
  apt-get update -qq || die "apt-get update failed"
  resolve_package || die "Debian 12 has no kernel $version any more"
  kernel_dir=$cache/${package}_$package_version
  [ -d "$kernel_dir" ] || download_kernel || die "cannot download $package $package_version"
}

# Sets release and vmlinuz from the unpacked package.
locate_kernel() {
  local dirs=("$kernel_dir"/lib/modules/*)
  if [ ${#dirs[@]} -ne 1 ] || [ ! -d "${dirs[0]}" ]; then
    die "$kernel_dir: expected one lib/modules/<release>"
  fi
  release=${dirs[0]##*/}
  vmlinuz=$kernel_dir/boot/vmlinuz-$release
  [ -f "$vmlinuz" ] || die "$kernel_dir has no boot/vmlinuz-$release"
}

# Module files by module name (file names may use - where the name has _), and the names of
# modules built into the kernel, which need no loading.
declare -A module_file=() builtin_module=() staged_module=()
index_modules() {
  local root=$kernel_dir/lib/modules/$release name path
  while read -r name path; do
    name=${name%%.ko*}
    module_file[${name//-/_}]=$path
  done < <(find "$root/kernel" -name '*.ko*' -printf '%f %p\n')
  while read -r path; do
    name=${path##*/}
    name=${name%%.ko*}
    builtin_module[${name//-/_}]=1
  done <"$root/modules.builtin"
}

# Copies a module (uncompressed: busybox insmod wants a plain ELF file) and, first, the modules
# it depends on (named in its .modinfo section), appending each to the load order once.
stage_module() {
  local name=$1 dir=$2 file deps dep
  [ -z "${staged_module[$name]:-}" ] && [ -z "${builtin_module[$name]:-}" ] || return 0
  staged_module[$name]=1
  file=${module_file[$name]:-}
  [ -n "$file" ] || die "$package has no module $name"
  case "$file" in
    *.ko) cp "$file" "$dir/$name.ko" ;;
    *.ko.xz) busybox xz -dc "$file" >"$dir/$name.ko" ;;
    *) die "cannot unpack module $file" ;;
  esac
  deps=$(tr '\0' '\n' <"$dir/$name.ko" | sed -n 's/^depends=//p')
  deps=${deps%%$'\n'*}
  for dep in ${deps//,/ }; do
    stage_module "${dep//-/_}" "$dir"
  done
  echo "$name.ko" >>"$dir/order"
}

# A cpio of busybox, the modules and guest-init as /init; the kernel unpacks it as its first root.
build_initramfs() {
  local root=$run_dir/initramfs m
  mkdir -p "$root"/{bin,dev,proc,sys,modules}
  cp /bin/busybox "$root/bin/busybox"
  ln -s busybox "$root/bin/sh"
  cp "$guest_init" "$root/init"
  chmod 755 "$root/init"
  : >"$root/modules/order"
  index_modules
  for m in "${wanted_modules[@]}"; do stage_module "$m" "$root/modules"; done
  (cd "$root" && find . | busybox cpio -o -H newc -R 0:0 >"$run_dir/initramfs.cpio" 2>/dev/null) ||
    die "cannot build the initramfs"
}

# Single-quoted for sh, which reads it back in the guest.
quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# The share the guest writes its results to; it also carries what the guest is to run.
prepare_share() {
  local a
  share=$run_dir/share
  mkdir "$share"
  cp "$guest_init" "$share/guest-init"
  {
    printf 'build_dir=%s\n' "$(quote "$build_dir")"
    # Emulation is many times slower than the host: the end-to-end tests stretch their
    # deadlines and pauses, and run smaller storms, by this factor.
    printf 'export PROCTRAIL_E2E_TIME_SCALE=%s\n' "$(quote "${PROCTRAIL_E2E_TIME_SCALE:-8}")"
    printf 'set --'
    for a in "${ctest_args[@]}"; do printf ' %s' "$(quote "$a")"; done
    printf '\n'
  } >"$share/config"
}

# TCG only: KVM cannot boot a stock kernel on this kind of host. The serial console goes to a
# file, shown only when the guest fails; panic=-1 and -no-reboot make a panic end qemu.
start_qemu() {
  timeout -k 10s "$time_limit" qemu-system-x86_64 \
    -nodefaults -no-user-config -display none -monitor none -no-reboot \
    -accel tcg,thread=multi -cpu max -smp "$cpus" -m "$memory" \
    -serial "file:$run_dir/console.log" \
    -kernel "$vmlinuz" -initrd "$run_dir/initramfs.cpio" \
    -append "console=ttyS0 quiet loglevel=3 panic=-1${append:+ $append}" \
    -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
    -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
    -fsdev "local,id=results,path=$share,security_model=none" \
    -device virtio-9p-pci,fsdev=results,mount_tag=results \
    </dev/null >"$run_dir/qemu.log" 2>&1 &
  qemu_pid=$!
}

show_console() {
  printf -- '--- last lines of the guest console ---\n' >&2
  tail -n 40 "$run_dir/console.log" >&2 2>/dev/null || true
  if [ -s "$run_dir/qemu.log" ]; then
    printf -- '--- qemu ---\n' >&2
    tail -n 20 "$run_dir/qemu.log" >&2
  fi
}

# The guest reads the build through a cache; a rebuild on the host during the run can leave it
# testing a mix of old and new files.
warn_if_rebuilt() {
  local changed
  changed=$(find "$build_dir" -path "$build_dir/Testing" -prune -o -type f ! -name '.ninja_*' \
    -newer "$run_dir/initramfs.cpio" -print -quit 2>/dev/null || true)
  [ -z "$changed" ] || say "warning: the build changed during the run ($changed); results may mix builds"
}

main() {
  local qemu_status status
  parse_args "$@"
  [ "$(id -u)" = 0 ] || die "run as root (apt-get, and the guest reads the host's files as root)"
  check_build_dir
  ensure_packages
  fetch_kernel
  locate_kernel
  run_dir=$(mktemp -d /tmp/proctrail-kernel-test.XXXXXX)
  build_initramfs
  prepare_share
  say "Linux $release under qemu (TCG): ctest in $build_dir${ctest_args[*]:+ ${ctest_args[*]}}"
  start_qemu
  # The log is printed as the guest writes it; tail ends, after a last read, when qemu does.
  tail -n +1 -F --pid="$qemu_pid" "$share/ctest.log" 2>/dev/null || true
  qemu_status=0
  wait "$qemu_pid" || qemu_status=$?
  qemu_pid=
  if [ "$qemu_status" = 124 ] || [ "$qemu_status" = 137 ]; then
    show_console
    die "the guest did not finish within $time_limit (PROCTRAIL_KERNEL_TEST_TIMEOUT)"
  fi
  if [ ! -f "$share/status" ]; then
    show_console
    die "the guest never wrote a status (qemu exited with $qemu_status; its console is above)"
  fi
  status=$(<"$share/status")
  [[ $status =~ ^[0-9]+$ ]] || die "the guest wrote a garbled status: $status"
  warn_if_rebuilt
  say "ctest in Linux $release exited with $status after ${SECONDS}s"
  # Totals, and each skip with its reason; a skip tests/skips.list does not expect on this
  # kernel fails the run like a failed test.
  local report=0
  "$here/scripts/test-report.py" "linux-$version" "$share/junit.xml" --env "linux-$version" ||
    report=$?
  if [ -n "${PROCTRAIL_KERNEL_TEST_JUNIT:-}" ]; then cp "$share/junit.xml" "$PROCTRAIL_KERNEL_TEST_JUNIT"; fi
  [ "$status" = 0 ] || exit "$status"
  exit "$report"
}

main "$@"
