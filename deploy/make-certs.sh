#!/usr/bin/env bash
# Makes a cluster CA and node certificates for troupe's TLS links (docs/security.md).
#
#   deploy/make-certs.sh DIR NAME...      DIR/ca.pem (+ ca.key, keep it offline), and per node
#                                         DIR/NAME.pem + DIR/NAME.key signed by the CA
#   --days N                              validity of node certificates (default 365)
#   --expired                             node certificates that expired yesterday (for tests)
#   --ca-only / --reuse-ca                make just the CA / sign with an existing DIR/ca.*
#
# Nodes then run with --tls-ca DIR/ca.pem --tls-cert DIR/NAME.pem --tls-key DIR/NAME.key.
set -euo pipefail
days=365 expired=0 ca_only=0 reuse_ca=0
names=()
dir=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --days) days=$2; shift 2 ;;
    --expired) expired=1; shift ;;
    --ca-only) ca_only=1; shift ;;
    --reuse-ca) reuse_ca=1; shift ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) if [[ -z $dir ]]; then dir=$1; else names+=("$1"); fi; shift ;;
  esac
done
[[ -n $dir ]] || { echo "usage: $0 DIR [NAME...] [--days N] [--expired] [--ca-only] [--reuse-ca]" >&2; exit 2; }
mkdir -p "$dir"
umask 077

if [[ $reuse_ca -eq 0 ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=troupe cluster CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
fi
[[ $ca_only -eq 1 ]] && exit 0

# `openssl ca` (not `x509 -req`) so that validity dates can be set, for --expired.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
touch "$work/index.txt"
cat >"$work/ca.cnf" <<CNF
[ca]
default_ca = troupe
[troupe]
database = $work/index.txt
new_certs_dir = $work
serial = $work/serial
default_md = sha256
policy = any
copy_extensions = none
unique_subject = no
[any]
commonName = supplied
[node]
basicConstraints = CA:false
keyUsage = digitalSignature
extendedKeyUsage = serverAuth, clientAuth
CNF
openssl rand -hex 16 >"$work/serial"
if [[ $expired -eq 1 ]]; then
  dates=(-startdate "$(date -u -d '-3 days' +%Y%m%d%H%M%SZ)" -enddate "$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)")
else
  dates=(-days "$days")
fi
for name in "${names[@]}"; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
    -keyout "$dir/$name.key" -out "$work/$name.csr" 2>/dev/null
  openssl ca -batch -config "$work/ca.cnf" -extensions node -cert "$dir/ca.pem" \
    -keyfile "$dir/ca.key" -in "$work/$name.csr" -out "$dir/$name.pem" -notext "${dates[@]}" 2>/dev/null
done
echo "certificates in $dir: ca.pem ${names[*]/%/.pem}"
