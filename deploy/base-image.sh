#!/usr/bin/env bash
# base-image.sh: makes `debian:bookworm` available to podman without a container registry
# (debootstrap + podman import), so `podman build --pull=never -f deploy/Dockerfile .` works on
# machines that only reach a Debian mirror. Run as root. Idempotent: does nothing when the
# image exists already (it lives in podman's storage, which is the cache between runs).
#
#   deploy/base-image.sh            make sure docker.io/library/debian:bookworm exists
#
# Environment: TROUPE_CACHE (default /var/cache/troupe/containers; the debootstrap log goes
# there), DEBIAN_MIRROR (default: the host's first apt source). Use the same CONTAINERS_CONF as
# the podman commands that follow (see deploy/README.md).
set -euo pipefail

image=docker.io/library/debian:bookworm
local_name=localhost/troupe/bookworm-base:latest
cache=${TROUPE_CACHE:-/var/cache/troupe/containers}

if podman image exists "$image"; then
  exit 0
fi
# Another tool on this machine (../shared/tools/fresh-run) may have made the same image already.
for other in "$local_name" localhost/bookworm-base:latest; do
  if podman image exists "$other"; then
    podman tag "$other" "$image"
    echo "base-image: tagged $other as $image" >&2
    exit 0
  fi
done

[[ $(id -u) == 0 ]] || { echo "base-image: debootstrap needs root" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "base-image: needs debootstrap (apt-get install debootstrap)" >&2; exit 2; }
mirror=${DEBIAN_MIRROR:-}
[[ -n $mirror ]] || mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
[[ -n $mirror ]] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null)
[[ -n $mirror ]] || mirror=http://deb.debian.org/debian

mkdir -p "$cache"
root=$(mktemp -d "$cache/rootfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
echo "base-image: debootstrap bookworm from $mirror (once; log: $cache/debootstrap.log)" >&2
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 \
  || { echo "base-image: debootstrap failed, see $cache/debootstrap.log" >&2; exit 1; }
# The host's sources (with -updates and -security) replace the minimal one debootstrap wrote.
if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
  cp /etc/apt/sources.list.d/*.sources "$root/etc/apt/sources.list.d/"
  rm -f "$root/etc/apt/sources.list"
fi
# As in the official image: apt keeps no .debs, no recommends, no lists in the layers.
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
EOF
echo 'APT::Install-Recommends "false";' >"$root/etc/apt/apt.conf.d/docker-no-recommends"
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/var/cache/debconf/*-old
tar --numeric-owner -C "$root" -c . \
  | podman import -q --change 'CMD ["/bin/bash"]' - "$local_name" >/dev/null
podman tag "$local_name" "$image"
echo "base-image: imported $image ($(podman image inspect --format '{{.Size}}' "$image") bytes)" >&2
