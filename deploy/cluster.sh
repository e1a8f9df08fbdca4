#!/usr/bin/env bash
# cluster.sh: the compose cluster of deploy/compose.yaml in one command (deploy/README.md).
#
#   deploy/cluster.sh render [N]   image (if missing) + secret + out/, head and N workers (default
#                                  3), follow the head until it wrote deploy/out/mandelbrot.png, down
#   deploy/cluster.sh up [N]       the same, but leave the cluster running in the background
#   deploy/cluster.sh logs         follow the head's output (progress, tiles per worker)
#   deploy/cluster.sh ps           the cluster's containers
#   deploy/cluster.sh scale N      run N workers now (docker-compose --scale; podman-compose,
#                                  which ignores --scale: clones or removes worker containers)
#   deploy/cluster.sh down         stop and remove containers and network (a few seconds)
#   deploy/cluster.sh image        (re)build the image localhost/troupe/mandelbrot
#
# Environment: COMPOSE (podman-compose or docker-compose; default: podman-compose if
# installed), PROJECT (compose project, default troupe), WIDTH/HEIGHT/ITERATIONS/LOG_LEVEL (see
# compose.yaml), TROUPE_IMAGE. With podman and no CONTAINERS_CONF set, a private
# containers.conf is used (ulimits within the hard limits; runc if installed) - see README.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
project=${PROJECT:-troupe}
image=${TROUPE_IMAGE:-localhost/troupe/mandelbrot:latest}
export TROUPE_IMAGE=$image
cache=${TROUPE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/troupe}

if [[ -z ${COMPOSE:-} ]]; then
  if command -v podman-compose >/dev/null; then COMPOSE=podman-compose
  elif command -v docker-compose >/dev/null; then COMPOSE=docker-compose
  else echo "cluster.sh: needs podman-compose or docker-compose" >&2; exit 2
  fi
fi
engine=podman
[[ $COMPOSE == docker-compose* && -z ${DOCKER_HOST:-} ]] && command -v docker >/dev/null && engine=docker

if [[ $engine == podman && -z ${CONTAINERS_CONF:-} ]]; then
  mkdir -p "$cache"
  nofile=$(ulimit -Hn); [[ $nofile == unlimited ]] && nofile=1048576
  nproc=$(ulimit -Hu); [[ $nproc == unlimited || $nproc -gt 32768 ]] && nproc=32768
  {
    printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n' \
      "$nofile" "$nofile" "$nproc" "$nproc"
    command -v runc >/dev/null && printf '[engine]\nruntime = "runc"\n'
    # netavark + aardvark-dns: workers resolve the head by name (CNI's bridge does not).
    printf '[network]\nnetwork_backend = "netavark"\n'
  } >"$cache/containers.conf"
  export CONTAINERS_CONF=$cache/containers.conf
fi

compose() { (cd "$top" && "$COMPOSE" -p "$project" -f deploy/compose.yaml "$@"); }
head_container() {
  "$engine" ps -a --filter "label=com.docker.compose.project=$project" \
    --filter "label=com.docker.compose.service=head" --format '{{.Names}}' | head -n 1
}

build_image() {
  if ! "$engine" image exists docker.io/library/debian:bookworm 2>/dev/null \
     && ! "$engine" image inspect debian:bookworm >/dev/null 2>&1; then
    "$engine" pull docker.io/library/debian:bookworm \
      || { [[ $engine == podman ]] && TROUPE_CACHE=$cache "$here/base-image.sh"; }
  fi
  local flags=()
  [[ $engine == podman ]] && flags=(--format docker --pull=never)  # keep the HEALTHCHECK
  (cd "$top" && "$engine" build "${flags[@]}" -t "$image" -f deploy/Dockerfile .)
}

