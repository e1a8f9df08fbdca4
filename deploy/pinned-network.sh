#!/usr/bin/env bash
# pinned-network.sh: a podman network whose bridge has a fixed MAC address (as root).
#
#   deploy/pinned-network.sh create NAME [podman network create flags...]
#   deploy/pinned-network.sh remove NAME    the network, and its bridge if no container used it
#
# Why: netavark 1.4 (podman 4.3) lets a bridge take the lowest MAC address of its ports, so the
# gateway's MAC changes as containers come and go. A container restarted in place by its
# restart policy keeps its network namespace and a stale ARP entry for the gateway, where
# aardvark-dns answers: it cannot resolve names for ~40 s (netavark >= 1.9 pins the MAC
# itself). netavark uses a bridge that exists already, so this creates the bridge as netavark
# would (it configures only bridges it creates), plus the fixed MAC. Used by deploy/cluster.sh
# and the container test.
set -euo pipefail

usage() { echo "usage: $0 create NAME [podman network create flags...] | remove NAME" >&2; exit 2; }
[[ $# -ge 2 ]] || usage
command=$1 net=$2
shift 2

bridge_of() { podman network inspect -f '{{.NetworkInterface}}' "$1" 2>/dev/null; }

case $command in
  create)
    podman network exists "$net" || podman network create "$@" "$net" >/dev/null
    br=$(bridge_of "$net")
    gw=$(podman network inspect -f '{{(index .Subnets 0).Gateway}}' "$net")
    subnet=$(podman network inspect -f '{{(index .Subnets 0).Subnet}}' "$net")
    [[ -n $br && -n $gw && ! -e /sys/class/net/$br ]] || exit 0
    # shellcheck disable=SC2086  # ${gw//./ }: the four bytes of the gateway address, split
    ip link add "$br" type bridge
    ip link set "$br" address "$(printf '0a:58:%02x:%02x:%02x:%02x' ${gw//./ })"
    ip addr add "$gw/${subnet#*/}" dev "$br"
    ip link set "$br" up
    ;;
  remove)
    br=$(bridge_of "$net") || exit 0
    podman network rm -f "$net" >/dev/null 2>&1 || true
    # netavark deletes a bridge when its last container goes; not one that never had any.
    if [[ -n $br && -d /sys/class/net/$br/brif && -z $(ls "/sys/class/net/$br/brif") ]]; then
      ip link del "$br" 2>/dev/null || true
    fi
    ;;
  *) usage ;;
esac
