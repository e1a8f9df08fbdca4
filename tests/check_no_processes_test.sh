#!/usr/bin/env bash
# check_no_processes.sh reports and kills a left-over process that carries the suite's marker,
# and leaves alone a process started by hand from the same build tree without it (before the
# marker, it SIGKILLed every process whose executable lay under the build tree).
#   check_no_processes_test.sh PATH/TO/check_no_processes.sh
set -uo pipefail
check=$1
tree=$(mktemp -d)  # stands in for a build tree: both processes run an executable from it
marked="" unmarked=""
cleanup() {
  for pid in $marked $unmarked; do
    kill -9 "$pid" 2>/dev/null
  done
  wait 2>/dev/null
  rm -rf "$tree"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cp "$(command -v sleep)" "$tree/demo"
marker="SUITE_RUN_ID=$tree"

"$tree/demo" 300 &
unmarked=$!
out=$("$check" "$marker" 2>&1) || fail "a process without the marker was reported: $out"
kill -0 "$unmarked" 2>/dev/null || fail "a process without the marker was killed"
echo "ok: a process started by hand is left alone"

env "$marker" "$tree/demo" 300 &
marked=$!
out=$("$check" "SUITE_RUN_ID=$tree-other" 2>&1) || fail "another suite's process was reported: $out"
echo "ok: another build tree's marker is not ours"

out=$("$check" "$marker" 2>&1) && fail "a left-over process with the marker passed: $out"
grep -q "^  $marked " <<<"$out" || fail "the marked process is not listed: $out"
grep -q "^  $unmarked " <<<"$out" && fail "the unmarked process is listed: $out"
# Killed, it stays a zombie of ours until reaped: gone means no longer running.
gone=false
for _ in $(seq 100); do
  state=$(sed 's/.*) //' "/proc/$marked/stat" 2>/dev/null | cut -d' ' -f1)
  [[ $state == Z || -z $state ]] && gone=true && break
  sleep 0.05
done
$gone || fail "the marked process still runs after the check"
kill -0 "$unmarked" 2>/dev/null || fail "the process without the marker was killed"
echo "ok: a left-over process with the marker is reported and killed, the other one is not"
