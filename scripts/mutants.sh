#!/usr/bin/env bash
# The mutation check: puts back, one at a time, faults the tests are written against, and
# fails if a test named for a fault still passes with it in place.
#
#   scripts/mutants.sh [BUILD_DIR] [NAME...]
#
# Each mutant is tests/mutants/NAME.patch: a unified diff against the source tree (git diff
# output) that plants one fault, with header lines before the diff:
#
#   # fault: what the patch breaks, in a sentence
#   # tests: BINARY:GTEST_FILTER [BINARY:GTEST_FILTER ...]
#
# BINARY is unit_tests or e2e_tests (under BUILD_DIR/tests). For each mutant the script applies
# the patch, rebuilds what the named tests run (incrementally), runs the named tests until one
# fails, and reverts the patch; a mutant is killed when a named test fails. A patch that no
# longer applies fails the check too: the fault moved, and the mutant must be written anew. At
# the end the build is brought back to the unmodified source.
#
# Prints one line per mutant and then "mutants: N passed, N failed, 0 skipped" (a passed
# mutant is one that was killed). Exits 1 when any survived or could not be applied.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
build=$(realpath -m "${1:-build}")
[ $# -gt 0 ] && shift
say() { printf '==> mutants: %s\n' "$*" >&2; }

[ -f "$build/build.ninja" ] || [ -f "$build/Makefile" ] ||
  { echo "mutants: no configured build in $build" >&2; exit 1; }
if [ $# -gt 0 ]; then
  patches=()
  for n in "$@"; do patches+=("tests/mutants/$n.patch"); done
else
  # Grouped by the file each one patches: reverting a mutant touches its file, and the next
  # build compiles that file again, so mutants of one file in a row compile it once each
  # instead of twice.
  mapfile -t patches < <(for p in tests/mutants/*.patch; do
    printf '%s %s\n' "$(sed -n 's|^+++ b/||p' "$p" | head -n 1)" "$p"
  done | sort | cut -d' ' -f2)
fi

applied=
restore() {
  if [ -n "$applied" ]; then
    git apply -R "$applied" || echo "mutants: could not revert $applied: git checkout the files it touches" >&2
    applied=
  fi
}
trap restore EXIT
trap 'exit 130' INT TERM

killed=0 survived=0 broken=0
for patch in "${patches[@]}"; do
  name=$(basename "$patch" .patch)
  fault=$(sed -n 's/^# fault: //p' "$patch")
  read -r -a tests <<<"$(sed -n 's/^# tests: //p' "$patch")"
  if [ ${#tests[@]} -eq 0 ]; then
    echo "mutant $name: BROKEN: no '# tests:' line"
    broken=$((broken + 1))
    continue
  fi
  if ! git apply --check "$patch" 2>/dev/null; then
    echo "mutant $name: BROKEN: the patch no longer applies ($fault)"
    broken=$((broken + 1))
    continue
  fi
  # Only what the named tests run is rebuilt: the end-to-end tests run the proctrail binary and
  # the scenario program.
  targets=()
  for t in "${tests[@]}"; do
    case "${t%%:*}" in
      unit_tests) targets+=(unit_tests) ;;
      e2e_tests) targets+=(e2e_tests proctrail scenario) ;;
      *)
        targets=()
        break
        ;;
    esac
  done
  if [ ${#targets[@]} -eq 0 ]; then
    echo "mutant $name: BROKEN: a '# tests:' entry names neither unit_tests nor e2e_tests"
    broken=$((broken + 1))
    continue
  fi
  git apply "$patch"
  applied=$patch
  if ! cmake --build "$build" --target "${targets[@]}" >"$build/mutant-$name.log" 2>&1; then
    restore
    echo "mutant $name: BROKEN: does not build (see $build/mutant-$name.log)"
    broken=$((broken + 1))
    continue
  fi
  # One failing test is enough: the rest are not run.
  caught=()
  for t in "${tests[@]}"; do
    binary=${t%%:*} filter=${t#*:}
    if ! "$build/tests/$binary" --gtest_filter="$filter" --gtest_fail_fast >>"$build/mutant-$name.log" 2>&1; then
      caught+=("$filter")
      break
    fi
  done
  restore
  if [ ${#caught[@]} -gt 0 ]; then
    echo "mutant $name: killed by ${caught[*]} ($fault)"
    killed=$((killed + 1))
  else
    echo "mutant $name: SURVIVED ${tests[*]} ($fault; log: $build/mutant-$name.log)"
    survived=$((survived + 1))
  fi
done

say "rebuilding the unmodified source"
cmake --build "$build" >/dev/null
echo "mutants: $killed passed, $((survived + broken)) failed, 0 skipped"
[ $((survived + broken)) -eq 0 ]
