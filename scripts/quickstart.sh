#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and either starts proctrail or runs every test.
#
#   scripts/quickstart.sh run [proctrail options]   the packages the monitor needs, build,
#                                                   install, say what went where, start
#                                                   monitoring
#   scripts/quickstart.sh test                      every package, build, and every test: unit
#                                                   and end-to-end on this kernel and on Debian
#                                                   12's 6.1 under qemu, again under ASan+UBSan
#                                                   and TSan, the fuzzers and the mutation check
#
# PROCTRAIL_JOBS sets how many compile jobs `cmake --build` runs (default: nproc).
# PROCTRAIL_BUILD_DIR sets the build directory (default: build).
# PROCTRAIL_TEST_PARTS picks parts of the test run (default: host,kernel,asan,tsan,fuzz,mutants).
#
# Run as root: it installs packages with apt, and monitoring and the end-to-end tests need a
# real kernel and privileges.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
build=$(realpath -m "${PROCTRAIL_BUILD_DIR:-build}")
fuzz_seconds=${PROCTRAIL_FUZZ_SECONDS:-30}
parts=${PROCTRAIL_TEST_PARTS:-host,kernel,asan,tsan,fuzz,mutants}
jobs=${PROCTRAIL_JOBS:-$(nproc)}

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'quickstart: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (apt-get, and the monitor needs privileges)"
mode=${1:-}
case "$mode" in
  run | test) shift ;;
  *) die "usage: $0 run [proctrail options] | test" ;;
esac
[[ $jobs =~ ^[1-9][0-9]*$ ]] || die "PROCTRAIL_JOBS: '$jobs' is not a number of jobs (1 or more)"
# Each `cmake --build` here gets -j "$jobs"; the ones in the scripts the test run calls
# (scripts/mutants.sh) take it from this variable.
export CMAKE_BUILD_PARALLEL_LEVEL=$jobs

if [ "$mode" = test ]; then
  for p in ${parts//,/ }; do
    case "$p" in
      host | kernel | asan | tsan | fuzz | mutants) ;;
      *) die "PROCTRAIL_TEST_PARTS: unknown part '$p' (choose from host, kernel, asan, tsan, fuzz, mutants)" ;;
    esac
  done
fi

# What building the tool and the library needs (CMakeLists.txt, cmake/bpf.cmake), and running
# it: the compiler and build tools, fmt, CLI11, RE2 and nlohmann-json (the JSON decoder's,
# header only); for the eBPF backend clang (it compiles bpf/ itself; no llvm tool is called),
# bpftool and libbpf, whose pkg-config file requires libelf and zlib; setcap for
# -DPROCTRAIL_SETCAP=ON and packaging/setcap.sh.
run_packages=(
  cmake ninja-build g++ pkg-config
  libfmt-dev libcli11-dev libre2-dev nlohmann-json3-dev libsqlite3-dev librdkafka-dev
  clang libbpf-dev bpftool libelf-dev zlib1g-dev
  libcap2-bin
)
# What only the tests, benchmarks, fuzzers and their scripts need: JSON for the schema checks,
# GoogleTest and Google Benchmark, the sanitizer and libFuzzer runtimes, qemu and busybox for
# the 6.1 kernel, make for the examples built against an install, python3 for the reports,
# strace, man-db and systemd for the install checks, dpkg-dev and file for cpack's dependency
# list in the Debian package's check, sqlite3 for a test that reads a record as a user would,
# protobuf-compiler to decode the report's Perfetto trace
# and chromium to draw its HTML page; systemd's journald and rsyslog are the real daemons the
# --journal and --syslog tests send to; kcat reads back what --kafka sent to librdkafka's mock
# cluster; lld links the test builds faster, and ccache spares the mutation check the compiles
# of unmodified source.
test_packages=(
  make
  libgtest-dev libgmock-dev libbenchmark-dev
  llvm libclang-rt-14-dev
  util-linux procps python3 man-db systemd strace
  qemu-system-x86 busybox-static
  dpkg-dev file
  protobuf-compiler chromium sqlite3
  rsyslog kcat lld ccache
)
packages=("${run_packages[@]}")
[ "$mode" = run ] || packages+=("${test_packages[@]}")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The test builds link with lld when it is there: the mutation check relinks the test programs
# once per mutant, and lld does it in a third of the time GNU ld takes here.
linker=()
if [ "$mode" = test ] && command -v ld.lld >/dev/null; then
  linker=(-DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld -DCMAKE_SHARED_LINKER_FLAGS=-fuse-ld=lld)
