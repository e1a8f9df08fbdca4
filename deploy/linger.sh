#!/bin/sh
# troupe-linger COMMAND [ARGS...]: runs COMMAND; if it succeeds, stays up (idle) until SIGTERM or
# SIGINT instead of exiting. For the head in a Kubernetes Deployment, whose pods always restart:
# the head renders once, then the pod stays up (no second render) with /out/mandelbrot.png ready
# for `kubectl cp`. If COMMAND fails, exits with its status (and Kubernetes restarts it).
# Signals are passed on to COMMAND while it runs, so `kubectl delete`/`podman stop` are quick.
"$@" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid"; exit 143' TERM
trap 'kill -INT "$pid" 2>/dev/null; wait "$pid"; exit 130' INT
wait "$pid"
status=$?
[ "$status" -eq 0 ] || exit "$status"
trap 'exit 0' TERM INT
echo "troupe-linger: $1 finished; idle until stopped"
while :; do
  sleep 3600 &
  wait $!
done
