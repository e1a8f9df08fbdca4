#!/usr/bin/env bash
# ThreadSanitizer run of the whole suite (not part of CI: it builds CAF itself, ~15 min on 2 cores).
#
#   tests/sanitizers/tsan.sh [ctest flags]
#
# TSan only sees synchronisation in instrumented code. Debian's libcaf is not instrumented, so
# against it every hand-off through a mailbox (CAF's lock-free queues) is reported as a race:
# thousands of reports that hide real ones. This script therefore builds CAF 0.17.6 itself with
# -fsanitize=thread, from Debian's own source tarball (checksum from Debian's .dsc), installs it
# into a cache, builds troupe with TROUPE_SANITIZE=thread against it and runs every test. Any
# TSan report fails the run; the reports are kept in $BUILD_DIR/tsan-reports.
# Environment: TROUPE_CACHE (default /var/cache/troupe), BUILD_DIR (default build-tsan).
set -euo pipefail
cd "$(dirname "$0")/../.."
cache=${TROUPE_CACHE:-/var/cache/troupe}/caf-0.17.6-tsan
build_dir=${BUILD_DIR:-build-tsan}
tarball=actor-framework_0.17.6.orig.tar.gz
sha256=e2bf5bd243f08bb7d8adde197cfe3e6d71314ed3378fe0692f8932f4c3b3928c

deploy/dev.sh deps

if [[ ! -e $cache/prefix/lib/libcaf_core.so ]]; then
  mkdir -p "$cache"
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
  [[ -n $mirror ]] || mirror=http://deb.debian.org/debian
  if ! echo "$sha256  $cache/$tarball" | sha256sum -c --status 2>/dev/null; then
    echo "tsan: downloading CAF's source from $mirror" >&2
    python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' \
      "$mirror/pool/main/a/actor-framework/$tarball" "$cache/$tarball"
    echo "$sha256  $cache/$tarball" | sha256sum -c --status \
      || { echo "tsan: $tarball does not match Debian's checksum" >&2; exit 1; }
  fi
  CCACHE=$(command -v ccache || true)
  src=$cache/src
  rm -rf "$src" && mkdir -p "$src"
  tar -xzf "$cache/$tarball" -C "$src" --strip-components=1
  # g++ 12 no longer includes <limits> through <cstddef>/<cstring> (Debian patches this too).
  sed -i 's|#include <cstddef>|#include <cstddef>\n#include <limits>|' \
    "$src/libcaf_io/caf/io/network/receive_buffer.hpp"
  cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" \
    -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread -DCMAKE_INSTALL_PREFIX="$cache/prefix" \
    -DCAF_NO_EXAMPLES=yes -DCAF_NO_TOOLS=yes -DCAF_NO_UNIT_TESTS=yes -DCAF_NO_OPENCL=yes \
    -DCAF_NO_PYTHON=yes -DCAF_NO_OPENSSL=yes \
    ${CCACHE:+-DCMAKE_CXX_COMPILER_LAUNCHER=$CCACHE}
  cmake --build "$src/build" -j "$(nproc)" --target install
fi

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTROUPE_SANITIZE=thread \
  -DTROUPE_BUILD_BENCH=OFF -DCMAKE_PREFIX_PATH="$cache/prefix"
cmake --build "$build_dir" -j "$(nproc)"
if ! ldd "$build_dir/tests/nodes_tests" | grep -q "$cache/prefix/lib/libcaf_core"; then
  echo "tsan: the tests do not link the instrumented CAF in $cache/prefix" >&2
  exit 1
fi

reports=$build_dir/tsan-reports
rm -rf "$reports" && mkdir -p "$reports"
reports=$(realpath "$reports")  # the tests run in their own folders
# exitcode=0: a report must not change a test's outcome; it is counted below instead.
TSAN_OPTIONS="log_path=$reports/tsan:exitcode=0:halt_on_error=0:second_deadlock_stack=1" \
  ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" -LE "install|containers" "$@"
count=$(cat "$reports"/tsan.* 2>/dev/null | grep -c '^WARNING: ThreadSanitizer' || true)
if ((count > 0)); then
  echo "tsan: $count report(s) in $reports" >&2
  exit 1
fi
echo "tsan: no report"