fi
# The test build compiles through ccache when it is there: the unmodified file a group of
# mutants replaced (and every file a mutated header reaches) comes back from the cache. In a full
# run at 0efcd03, 50 of the test build's 259 compiles were cache hits, 14.3 s a mutant against 14.9
# without it: a small part of that check, whose cost is mostly its tests.
launcher=()
if [ "$mode" = test ] && command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi

say "building in $build (-j $jobs)"
if [ "$mode" = run ]; then
  # Only what gets installed: the tool and the library, no tests or benchmarks. Everything
  # this part prints goes to stderr: stdout is proctrail's, e.g. for `run -f json > x.jsonl`.
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROCTRAIL_BPF=ON \
    -DPROCTRAIL_TESTS=OFF -DPROCTRAIL_BENCH=OFF -DPROCTRAIL_WERROR=OFF >/dev/null
  cmake --build "$build" -j "$jobs" >&2
else
  # Tests and benchmarks are on by default, but said here: a build directory that `run`
  # configured keeps them off in its cache otherwise. -g1 (line tables and function names, all
  # that a failing test's report or a profile of a benchmark reads): each compile takes a
  # quarter to a third less time than with -g (record.cpp 5.5 s against 8.4 s here), and the
  # mutation check recompiles one file per mutant.
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROCTRAIL_BPF=ON \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" \
    -DPROCTRAIL_TESTS=ON -DPROCTRAIL_BENCH=ON -DPROCTRAIL_WERROR=ON "${linker[@]}" \
    "${launcher[@]}" >/dev/null
  cmake --build "$build" -j "$jobs"
fi

if [ "$mode" = run ]; then
  cmake --install "$build" >/dev/null
  # What went where, as cmake --install recorded it.
  manifest=$build/install_manifest.txt
  [ -s "$manifest" ] || die "cmake --install wrote no $manifest"
  installed() {  # installed WHAT ERE [folder]: the manifest's path matching ERE, or its folder
    local hit n
    hit=$(grep -E -m 1 -- "$2" "$manifest") || die "nothing in $manifest is the $1 ($2)"
    if [ "${3:-}" = folder ]; then
      n=$(grep -c -F -- "${hit%/*}/" "$manifest")
      hit="${hit%/*}/ ($n files)"
    fi
    printf '      %-16s %s\n' "$1" "$hit" >&2
  }
  say "installed (cmake --build $build --target uninstall removes it all):"
  installed binary '/bin/proctrail$'
  installed library '/libproctrail\.(a|so)$'
  installed headers '/include/proctrail/[^/]+$' folder
  installed "CMake package" '/cmake/proctrail/proctrailConfig\.cmake$' folder
  installed pkg-config '/pkgconfig/proctrail\.pc$'
  installed "man page" '/man8/proctrail\.8$'
  installed "JSON schema" '/event\.schema\.json$'
  installed "systemd unit" '/systemd/system/proctrail\.service$'
  bin=$(grep -E -m 1 '/bin/proctrail$' "$manifest")
  say "starting $bin (Ctrl-C to stop)"
  exec "$bin" "$@"
fi

part() { [[ ",$parts," == *",$1,"* ]]; }
started=$SECONDS
lap() { say "$1 took $((SECONDS - started)) s so far"; }

# Every part ends with "PART: N passed, N failed, N skipped" and each skip's reason
# (scripts/test-report.py); a failure, or a skip that tests/skips.list does not expect in that
# environment, fails the part. The parts run on after a failed one, and the run fails at the end.
total_passed=0 total_failed=0 total_skipped=0 failed_parts=()
# What failed, said again at the end: a CI log is long, and its reader may see only its tail.
recap=()
remember() {  # remember TEXT: the lines of TEXT that say a failure
  local l
  while IFS= read -r l; do recap+=("$l"); done < <(grep -a -E ': FAILED |: SURVIVED |: BROKEN|NOT EXPLAINED' <<<"$1" || true)
}
count() {  # count PART LINE: adds "PART: N passed, N failed, N skipped" to the totals
  local re='([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped'
  if [[ $2 =~ $re ]]; then
    total_passed=$((total_passed + BASH_REMATCH[1]))
    total_failed=$((total_failed + BASH_REMATCH[2]))
    total_skipped=$((total_skipped + BASH_REMATCH[3]))
  else
    total_failed=$((total_failed + 1))
  fi
}
# ctest_part PART ENV BUILD [CTEST ARGS...]
ctest_part() {
  local name=$1 env=$2 dir=$3 junit rc=0 out
  shift 3
  junit="$dir/junit-$name.xml"
  rm -f "$junit"
  ctest --test-dir "$dir" --output-on-failure --output-junit "$junit" "$@" || rc=$?
  out=$(scripts/test-report.py "$name" "$junit" --env "$env") || rc=1
  printf '%s\n' "$out"
  remember "$out"
  count "$name" "$(tail -n 1 <<<"$out")"
  [ "$rc" = 0 ] || failed_parts+=("$name")
}

if part host; then
  say "unit and end-to-end tests on this kernel ($(uname -r))"
  ctest_part host host "$build"
  lap "host tests"
fi

# Debian 12's 6.1 under qemu keeps about one of the two cores busy for twenty minutes, and the
# guest has a kernel of its own: nothing the host runs shows up in its events. So it runs in the
# background while the host builds the sanitized trees and fuzzes, niced so that the guest gets
# the CPU first; what runs on the host kernel (the sanitized suites, the mutants) waits for it,
# for their exec storms and timings are the host's. The mutants rebuild $build, which the guest
# is reading, so they come after it too.
kernel_pid=''
corpus=''
# A part that stops the script (a build that fails) takes the guest and the fuzz corpus with it.
# shellcheck disable=SC2317 # called by the EXIT trap
stop_background() {
  if [ -n "$kernel_pid" ]; then kill "$kernel_pid" 2>/dev/null && wait "$kernel_pid" 2>/dev/null; fi
  if [ -n "$corpus" ]; then rm -rf "$corpus"; fi
  return 0
}
trap stop_background EXIT
if part kernel; then
  say "the whole suite again on Debian 12's own kernel (6.1), booted under qemu, in the background"
  # Beside the build, not in it: the guest reads the build, and kernel-test.sh warns when it
  # changes during the run.
  kernel_log=$build-kernel-test-6.1.log
  # Tests labelled host-only (compiling, apt) do nothing that depends on the kernel: the host
  # part ran them, and under emulation they would cost minutes.
  host_only=$(ctest --test-dir "$build" -N -L host-only | sed -n 's/^ *Test *#[0-9]*: //p' | paste -sd ' ')
  say "not run again on 6.1 (label host-only, run by the host part): ${host_only:-none}"
  PROCTRAIL_KERNEL_TEST_JUNIT="$build/junit-linux-6.1.xml" \
    scripts/kernel-test.sh 6.1 "$build" -- -LE host-only >"$kernel_log" 2>&1 &
  kernel_pid=$!
fi
# Builds and fuzzing share the CPU with the guest: niced while it runs.
background() { if [ -n "$kernel_pid" ]; then nice -n 15 "$@"; else "$@"; fi; }

# -O1 -g1 (line tables only): the sanitizers' reports keep file and line, and each of these
# builds takes little more than half the time it takes with -O2 -g (4 min against 7 here).
sanitized() {  # sanitized NAME CMAKE-OPTION
  cmake -S . -B "$build-$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROCTRAIL_BPF=ON \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" "${linker[@]}" \
    -DPROCTRAIL_BENCH=OFF -DPROCTRAIL_WERROR=ON "-D$2=ON" >/dev/null
  background cmake --build "$build-$1" -j "$jobs"
}
if part asan; then
  say "building under AddressSanitizer and UBSan"
  sanitized asan PROCTRAIL_SANITIZE
  lap "the ASan+UBSan build"
fi
if part tsan; then
  say "building under ThreadSanitizer"
  sanitized tsan PROCTRAIL_TSAN
  lap "the TSan build"
fi

