#!/usr/bin/env bash
# netns-cluster.sh: N "hosts" on one machine, as network namespaces on a private switch
# (deploy/README.md, "Hosts as network namespaces"). Needs root and iproute2.
#
#   deploy/netns-cluster.sh up N [--prefix P] [--subnet A.B.C]
#                                      hosts P-h0 .. P-h<N-1>, each with eth0 at A.B.C.<i+1>/24
#                                      (default subnet 10.213.0), plugged into the bridge of the
#                                      switch namespace P-sw; prints the prefix
#   deploy/netns-cluster.sh down [--prefix P]   ends the processes left in P's namespaces and
#                                      removes the namespaces (and with them every link)
#   deploy/netns-cluster.sh exec HOST CMD...    runs CMD on HOST (same pid: `ip netns exec`
#                                      replaces this script), e.g. exec 0 ip addr
#   deploy/netns-cluster.sh addr HOST           prints HOST's address
#   deploy/netns-cluster.sh link HOST down|up [--host-side]
#                                      pulls HOST's cable out of the switch (its switch port goes
#                                      down: every packet to or from HOST is dropped silently, as
#                                      on a partitioned network) or plugs it back; --host-side
#                                      sets HOST's own eth0 down instead (HOST also loses its
#                                      route: its own sends fail with "network unreachable")
#   deploy/netns-cluster.sh list                the clusters of this script on the machine
#
# HOST is an index (0 is the head's host by convention) or a name (h2). Without --prefix,
# TROUPE_NETNS_PREFIX is used; failing that, `up` makes one from its pid and the other commands
# use the only cluster there is. Nothing is added to the machine's own network namespace: the
# bridge and both ends of every veth pair live in the cluster's namespaces, and so do the
# addresses, so two clusters with the same subnet never see each other. `up` that fails half-way
# removes what it made; `up` of a prefix that exists is refused (it never touches another run's
# namespaces).
set -euo pipefail

prog=netns-cluster.sh
usage() {
  sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
die() {
  echo "$prog: $*" >&2
  exit 1
}

command=${1:-}
[[ -n $command ]] || usage
shift

prefix=${TROUPE_NETNS_PREFIX:-}
subnet=10.213.0
host_side=false
positional=()
while (($#)); do
  case $1 in
    --prefix) prefix=${2:-}; shift 2 || usage ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    --subnet) subnet=${2:-}; shift 2 || usage ;;
    --subnet=*) subnet=${1#--subnet=}; shift ;;
    --host-side) host_side=true; shift ;;
    --) shift; positional+=("$@"); break ;;
    *)
      # exec's command keeps its own flags: everything from HOST on is the command.
      if [[ $command == exec ]]; then positional+=("$@"); break; fi
      positional+=("$1"); shift ;;
  esac
done

# A prefix is part of every namespace name and of the patterns `down` matches, so it is kept to
# characters that mean nothing to a shell or a regular expression.
check_prefix() {
  [[ $1 =~ ^[A-Za-z][A-Za-z0-9_]{0,23}$ ]] \
    || die "prefix '$1': a letter, then up to 23 letters, digits or '_'"
}

require_tools() {
  [[ $(id -u) == 0 ]] || die "network namespaces need root"
  command -v ip >/dev/null || die "ip (Debian package iproute2) is not installed"
}

# Namespaces of cluster P, switch last (hosts first, so that their links go before the bridge).
namespaces_of() {
  ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$1-h[0-9]+$" | sort -t h -k 2 -n || true
  ip netns list 2>/dev/null | awk '{print $1}' | grep -x -- "$1-sw" || true
}

# Prefixes of every cluster on the machine: a switch namespace marks one.
all_prefixes() {
  ip netns list 2>/dev/null | awk '{print $1}' | sed -n 's/^\([A-Za-z][A-Za-z0-9_]*\)-sw$/\1/p'
}

# The prefix the command acts on: given, or the only cluster there is.
resolve_prefix() {
  if [[ -z $prefix ]]; then
    local found
    mapfile -t found < <(all_prefixes)
    case ${#found[@]} in
      0) die "no cluster is up (none of 'ip netns list' ends in -sw)" ;;
      1) prefix=${found[0]} ;;
      *) die "several clusters are up (${found[*]}): say which with --prefix or TROUPE_NETNS_PREFIX" ;;
    esac
  fi
  check_prefix "$prefix"
}

