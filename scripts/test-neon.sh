#!/usr/bin/env bash
# Cross-compiles the kernel self-test for aarch64 and runs it under qemu-aarch64, so the NEON tier
# is checked against the generic reference on an x86 machine. Installs the tools from Debian if absent.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v aarch64-linux-gnu-g++ >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq g++-aarch64-linux-gnu qemu-user >/dev/null
fi
mkdir -p build-neon
SRC=(native/kernels/selftest/kernel_selftest.cpp native/kernels/dispatch.cpp native/util/cpu_features.cpp
     native/kernels/generic/kernels_generic.cpp native/kernels/avx2/kernels_avx2.cpp
     native/kernels/avx512/kernels_avx512.cpp native/kernels/neon/kernels_neon.cpp)
aarch64-linux-gnu-g++ -std=c++17 -O2 -static "${SRC[@]}" -o build-neon/kernel_selftest
qemu-aarch64 build-neon/kernel_selftest
