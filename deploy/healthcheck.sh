#!/bin/sh
# troupe-health: the image's HEALTHCHECK and the Kubernetes probes. Cheap and honest: reads
# /proc (no extra process in the container, no HTTP server in the program).
#   troupe-health listening   a head: some socket LISTENs (it binds --listen before waiting)
#   troupe-health connected   a worker: it holds an ESTABLISHED TCP connection (to its head)
#   troupe-health alive       PID 1 (the program) is neither stopped nor a zombie
#   troupe-health             (default) listening or connected: right for either role
# Exit 0 = healthy, 1 = not. In /proc/net/tcp{,6} the 4th column is the state: 0A LISTEN,
# 01 ESTABLISHED.
tcp_state() {
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -qE "^ *[0-9]+: [0-9A-F]+:[0-9A-F]{4} [0-9A-F]+:[0-9A-F]{4} $1 "
}
alive() {
  # /proc/1/stat: "1 (mandelbrot) S ..." - the state follows the last ')'
  state=$(sed 's/.*) //' /proc/1/stat 2>/dev/null | cut -c1)
  [ -n "$state" ] && [ "$state" != T ] && [ "$state" != t ] && [ "$state" != Z ]
}
case ${1:-any} in
  listening) alive && tcp_state 0A ;;
  connected) alive && tcp_state 01 ;;
  alive) alive ;;
  any) alive && { tcp_state 0A || tcp_state 01; } ;;
  *) echo "usage: troupe-health [listening|connected|alive]" >&2; exit 2 ;;
esac
