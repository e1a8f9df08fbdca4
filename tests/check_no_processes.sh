#!/usr/bin/env bash
# Runs after the whole suite (a CTest fixture cleanup): no process started from this build tree
# may still be running. Zombies do not count; survivors are listed, then killed.
build=$1
left=()
for dir in /proc/[0-9]*; do
  exe=$(readlink "$dir/exe" 2>/dev/null) || continue
  [[ $exe == "$build"/* ]] || continue
  state=$(sed 's/.*) //' "$dir/stat" 2>/dev/null | cut -d' ' -f1)
  [[ $state == Z || -z $state ]] && continue
  left+=("${dir#/proc/}")
done
if [[ ${#left[@]} -gt 0 ]]; then
  echo "FAIL: processes left running after the suite:"
  for pid in "${left[@]}"; do
    echo "  $pid $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
    kill -9 "$pid" 2>/dev/null
  done
  exit 1
fi
echo "ok: no process of $build left running"
