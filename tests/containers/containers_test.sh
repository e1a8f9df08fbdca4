#!/usr/bin/env bash
# The mandelbrot demo deployed with containers, for real (podman):
#   1. image:   debian:bookworm without a registry (deploy/base-image.sh, cached), then the real
#               deploy/Dockerfile with --pull=never (layer cache reused between runs)
#   2. compose: deploy/compose.yaml with 3 workers renders the PNG byte-identical to an
#               in-process render by the same image; a worker crashes mid-render (kill -9): the
#               PNG is still identical, the head reports the lost worker, the worker comes back
#               and rejoins; a cluster stopped mid-render goes down in seconds
#   3. kube:    deploy/k8s/troupe.yaml under `podman kube play` (+ config-podman.yaml) does the
#               same (render with a worker killed mid-render, identical PNG), `podman kube down`
# and every part leaves no container, pod, network, volume or secret behind.
#
#   containers_test.sh [all|image|compose|kube]   (CTest runs `all`, label containers)
#
# Skips (exit 77) when not root, when podman/podman-compose/debootstrap are missing (deploy/dev.sh
# installs them) or when podman's storage cannot work here (e.g. on overlayfs, in a container).
# Cache: TROUPE_CACHE (default /var/cache/troupe/containers): the private
# containers.conf, the debootstrap log, a lock; images stay in podman's storage. Every wait is
# bounded; the time of each stage is printed. The kube part uses the manifests' fixed names
# (pods troupe-head-pod-0..., podman secret troupe-secret): it removes them before and after.
set -uo pipefail
SKIP=77
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
part=${1:-all}
cache=${TROUPE_CACHE:-/var/cache/troupe/containers}
image=localhost/troupe/mandelbrot:latest
project=troupe-test
kube_net=troupe-test-kube
kube_yaml=$top/deploy/k8s/troupe.yaml
# The demo image, and a longer render for the kill tests (several seconds on 3 workers).
demo=(--width 1280 --height 800 --iterations 2000)
long_w=960 long_h=600 long_i=20000
long=(--width "$long_w" --height "$long_h" --iterations "$long_i")

skip() { echo "SKIP: $*"; exit $SKIP; }
[[ $(id -u) == 0 ]] || skip "the container test needs root (rootful podman, debootstrap)"
for tool in podman podman-compose debootstrap runc; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (deploy/dev.sh deps installs it)"
done

# ---- bookkeeping: stages with times, failures with context ----
SECONDS=0
stage_name="" stage_start=0
summary=()
stage() {
  local now=$SECONDS
  if [[ -n $stage_name ]]; then
    summary+=("$(printf '%-58s %4d s' "$stage_name" $((now - stage_start)))")
    echo "    ($((now - stage_start)) s)"
  fi
  stage_name=$1 stage_start=$now
  [[ -n $1 ]] && echo "=== [$now s] $1"
}
print_summary() {
  stage ""
  echo "--- stage times"
  printf '  %s\n' "${summary[@]}"
  echo "  total: $SECONDS s"
}
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
note() { echo "    $*"; }
# wait_for SECONDS DESCRIPTION COMMAND...: polls every 0.2 s (DESCRIPTION documents the call)
wait_for() {
  local limit=$1
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}
# Bounded podman: a hung podman command fails the test instead of hanging it.
pm() { timeout 120 podman "$@"; }

# Private podman configuration (nothing in /etc changes): these machines lack
# CAP_SYS_RESOURCE (rlimits must stay within the hard limits) and crun refuses their hybrid
# cgroup setup (runc works).
mkdir -p "$cache"
nofile=$(ulimit -Hn); [[ $nofile == unlimited ]] && nofile=1048576
nproc=$(ulimit -Hu); [[ $nproc == unlimited || $nproc -gt 32768 ]] && nproc=32768
# netavark (with aardvark-dns) rather than CNI, whose bridge has no name resolution without a
# plugin Debian does not install: workers must resolve the head by its service name.
printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n[engine]\nruntime = "runc"\n[network]\nnetwork_backend = "netavark"\n' \
  "$nofile" "$nofile" "$nproc" "$nproc" >"$cache/containers.conf"
export CONTAINERS_CONF=$cache/containers.conf
# A runtime that is installed but cannot work here is no runtime: skip, saying why. Inside a
# container (e.g. a fresh-machine check), podman's overlay storage cannot stack on the
# container's own overlayfs without fuse-overlayfs; podman's first call there falls back to
# another driver and succeeds, every later one fails, so the file system is checked first.
storage=/var/lib/containers
until [[ -e $storage ]]; do storage=$(dirname "$storage"); done
if [[ $(stat -f -c %T "$storage") == overlayfs ]] && ! command -v fuse-overlayfs >/dev/null; then
  skip "podman's storage ($storage) is on overlayfs (inside a container?) and fuse-overlayfs is not installed"
