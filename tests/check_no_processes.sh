#!/usr/bin/env bash
# Runs after the whole suite (a CTest fixture cleanup): no process the suite started may still
# be running. Every test runs with an environment marker (tests/CMakeLists.txt) that its
# processes and their children inherit; only processes carrying it count, so a demo started by
# hand from the same build tree is neither reported nor killed. Zombies do not count; survivors
# are listed, then killed.
#   check_no_processes.sh NAME=VALUE     (the marker, e.g. SUITE_RUN_ID=/path/to/build)
set -u
marker=$1
if [[ $marker != ?*=?* ]]; then
  echo "usage: $0 NAME=VALUE (the environment marker of the suite's processes)" >&2
  exit 2
fi
left=()
for dir in /proc/[0-9]*; do
  pid=${dir#/proc/}
  [[ $pid == "$$" ]] && continue
  # /proc/PID/environ is the environment the process started with, NUL-separated.
  grep -qzxF -- "$marker" "$dir/environ" 2>/dev/null || continue
  state=$(sed 's/.*) //' "$dir/stat" 2>/dev/null | cut -d' ' -f1)
  [[ $state == Z || -z $state ]] && continue
  left+=("$pid")
done
if [[ ${#left[@]} -gt 0 ]]; then
  echo "FAIL: processes left running after the suite:"
  for pid in "${left[@]}"; do
    echo "  $pid $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
    kill -9 "$pid" 2>/dev/null
  done
  exit 1
fi
echo "ok: no process with $marker left running"