if part fuzz; then
  say "fuzzing the decoders (${fuzz_seconds}s for the proc connector's) and the parsers"
  CC=clang CXX=clang++ cmake -S . -B "$build-fuzz" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPROCTRAIL_FUZZ=ON -DPROCTRAIL_TESTS=OFF -DPROCTRAIL_BENCH=OFF -DPROCTRAIL_BPF=OFF >/dev/null
  background cmake --build "$build-fuzz" -j "$jobs" --target fuzz_decode fuzz_procfs fuzz_bpf_record fuzz_json
  corpus=$(mktemp -d)
  # The seeds kept in the repository start each run; what the fuzzer adds is thrown away.
  cp -r tests/fuzz/corpus/decode tests/fuzz/corpus/procfs tests/fuzz/corpus/bpf \
    tests/fuzz/corpus/json "$corpus/"
  fuzz_passed=0 fuzz_failed=0
  fuzz() {
    local name=$1 seconds=$2
    shift 2
    # A failing input is kept in the build folder (the corpus folder goes at exit).
    if ! (cd "$corpus" && background "$build-fuzz/tests/fuzz/$name" -max_total_time="$seconds" \
        -artifact_prefix="$build-fuzz/$name-" -print_final_stats=1 "$@" \
        >"$corpus/$name.log" 2>&1); then
      tail -n 40 "$corpus/$name.log" >&2
      say "$name found a failing input (see above; the input is saved as $build-fuzz/$name-crash-*)"
      recap+=("fuzz: $name found a failing input")
      fuzz_failed=$((fuzz_failed + 1))
      return
    fi
    fuzz_passed=$((fuzz_passed + 1))
    say "$name: $(grep -E '^stat::number_of_executed_units' "$corpus/$name.log" | awk '{print $2}') inputs, no failure"
  }
  fuzz fuzz_decode "$fuzz_seconds" -max_len=256 "$corpus/decode"
  # Half as long, but never 0 (which libFuzzer takes as "no limit").
  fuzz fuzz_procfs "$(((fuzz_seconds + 1) / 2))" "$corpus/procfs"
  fuzz fuzz_bpf_record "$(((fuzz_seconds + 1) / 2))" -max_len=1024 "$corpus/bpf"
  fuzz fuzz_json "$(((fuzz_seconds + 1) / 2))" -max_len=4096 "$corpus/json"
  line="fuzz: $fuzz_passed passed, $fuzz_failed failed, 0 skipped"
  echo "$line"
  count fuzz "$line"
  [ "$fuzz_failed" = 0 ] || failed_parts+=(fuzz)
  lap "fuzzing"
fi

if [ -n "$kernel_pid" ]; then
  say "waiting for the 6.1 run (its log: $kernel_log)"
  rc=0
  wait "$kernel_pid" || rc=$?
  kernel_pid=
  # Its whole log now, in one piece, and its last line (the totals) counted.
  cat "$kernel_log" >&2
  count linux-6.1 "$(tail -n 1 "$kernel_log")"
  remember "$(tr -d '\000' <"$kernel_log")"
  # A guest that stopped before its totals (a panic, a timeout) leaves no FAILED line to show.
  [[ "$(tail -n 1 "$kernel_log")" =~ ^linux-6\.1:\ [0-9]+\ passed,\ [0-9]+\ failed ]] ||
    recap+=("linux-6.1: no totals; its log ends: $(tail -n 1 "$kernel_log" | tr -d '\000' | cut -c1-200)")
  tail -n 1 "$kernel_log"
  [ "$rc" = 0 ] || failed_parts+=(linux-6.1)
  lap "kernel 6.1 tests"
fi

if part asan; then
  say "unit and end-to-end tests under AddressSanitizer and UBSan"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest_part asan asan "$build-asan"
  lap "ASan+UBSan tests"
fi

if part tsan; then
  say "unit and end-to-end tests under ThreadSanitizer"
  TSAN_OPTIONS=halt_on_error=1 ctest_part tsan tsan "$build-tsan"
  lap "TSan tests"
fi

if part mutants; then
  say "mutation check: each planted fault must be caught by the tests named for it"
  rc=0
  out=$(scripts/mutants.sh "$build" | tee >(cat >&2) "$build/mutants.log" | tail -n 1) || rc=$?
  remember "$(cat "$build/mutants.log")"
  count mutants "$out"
  [ "$rc" = 0 ] || failed_parts+=(mutants)
  lap "mutation check"
fi

if [ ${#failed_parts[@]} -gt 0 ]; then
  say "what failed:"
  for l in "${recap[@]}"; do printf '    %s\n' "$l"; done
  # A part can fail with nothing above to show for it (ctest's own error, a build, a script).
  for p in "${failed_parts[@]}"; do
    said=''
    for l in "${recap[@]}"; do
      case "$p:$l" in mutants:"mutant "* | "$p:$p:"*) said=1 ;; esac
    done
    [ -n "$said" ] || printf '    %s: failed (its own output, above, says why)\n' "$p"
  done
  say "FAILED: ${failed_parts[*]} (of $parts) after $((SECONDS - started)) s"
  echo "all: $total_passed passed, $total_failed failed, $total_skipped skipped"
  exit 1
fi
say "every part passed ($parts) in $((SECONDS - started)) s"
echo "all: $total_passed passed, $total_failed failed, $total_skipped skipped"