fi
if ! probe=$(timeout 60 podman images --quiet 2>&1 >/dev/null); then
  skip "podman cannot work on this machine: $(grep -m1 -i error <<<"$probe")"
fi
# Without systemd podman cannot schedule healthcheck timers and says so on every container
# start/stop; the healthchecks are run by hand below instead.
quiet() { grep -v -e 'systemd connection' -e 'failed to connect to syslog' >&2 || true; }

# One run at a time on this machine (names are fixed by the manifests).
exec 9>"$cache/lock"
flock -w 900 9 || fail "another container test holds $cache/lock"

work=$(mktemp -d /tmp/troupe-containers.XXXXXX)
chmod 0755 "$work"
compose_env=(env -C "$top" TROUPE_IMAGE="$image" OUT_DIR="$work/out" TROUPE_SECRET_FILE="$work/secret")
compose() { timeout 180 "${compose_env[@]}" podman-compose -p "$project" -f deploy/compose.yaml "$@"; }

# Networks whose bridge has a fixed MAC address, so that a container restarted in place finds
# the gateway and DNS at once (deploy/pinned-network.sh says why).
network_with_pinned_bridge() {  # NAME [podman network create flags...]
  timeout 120 "$top/deploy/pinned-network.sh" create "$@"
}
remove_network() {  # NAME
  timeout 120 "$top/deploy/pinned-network.sh" remove "$1"
}
compose_network() {
  network_with_pinned_bridge "${project}_cluster" --label "io.podman.compose.project=$project" \
    --label "com.docker.compose.project=$project" || fail "cannot create the compose network"
}

