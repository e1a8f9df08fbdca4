#!/usr/bin/env bash
# troupe's everyday commands on Debian bookworm. Each installs the Debian packages it needs
# (as root, or through sudo), configures and builds, then:
#   deploy/dev.sh demo [mandelbrot flags]   renders the Mandelbrot set over worker processes
#   deploy/dev.sh test [ctest flags]         runs every test
#   deploy/dev.sh bench [run.py flags]       runs the benchmarks against the peers (bench/README.md);
#                                            without flags: the full run, published to bench/RESULTS.md
#   deploy/dev.sh build                      only builds (into build/)
# Environment: BUILD_DIR (default build), JOBS (default: cores).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${BUILD_DIR:-build}
# ccache keys on paths relative to the checkout, so another clone of the same commit (a CI
# checkout) reuses what this one compiled.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
# With -g ccache also hashes the build directory's absolute path, so without this another
# clone never hits. The price: an object taken from the cache names the other clone's sources
# in its debug information.
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
jobs=${JOBS:-$(nproc)}
# What building the library and the demo needs.
build_packages=(
  cmake g++ make ccache git ca-certificates
  libcaf-dev libprotobuf-dev protobuf-compiler libssl-dev
  libcli11-dev libspdlog-dev libfmt-dev libpng-dev
  libboost-dev prometheus-cpp-dev nlohmann-json3-dev
)
# What the tests and benchmarks need besides (a build with them configured): GoogleTest, Google
# Benchmark, Python (the output checks and the wire peer), the fuzzers (clang), CI's format
# check, the containers, the dashboard's browser and Prometheus (promtool too), the Slurm test's
# scheduler and its authentication daemon.
test_packages=(
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-protobuf
  clang libclang-rt-14-dev clang-format
  podman runc podman-compose netavark aardvark-dns iptables catatonit debootstrap iproute2 procps openssl
  chromium prometheus
  slurm-wlm munge
)
# What the benchmarks need besides: the chart, and the peers ZeroMQ, MPI (with mpirun) and gRPC
# (bench/peers/README.md).
bench_packages=(
  python3 python3-protobuf python3-matplotlib
  pkg-config libzmq3-dev libopenmpi-dev openmpi-bin libgrpc++-dev protobuf-compiler-grpc
)

install_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  echo "installing: ${missing[*]}" >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
}

configure() {
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
}

# Tests and benchmarks on unless the arguments say otherwise (a demo build turned them off).
build() {
  configure -DTROUPE_BUILD_TESTS=ON -DTROUPE_BUILD_BENCH=ON "$@"
  cmake --build "$build_dir" -j "$jobs"
}

command=${1:-}
shift || true
case $command in
  demo)
    # Only the demo and the library: a newcomer's first command stays short.
    install_packages "${build_packages[@]}"
    configure -DTROUPE_BUILD_TESTS=OFF -DTROUPE_BUILD_BENCH=OFF
    cmake --build "$build_dir" -j "$jobs" --target mandelbrot
    "$build_dir/examples/mandelbrot" --compare --out mandelbrot.png "$@"
    ;;
  test)
    install_packages "${build_packages[@]}" "${test_packages[@]}"
    build
    ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" "$@"
    ;;
  bench)
    install_packages "${build_packages[@]}" "${test_packages[@]}" "${bench_packages[@]}"
    configure -DTROUPE_BUILD_TESTS=ON -DTROUPE_BUILD_BENCH=ON
    cmake --build "$build_dir" -j "$jobs" --target bench_programs
    # run.py's chart needs Debian's python3-matplotlib, installed for /usr/bin/python3.
    if [[ $# -eq 0 ]]; then
      set -- --publish
    fi
    /usr/bin/python3 bench/run.py --build-dir "$build_dir" "$@"
    ;;
  build)
    install_packages "${build_packages[@]}" "${test_packages[@]}"
    build "$@"
    ;;
  deps)
    install_packages "${build_packages[@]}" "${test_packages[@]}" "${bench_packages[@]}"
    ;;
  *)
    echo "usage: deploy/dev.sh demo|test|bench|build|deps [args]" >&2
    exit 2
    ;;
esac
