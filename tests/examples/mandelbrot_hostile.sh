#!/usr/bin/env bash
# The mandelbrot head against a worker that lies about its tiles (hostile_tile_worker.py, over
# the wire protocol): each lie fails the render with a clear error and exit status 1, never a
# crash, and no PNG is written. Before the head checked tiles, row_begin 2000000000 was copied
# to row_begin * width * 3 (SIGSEGV) and 4 MiB of extra RGB overflowed the image.
#   mandelbrot_hostile.sh PATH/TO/mandelbrot
set -uo pipefail
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
cleanup() {
  local pids
  pids=$(jobs -p)
  [[ -n $pids ]] && kill -9 $pids 2>/dev/null
  wait 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# Debian's interpreter has python3-protobuf (a pyenv shim first on PATH may not), as for
# tests/nodes/wire_peer.hpp.
python=${TROUPE_PYTHON:-/usr/bin/python3}
# A home of its own: a head that makes a per-user cookie for loopback makes it here, and the
# liar reads it like a local worker would.
mkdir -m 700 "$dir/home"
export HOME=$dir/home
unset XDG_RUNTIME_DIR

for lie in far-rows huge-rgb short-rgb other-rows; do
  log=$dir/$lie.log
  timeout 60 "$bin" --width 64 --height 40 --iterations 50 --rows-per-tile 4 --workers 0 \
    --listen 127.0.0.1:0 --min-workers 1 --wait-workers 30 --out "$dir/$lie.png" >"$log" 2>&1 &
  head_pid=$!
  port=""
  for _ in $(seq 500); do
    port=$(sed -n 's/^listening on port \([0-9]*\).*/\1/p' "$log")
    [[ -n $port ]] && break
    sleep 0.02
  done
  [[ -n $port ]] || fail "$lie: the head did not report its port: $(cat "$log")"
  secret=()
  [[ -f $HOME/.troupe/cookie ]] && secret=(--secret-file "$HOME/.troupe/cookie")
  timeout 60 "$python" "$here/hostile_tile_worker.py" --connect "127.0.0.1:$port" --lie "$lie" \
    "${secret[@]}" >"$dir/$lie.liar.log" 2>&1 &
  wait $head_pid
  status=$?
  [[ $status -eq 1 ]] || fail "$lie: the head exited with $status, not 1: $(cat "$log")"
  grep -q "^error: a worker returned a bad tile: " "$log" \
    || fail "$lie: no clear error: $(cat "$log") -- liar: $(cat "$dir/$lie.liar.log")"
  [[ ! -e $dir/$lie.png ]] || fail "$lie: a PNG was written from a bad tile"
  echo "ok: $lie: $(grep "^error: " "$log")"
  wait
done