teardown_compose() {
  compose down -t 5 >>"$work/compose.log" 2>&1
  # podman-compose 1.0 leaves the project's network (and down may miss exited replicas)
  pm ps -aq --filter "label=io.podman.compose.project=$project" \
    | xargs -r timeout 60 podman rm -f -t 2 2>&1 >/dev/null | quiet
  remove_network "${project}_cluster"
}
teardown_kube() {
  pm kube down "$kube_yaml" >>"$work/kube.log" 2>&1
  pm pod ps -q --filter name=troupe-head-pod --filter name=troupe-worker-pod \
    | xargs -r timeout 60 podman pod rm -f -t 2 2>&1 >/dev/null | quiet
  pm secret rm troupe-secret >/dev/null 2>&1
  remove_network "$kube_net"
}
leftovers() {
  {
    pm ps -a --format '{{.Names}}' | grep -E "^($project|troupe-(head|worker)-pod|troupe-test)"
    pm pod ps --format '{{.Name}}' | grep -E '^troupe-(head|worker)-pod'
    pm network ls --format '{{.Name}}' | grep -E "^($project|$kube_net)"
    pm volume ls --format '{{.Name}}' | grep -E "^($project|troupe-out)"
    pm secret ls --format '{{.Name}}' | grep -x troupe-secret
  } 2>/dev/null
}
cleanup() {
  local status=$?
  trap - EXIT
  if [[ $status -ne 0 && $status -ne $SKIP ]]; then
    for log in "$work"/*.log; do
      [[ -s $log ]] || continue
      echo "--- $(basename "$log") (last 40 lines)" >&2
      tail -n 40 "$log" >&2
    done
  fi
  teardown_compose
  teardown_kube
  [[ -n $(leftovers) ]] && echo "WARNING: left behind: $(leftovers | tr '\n' ' ')" >&2
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- helpers on the cluster ----
# The secret: on the host only, readable by the image's user (gid 10001); never in the image.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/secret"
chgrp 10001 "$work/secret" && chmod 0640 "$work/secret"
mkdir -p "$work/out" "$work/ref"
chown 10001:10001 "$work/out" "$work/ref"

logs_have() { pm logs "$1" 2>&1 | grep -q -- "$2"; }
running() { [[ $(pm inspect -f '{{.State.Running}}' "$1" 2>/dev/null) == true ]]; }
exited() { [[ $(pm inspect -f '{{.State.Status}}' "$1" 2>/dev/null) == exited ]]; }
host_pid() { pm inspect -f '{{.State.Pid}}' "$1"; }
exit_code() { pm inspect -f '{{.State.ExitCode}}' "$1"; }
restarts() { pm inspect -f '{{.RestartCount}}' "$1"; }
rendered_in() { pm logs "$1" 2>/dev/null | sed -n 's/^rendered in \([0-9.]*\) s.*/\1/p' | head -n 1; }
healthy() { pm healthcheck run "$1" >/dev/null 2>&1; }

# The reference: the same image, in-process, in one container.
reference() {  # NAME ARGS...
  local name=$1
  shift
  pm run --rm --no-healthcheck --network none -v "$work/ref:/out" "$image" \
    --workers 0 --out "/out/$name.png" "$@" >"$work/ref-$name.log" 2>&1
  [[ -s $work/ref/$name.png ]] || fail "the in-process reference $name did not render: $(cat "$work/ref-$name.log")"
  note "in-process in one container: $(sed -n 's/^rendered in \([0-9.]*\) s.*/\1/p' "$work/ref-$name.log") s"
}

# ============================================================================================
part_image() {
  stage "image: debian:bookworm base (debootstrap + import, cached)"
  TROUPE_CACHE=$cache timeout 600 "$top/deploy/base-image.sh" || fail "cannot make the base image"
  stage "image: podman build deploy/Dockerfile (--pull=never, layer cache)"
  (cd "$top" && timeout 1200 podman build --pull=never --format docker --layers \
     -t "$image" -f deploy/Dockerfile .) >"$work/build.log" 2>&1 \
    || fail "podman build failed (log: above)"
  grep -q 'Successfully tagged' "$work/build.log" || fail "no image tagged"
  local size
  size=$(pm image inspect -f '{{.Size}}' "$image")
  note "image $image: $((size / 1000000)) MB (base debian:bookworm: $(($(pm image inspect -f '{{.Size}}' docker.io/library/debian:bookworm) / 1000000)) MB)"
  [[ $(pm image inspect -f '{{.Config.User}}' "$image") == 10001:10001 ]] || fail "the image does not run as a non-root user"
  [[ -n $(pm image inspect -f '{{.Config.Healthcheck}}' "$image") ]] || fail "the image has no HEALTHCHECK"
}

part_compose() {
  stage "compose: in-process reference renders (same image, one container)"
  reference demo "${demo[@]}"
  reference long "${long[@]}"
  teardown_compose  # anything left from an interrupted run

  stage "compose: up (head + 3 workers), render the demo image"
  local t0=$SECONDS head=${project}_head_1 took
  compose_network
  WORKERS=3 LOG_LEVEL=info compose up -d --no-build >"$work/compose.log" 2>&1 \
    || fail "podman-compose up failed"
  note "podman-compose up returned after $((SECONDS - t0)) s"
  wait_for 120 "the head to start rendering" logs_have "$head" "^rendering on 3 worker" \
    || fail "3 workers did not join the head: $(pm logs "$head" 2>&1 | tail -n 5)
--- a worker's log: $(pm logs "${project}_worker_1" 2>&1 | tail -n 5)"
  note "cluster up (3 workers joined) $((SECONDS - t0)) s after 'up'"
  wait_for 180 "the head to finish" exited "$head" || fail "the head did not finish in time"
  pm logs "$head" >"$work/compose-head.log" 2>&1
  [[ $(exit_code "$head") == 0 ]] || fail "the head exited with $(exit_code "$head")"
  note "render across 3 containers: $(rendered_in "$head") s; $(grep '^tiles per worker' "$work/compose-head.log")"
  cmp -s "$work/ref/demo.png" "$work/out/mandelbrot.png" \
    || fail "the compose render differs from the in-process render"
  note "PNG identical to the in-process render ($(stat -c %s "$work/out/mandelbrot.png") bytes)"
  local w
  for w in 1 2 3; do
    wait_for 30 "worker $w to exit" exited "${project}_worker_$w" || fail "worker $w did not exit after the head finished"
    [[ $(exit_code "${project}_worker_$w") == 0 ]] || fail "worker $w exited with $(exit_code "${project}_worker_$w")"
  done
  note "the 3 workers exited 0 after the head's goodbye"
  t0=$SECONDS
  teardown_compose
  note "down: $((SECONDS - t0)) s"
  [[ -z $(leftovers) ]] || fail "left behind after down: $(leftovers | tr '\n' ' ')"

  stage "compose: a worker crashes (kill -9) mid-render; it restarts and rejoins"
  rm -f "$work/out/mandelbrot.png"
  compose_network
  WORKERS=3 LOG_LEVEL=debug WIDTH=$long_w HEIGHT=$long_h ITERATIONS=$long_i \
    compose up -d --no-build >>"$work/compose.log" 2>&1 || fail "podman-compose up failed"
  wait_for 120 "progress" logs_have "$head" "^progress: " || fail "the render did not start"
  local victim=${project}_worker_2 name
  name=worker-$(pm inspect -f '{{.Config.Hostname}}' "$victim")-1  # hostname-pid, PID 1
  kill -9 "$(host_pid "$victim")" || fail "cannot kill $victim"
  local kill_time
  kill_time=$(date +%T.%N)
  note "killed $victim ($name) at: $(pm logs "$head" 2>/dev/null | grep '^progress' | tail -n 1)"
  healthy "$head" || fail "the head is rendering but its healthcheck says unhealthy"
  healthy "${project}_worker_1" || fail "a working worker's healthcheck says unhealthy"
  note "healthchecks: head (listening) and worker (connected) healthy mid-render"
  wait_for 180 "the head to finish" exited "$head" || fail "the head did not finish after a worker was killed"
  pm logs "$head" >"$work/compose-kill-head.log" 2>&1
  [[ $(exit_code "$head") == 0 ]] || fail "the head failed after a worker was killed: $(tail -n 5 "$work/compose-kill-head.log")"
  grep -q "^workers lost: 1" "$work/compose-kill-head.log" || fail "the head did not report the lost worker"
  note "$(grep '^workers lost' "$work/compose-kill-head.log")"
  note "render across 3 containers (one killed): $(rendered_in "$head") s; $(grep '^tiles per worker' "$work/compose-kill-head.log")"
  cmp -s "$work/ref/long.png" "$work/out/mandelbrot.png" \
    || fail "the render with a killed worker differs from the in-process render"
  note "PNG identical to the in-process render"
  [[ $(restarts "$victim") -ge 1 ]] || fail "the killed worker was not restarted (restart: on-failure)"
  # The same container (hostname) restarts as PID 1 again: node names worker-HOST-1-<random>,
  # two different ones ready (the random part tells the restarted node from the dead one).
  if [[ $(grep -Ec "pool: worker $name-[0-9a-f]+ ready" "$work/compose-kill-head.log") -lt 2 ]]; then
    pm logs --timestamps "$victim" >"$work/compose-victim.log" 2>&1
    fail "the restarted worker did not rejoin the pool during the render (killed at $kill_time," \
      "restarted at $(pm inspect -f '{{.State.StartedAt}}' "$victim"), head finished at" \
      "$(pm inspect -f '{{.State.FinishedAt}}' "$head"))"
  fi
  note "the worker came back (restart: on-failure) and rejoined the pool mid-render (no head restart)"
  teardown_compose

  stage "compose: SIGTERM to PID 1; stop a cluster mid-render"
  # A worker that cannot reach any head: unhealthy (honest healthcheck), and stops at once.
  local lonely=troupe-test-lonely
  pm run -d --name "$lonely" -e TROUPE_SECRET=x "$image" --join no-such-head:7000 \
    --join-timeout 60 2>&1 >/dev/null | quiet
  wait_for 30 "the lonely worker" running "$lonely" || fail "cannot start a worker container"
  ! healthy "$lonely" || fail "a worker without a head says healthy"
  t0=$SECONDS
  pm stop -t 10 "$lonely" 2>&1 >/dev/null | quiet
  took=$((SECONDS - t0))
  note "podman stop (grace 10 s) of a worker: $took s, exit status $(exit_code "$lonely"); its healthcheck said unhealthy"
  pm rm -f "$lonely" 2>&1 >/dev/null | quiet
  ((took < 5)) || fail "podman stop took $took s: PID 1 does not end on SIGTERM"
  compose_network
  WORKERS=3 WIDTH=$long_w HEIGHT=$long_h ITERATIONS=$long_i \
    compose up -d --no-build >>"$work/compose.log" 2>&1 || fail "podman-compose up failed"
  wait_for 120 "progress" logs_have "$head" "^progress: " || fail "the render did not start"
  t0=$SECONDS
  compose down -t 10 >>"$work/compose.log" 2>&1
  took=$((SECONDS - t0))
  note "podman-compose down (4 running containers, grace 10 s each): $took s"
  ((took < 10)) || fail "stopping the cluster took $took s: PID 1 does not end on SIGTERM"
  teardown_compose
  [[ -z $(leftovers) ]] || fail "left behind after down: $(leftovers | tr '\n' ' ')"
}

part_kube() {
  stage "kube: in-process reference render (same image, one container)"
  [[ -s $work/ref/long.png ]] || reference long "${long[@]}"
  teardown_kube

  stage "kube: podman kube play deploy/k8s/troupe.yaml, a worker killed mid-render"
  network_with_pinned_bridge "$kube_net" --label troupe-test=1 || fail "cannot create $kube_net"
  # The Kubernetes Secret's data, as podman kube play reads a secretKeyRef: {"key": base64}
  printf '{"secret":"%s"}' "$(base64 -w0 "$work/secret")" | pm secret create troupe-secret - >/dev/null \
    || fail "cannot create the podman secret"
  # The shipped podman ConfigMap (head address = the head's pod name), with the long render
  sed -e "s/^\(  WIDTH:\).*/\1 \"$long_w\"/" -e "s/^\(  HEIGHT:\).*/\1 \"$long_h\"/" \
      -e "s/^\(  ITERATIONS:\).*/\1 \"$long_i\"/" -e 's/^\(  LOG_LEVEL:\).*/\1 "debug"/' \
      "$top/deploy/k8s/config-podman.yaml" >"$work/config.yaml"
  local t0=$SECONDS head=troupe-head-pod-0-head victim=troupe-worker-pod-1-worker
  pm kube play --network "$kube_net" --configmap "$work/config.yaml" "$kube_yaml" \
    >"$work/kube.log" 2>&1 || fail "podman kube play failed: $(tail -n 5 "$work/kube.log")"
  note "podman kube play returned after $((SECONDS - t0)) s"
  wait_for 120 "the head to start rendering" logs_have "$head" "^rendering on 3 worker" \
    || fail "3 workers did not join the head: $(pm logs "$head" 2>&1 | tail -n 5)"
  note "cluster up (3 workers joined) $((SECONDS - t0)) s after 'play'"
  wait_for 120 "progress" logs_have "$head" "^progress: " || fail "the render did not start"
  kill -9 "$(host_pid "$victim")" || fail "cannot kill $victim"
  note "killed $victim at: $(pm logs "$head" 2>/dev/null | grep '^progress' | tail -n 1)"
  wait_for 180 "the head to finish" logs_have "$head" "^troupe-linger: .* finished" \
    || fail "the head did not finish: $(pm logs "$head" 2>&1 | tail -n 5)"
  pm logs "$head" >"$work/kube-head.log" 2>&1
  grep -q "^workers lost: 1" "$work/kube-head.log" || fail "the head did not report the lost worker"
  note "$(grep '^workers lost' "$work/kube-head.log")"
  note "render across 3 pods (one killed): $(rendered_in "$head") s; $(grep '^tiles per worker' "$work/kube-head.log")"
  # restartPolicy Always: the pod's container comes back (same pod name: the same name prefix,
  # a new random part)
  [[ $(grep -Ec "pool: worker worker-troupe-worker-pod-1-1-[0-9a-f]+ ready" "$work/kube-head.log") -ge 2 ]] \
    || fail "the killed worker did not come back into the pool during the render"
  note "the worker came back (restartPolicy Always) and rejoined the pool mid-render"
  running "$head" || fail "the head did not stay up after rendering (troupe-linger)"
  pm cp "$head:/out/mandelbrot.png" "$work/kube.png" || fail "cannot copy the PNG out of the head"
  cmp -s "$work/ref/long.png" "$work/kube.png" || fail "the kube render differs from the in-process render"
  note "PNG identical to the in-process render"

  stage "kube: podman kube down"
  t0=$SECONDS
  pm kube down "$kube_yaml" >>"$work/kube.log" 2>&1 || fail "podman kube down failed"
  local took=$((SECONDS - t0))
  note "podman kube down (4 pods): $took s"
  ((took < 20)) || fail "podman kube down took $took s: PID 1 does not end on SIGTERM"
  teardown_kube
  [[ -z $(leftovers) ]] || fail "left behind after kube down: $(leftovers | tr '\n' ' ')"
}

case $part in
  image) part_image ;;
  compose) part_compose ;;
  kube) part_kube ;;
  all) part_image; part_compose; part_kube ;;
  *) echo "usage: $0 [all|image|compose|kube]" >&2; exit 2 ;;
esac
[[ -z $(leftovers) ]] || fail "left behind: $(leftovers | tr '\n' ' ')"
print_summary
echo "PASS: nothing left behind (containers, pods, networks, volumes, secrets)"
