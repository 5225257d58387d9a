#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and either starts proctrail or runs every test.
#
#   scripts/quickstart.sh run [proctrail options]   deps, build, install, start monitoring
#   scripts/quickstart.sh test                      deps, build, unit + end-to-end + fuzz
#
# Run as root: it installs packages with apt, and monitoring and the end-to-end tests need a
# real kernel and privileges.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
build=$(realpath -m "${PROCTRAIL_BUILD_DIR:-build}")
fuzz_seconds=${PROCTRAIL_FUZZ_SECONDS:-60}

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'quickstart: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (apt-get, and the monitor needs privileges)"
mode=${1:-}
case "$mode" in
  run | test) shift ;;
  *) die "usage: $0 run [proctrail options] | test" ;;
esac

packages=(
  cmake ninja-build g++ pkg-config make
  libfmt-dev libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libclang-rt-14-dev
  util-linux procps
)
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

say "building in $build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROCTRAIL_BPF=ON >/dev/null
cmake --build "$build"

if [ "$mode" = run ]; then
  cmake --install "$build" >/dev/null
  say "installed $(command -v proctrail); starting it (Ctrl-C to stop)"
  exec proctrail "$@"
fi

say "unit and end-to-end tests"
ctest --test-dir "$build" --output-on-failure

say "fuzzing the decoders (${fuzz_seconds}s for the proc connector's) and the /proc parsers"
CC=clang CXX=clang++ cmake -S . -B "$build-fuzz" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPROCTRAIL_FUZZ=ON -DPROCTRAIL_TESTS=OFF -DPROCTRAIL_BENCH=OFF -DPROCTRAIL_BPF=OFF >/dev/null
cmake --build "$build-fuzz" --target fuzz_decode fuzz_procfs fuzz_bpf_record
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
mkdir -p "$corpus/decode" "$corpus/procfs"
cp tests/fuzz/corpus/decode/* "$corpus/decode/"
fuzz() {
  local name=$1 seconds=$2
  shift 2
  # A failing input is kept in the build folder (the corpus folder goes at exit).
  if ! (cd "$corpus" && "$build-fuzz/tests/fuzz/$name" -max_total_time="$seconds" \
      -artifact_prefix="$build-fuzz/$name-" -print_final_stats=1 "$@" \
      >"$corpus/$name.log" 2>&1); then
    tail -n 40 "$corpus/$name.log" >&2
    die "$name found a failing input (see above; the input is saved as $build-fuzz/$name-crash-*)"
  fi
  say "$name: $(grep -E '^stat::number_of_executed_units' "$corpus/$name.log" | awk '{print $2}') inputs, no failure"
}
mkdir -p "$corpus/bpf"
fuzz fuzz_decode "$fuzz_seconds" -max_len=256 "$corpus/decode"
# Half as long, but never 0 (which libFuzzer takes as "no limit").
fuzz fuzz_procfs "$(((fuzz_seconds + 1) / 2))" "$corpus/procfs"
fuzz fuzz_bpf_record "$(((fuzz_seconds + 1) / 2))" -max_len=1024 "$corpus/bpf"
say "all tests passed"
