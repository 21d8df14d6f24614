#!/usr/bin/env bash
# Configure, build and run the C++ kernel tests under QEMU: aarch64 (cortex-a53, cortex-a72,
# cortex-a76) and armv7 (cortex-a7), in build/kernels-aarch64 and build/kernels-armv7.
# Usage: cross/run-kernel-tests.sh [aarch64|armv7 ...]   (default: both)
# Needs: cmake, ninja (or make), g++-aarch64-linux-gnu, g++-arm-linux-gnueabihf, qemu-user.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
jobs="${JOBS:-$(nproc)}"
gen=()
command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(aarch64 armv7)
status=0
for t in "${targets[@]}"; do
  case "$t" in
    aarch64) tc="$here/aarch64-linux-gnu.toolchain.cmake" ;;
    armv7) tc="$here/arm-linux-gnueabihf.toolchain.cmake" ;;
    *) echo "unknown target '$t' (expected aarch64 or armv7)" >&2; exit 2 ;;
  esac
  b="$root/build/kernels-$t"
  echo "== $t: configure + build in $b"
  cmake -S "$root" -B "$b" "${gen[@]}" -DCMAKE_TOOLCHAIN_FILE="$tc" -DCMAKE_BUILD_TYPE=Release \
    -DSDK_KERNELS_TESTS=ON -DSDK_KERNELS_PYTHON=OFF >/dev/null
  cmake --build "$b" -j "$jobs"
  echo "== $t: ctest"
  (cd "$b" && ctest --output-on-failure -j "$jobs") || status=1
done
exit $status