# HOST (an index or h<index>) as its namespace name; it must exist.
host_namespace() {
  local host=${1#h}
  [[ $host =~ ^[0-9]+$ ]] || die "host '$1': an index (0, 1, ...) or a name (h0, h1, ...)"
  host=$((10#$host))
  local ns=$prefix-h$host
  [[ -e /run/netns/$ns ]] || die "cluster $prefix has no host $host (no namespace $ns)"
  echo "$ns"
}

host_address() {  # NAMESPACE: the IPv4 address of its eth0
  ip -n "$1" -4 -o addr show dev eth0 | awk '{split($4, a, "/"); print a[1]; exit}'
}

# Ends what still runs in NAMESPACE: SIGTERM, then SIGKILL after 5 s. Only processes inside the
# cluster's own namespaces are touched, and those can only be there because they were started
# in the cluster.
end_processes_in() {
  local ns=$1 pids
  mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null)
  ((${#pids[@]})) || return 0
  echo "$prog: ending processes left in $ns: ${pids[*]}" >&2
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 50); do
    [[ -z $(ip netns pids "$ns" 2>/dev/null) ]] && return 0
    sleep 0.1
  done
  mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null)
  if ((${#pids[@]})); then kill -KILL "${pids[@]}" 2>/dev/null || true; fi
}

remove_cluster() {  # PREFIX
  local ns namespaces
  mapfile -t namespaces < <(namespaces_of "$1")
  for ns in "${namespaces[@]}"; do
    [[ -n $ns ]] && end_processes_in "$ns"
  done
  for ns in "${namespaces[@]}"; do
    [[ -n $ns ]] && ip netns delete "$ns"
  done
  return 0
}

cmd_up() {
  ((${#positional[@]} == 1)) || usage
  local n=${positional[0]}
  if ! [[ $n =~ ^[0-9]+$ ]] || ((n < 1 || n > 250)); then
    die "N '$n': between 1 and 250 hosts"
  fi
  if ! [[ $subnet =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] \
     || ((BASH_REMATCH[1] > 255 || BASH_REMATCH[2] > 255 || BASH_REMATCH[3] > 255)); then
    die "subnet '$subnet': the first three numbers of a /24, e.g. 10.213.0"
  fi
  [[ -n $prefix ]] || prefix=tn$$
  check_prefix "$prefix"
  require_tools
  [[ -z $(namespaces_of "$prefix") ]] \
    || die "cluster $prefix exists already (down --prefix $prefix removes it)"

  # From here on a failure removes what this call made: only its own prefix, which did not
  # exist before.
  trap 'status=$?; if ((status != 0)); then echo "$prog: up failed; removing cluster $prefix" >&2; remove_cluster "$prefix"; fi' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  local switch=$prefix-sw
  ip netns add "$switch"
  ip -n "$switch" link set lo up
  ip -n "$switch" link add br0 type bridge
  # Frames cross the bridge at once: no spanning tree delay when a port comes up (or back up).
  ip -n "$switch" link set br0 type bridge stp_state 0 forward_delay 0
  ip -n "$switch" link set br0 up
  local i ns
  for ((i = 0; i < n; i++)); do
    ns=$prefix-h$i
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # Both ends are made in the switch namespace and one is moved at once: no interface ever
    # appears in the machine's own namespace.
    ip -n "$switch" link add "h$i" type veth peer name eth0 netns "$ns"
    ip -n "$switch" link set "h$i" master br0 up
    ip -n "$ns" addr add "$subnet.$((i + 1))/24" dev eth0
    ip -n "$ns" link set eth0 up
  done
  trap - EXIT INT TERM
  echo "cluster $prefix: $n hosts on $subnet.0/24 (h0 = $subnet.1 ... h$((n - 1)) = $subnet.$n)"
  echo "export TROUPE_NETNS_PREFIX=$prefix"
}

cmd_down() {
  ((${#positional[@]} == 0)) || usage
  require_tools
  resolve_prefix
  remove_cluster "$prefix"
  [[ -z $(namespaces_of "$prefix") ]] || die "cluster $prefix: some namespaces remain"
}

cmd_exec() {
  ((${#positional[@]} >= 2)) || usage
  require_tools
  resolve_prefix
  local ns
  ns=$(host_namespace "${positional[0]}")
  exec ip netns exec "$ns" "${positional[@]:1}"
}

cmd_addr() {
  ((${#positional[@]} == 1)) || usage
  require_tools
  resolve_prefix
  local ns
  ns=$(host_namespace "${positional[0]}")
  host_address "$ns"
}

cmd_link() {
  ((${#positional[@]} == 2)) || usage
  local state=${positional[1]}
  [[ $state == up || $state == down ]] || usage
  require_tools
  resolve_prefix
  local ns
  ns=$(host_namespace "${positional[0]}")
  if $host_side; then
    ip -n "$ns" link set eth0 "$state"
  else
    ip -n "$prefix-sw" link set "h${ns##*-h}" "$state"
  fi
}

cmd_list() {
  require_tools
  local p ns
  for p in $(all_prefixes); do
    echo "$p:"
    for ns in $(namespaces_of "$p"); do
      [[ $ns == "$p-sw" ]] && continue
      echo "  ${ns#"$p"-} $(host_address "$ns")"
    done
  done
}

case $command in
  up) cmd_up ;;
  down) cmd_down ;;
  exec) cmd_exec ;;
  addr) cmd_addr ;;
  link) cmd_link ;;
  list) cmd_list ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac
