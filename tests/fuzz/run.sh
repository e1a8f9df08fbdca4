#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for SECONDS (default 60)
# on a scratch copy of its committed seed corpus. Any crash, leak or sanitizer report fails;
# the input that caused it is kept as build-fuzz/crash-<target>-*.
#   tests/fuzz/run.sh [SECONDS]
set -euo pipefail
seconds=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DTROUPE_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
for target in frame handshake envelope items codec; do
  work=$(mktemp -d)
  cp "$root/tests/fuzz/corpus/$target/"* "$work/"
  log="$build/fuzz_$target.log"
  if ! "$build/tests/fuzz/fuzz_$target" "$work" -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$build/crash-$target-" >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "FAIL: fuzz_$target found a problem (see $log)"
    exit 1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  echo "fuzz_$target: $execs executions in ${seconds} s, no findings"
  rm -rf "$work"
done