prepare() {
  # The secret: made once, never part of the image; readable by the image's user (gid 10001).
  local secret=${TROUPE_SECRET_FILE:-$here/secret}
  if [[ ! -s $secret ]]; then
    (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$secret")
    echo "cluster.sh: made a new cluster secret in $secret" >&2
  fi
  local out=${OUT_DIR:-$here/out}
  mkdir -p "$out"
  if [[ $(id -u) == 0 ]]; then
    chgrp 10001 "$secret" && chmod 0640 "$secret"
    chown 10001:10001 "$out"
  elif [[ $engine == podman ]]; then
    # rootless podman: uid 10001 in the container is a subordinate uid outside
    podman unshare chgrp 10001 "$secret" && chmod 0640 "$secret"
    podman unshare chown 10001:10001 "$out"
  else
    chmod 0644 "$secret"; chmod 0777 "$out"  # docker as a user: bind mounts keep host ids
  fi
  export OUT_DIR=$out TROUPE_SECRET_FILE=$secret
}

# A worker restarted in place must find the gateway (and DNS) at once: as root, with
# podman-compose, create the network first with its bridge's MAC pinned (pinned-network.sh).
pin_bridge() {
  [[ $engine == podman && $COMPOSE == podman-compose* && $(id -u) == 0 ]] || return 0
  "$here/pinned-network.sh" create "${project}_cluster" \
    --label "io.podman.compose.project=$project" --label "com.docker.compose.project=$project" \
    || echo "cluster.sh: cannot pin the bridge's MAC address (restarted workers may rejoin late)" >&2
}

up() {
  export WORKERS=${1:-${WORKERS:-3}}
  "$engine" image exists "$image" 2>/dev/null || "$engine" image inspect "$image" >/dev/null 2>&1 \
    || build_image
  prepare
  down  # a fresh cluster: compose would restart a finished head, which renders again
  rm -f "$OUT_DIR/mandelbrot.png"
  pin_bridge
  compose up -d --no-build >/dev/null
  echo "cluster.sh: head and $WORKERS workers started (project $project)" >&2
}

down() {
  compose down -t 5 >/dev/null 2>&1 || true
  # What compose may miss: replicas beyond WORKERS (scale), and podman-compose 1.0 leaves the
  # project's network behind.
  "$engine" ps -aq --filter "label=com.docker.compose.project=$project" \
    | xargs -r "$engine" rm -f >/dev/null 2>&1 || true
  if [[ $engine == podman ]]; then
    local net
    for net in $(podman network ls -q --filter "label=io.podman.compose.project=$project"); do
      "$here/pinned-network.sh" remove "$net" || true
    done
  fi
}

command=${1:-}
shift || true
case $command in
  image) build_image ;;
  up) up "$@"; echo "follow:  deploy/cluster.sh logs    stop:  deploy/cluster.sh down" >&2 ;;
  render)
    trap down EXIT
    up "$@"
    "$engine" logs -f "$(head_container)"
    status=$("$engine" wait "$(head_container)")
    [[ $status == 0 && -s $OUT_DIR/mandelbrot.png ]] \
      || { echo "cluster.sh: the head exited with status $status" >&2; exit 1; }
    echo "cluster.sh: the image is $OUT_DIR/mandelbrot.png" >&2
    ;;
  logs) "$engine" logs -f "$(head_container)" ;;
  ps) compose ps ;;
  scale)
    [[ $# -eq 1 && $1 =~ ^[0-9]+$ ]] || { echo "usage: cluster.sh scale N" >&2; exit 2; }
    if [[ $COMPOSE == podman-compose* ]]; then
      # podman-compose 1.0 ignores --scale: clone the first worker (same command, network,
      # secret, labels) or remove the last ones.
      mapfile -t workers < <(podman ps -a --filter "label=com.docker.compose.project=$project" \
        --filter "label=com.docker.compose.service=worker" --format '{{.Names}}' | sort -V)
      [[ ${#workers[@]} -gt 0 ]] || { echo "cluster.sh: no cluster is up" >&2; exit 1; }
      for ((i = ${#workers[@]} + 1; i <= $1; i++)); do
        podman container clone "${workers[0]}" "${project}_worker_$i" >/dev/null
        podman start "${project}_worker_$i" >/dev/null
      done
      for ((i = ${#workers[@]}; i > $1; i--)); do
        podman rm -f -t 5 "${workers[i - 1]}" >/dev/null
      done
    else
      compose up -d --no-build --no-recreate --no-deps --scale "worker=$1" worker
    fi
    echo "cluster.sh: $1 workers" >&2
    ;;
  down) down ;;
  *) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0" >&2; exit 2 ;;
esac
