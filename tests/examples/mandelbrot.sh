#!/usr/bin/env bash
# The mandelbrot demo writes byte-identical PNGs whether it renders in-process, on one or two
# worker processes, on worker nodes joined over TCP, or loses a worker mid-render.
#   mandelbrot.sh PATH/TO/mandelbrot
set -euo pipefail
bin=$1
dir=$(mktemp -d)
# The loopback head and its workers share a cookie in $HOME/.troupe: keep it out of the real home.
export HOME=$dir
unset XDG_RUNTIME_DIR
cleanup() {
  local pids
  pids=$(jobs -p)
  [[ -n $pids ]] && kill -9 $pids 2>/dev/null
  wait 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
small=(--width 320 --height 200 --iterations 3000 --rows-per-tile 2)

timeout 60 "$bin" "${small[@]}" --workers 0 --out "$dir/w0.png" >/dev/null
for n in 1 2; do
  timeout 60 "$bin" "${small[@]}" --workers $n --out "$dir/w$n.png" >"$dir/w$n.log"
  cmp -s "$dir/w0.png" "$dir/w$n.png" || fail "--workers $n differs from the in-process render"
  grep -q "tiles per worker:" "$dir/w$n.log" || fail "no per-worker tile counts"
done
echo "ok: --workers 0/1/2 identical"

# Two worker nodes join a listening head over TCP loopback.
timeout 60 "$bin" "${small[@]}" --workers 0 --listen 127.0.0.1:0 --min-workers 2 \
  --out "$dir/tcp.png" >"$dir/head.log" 2>&1 &
head_pid=$!
port=""
for _ in $(seq 500); do
  port=$(sed -n 's/^listening on port \([0-9]*\).*/\1/p' "$dir/head.log")
  [[ -n $port ]] && break
  sleep 0.02
done
[[ -n $port ]] || fail "the head did not report its port: $(cat "$dir/head.log")"
for _ in 1 2; do
  timeout 60 "$bin" --join "127.0.0.1:$port" >>"$dir/workers.log" 2>&1 &
done
wait $head_pid || fail "the TCP head failed: $(cat "$dir/head.log")"
cmp -s "$dir/w0.png" "$dir/tcp.png" || fail "the TCP render differs"
echo "ok: --listen/--join identical"

# A worker process is killed mid-render: its tiles run again elsewhere, the image is the same.
big=(--width 640 --height 400 --iterations 20000 --rows-per-tile 1)
timeout 120 "$bin" "${big[@]}" --workers 0 --out "$dir/big0.png" >/dev/null
timeout 120 "$bin" "${big[@]}" --workers 2 --out "$dir/big2.png" >"$dir/kill.log" 2>&1 &
timeout_pid=$!
victim=""
for _ in $(seq 500); do
  if grep -q "^progress: " "$dir/kill.log"; then
    head_pid=$(pgrep -P $timeout_pid | head -n 1 || true)
    [[ -n $head_pid ]] && victim=$(pgrep -P "$head_pid" | head -n 1 || true)
    [[ -n $victim ]] && break
  fi
  sleep 0.01
done
[[ -n $victim ]] || fail "no worker to kill: $(cat "$dir/kill.log")"
kill -9 "$victim"
wait $timeout_pid || fail "the render failed after a worker was killed: $(cat "$dir/kill.log")"
grep -q "workers lost: 1" "$dir/kill.log" || fail "the killed worker was not noticed: $(cat "$dir/kill.log")"
cmp -s "$dir/big0.png" "$dir/big2.png" || fail "the render with a killed worker differs"
echo "ok: a worker killed mid-render changes nothing"
