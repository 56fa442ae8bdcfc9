#!/usr/bin/env bash
# Cross-compiles the kernel self-tests for aarch64 and runs them under qemu-aarch64, so the NEON tier
# is checked against the generic reference (bit for bit for the quantized kernels) on an x86 machine:
# once on qemu's default CPU (dotprod: the SDOT paths) and once on a Cortex-A57 (no dotprod: the
# vmull/vpadal paths). Installs the tools from Debian if absent. Any failure exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v aarch64-linux-gnu-g++ >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq g++-aarch64-linux-gnu qemu-user >/dev/null
fi
OUT=build-neon
mkdir -p "$OUT"
CXX=(aarch64-linux-gnu-g++ -std=c++17 -O2 -static -Wall -Wextra)
NO_DOTPROD_CPU=cortex-a57
SRC=(native/kernels/selftest/kernel_selftest.cpp native/kernels/dispatch.cpp native/util/cpu_features.cpp
     native/kernels/generic/kernels_generic.cpp native/kernels/avx2/kernels_avx2.cpp
     native/kernels/avx512/kernels_avx512.cpp native/kernels/neon/kernels_neon.cpp)
PSRC=(native/kernels/selftest/packed_selftest.cpp native/kernels/generic/packed_generic.cpp
      native/kernels/generic/quants_generic.cpp native/kernels/avx2/packed_avx2.cpp
      native/kernels/avx512/packed_avx512.cpp native/kernels/neon/packed_neon.cpp native/util/cpu_features.cpp)
# Two compiles at a time at most (shared machine). quants_selftest.cpp: GCC 12's aarch64 loop
# vectorizer crashes on it (ICE in vect_transform_reduction), so that test file is built without it.
"${CXX[@]}" "${SRC[@]}" -o "$OUT/kernel_selftest" &
"${CXX[@]}" -fno-tree-loop-vectorize -c native/kernels/selftest/quants_selftest.cpp -o "$OUT/quants_selftest.o" &
for job in $(jobs -p); do wait "$job"; done
"${CXX[@]}" -c native/kernels/generic/quants_generic.cpp -o "$OUT/quants_generic.o" &
"${CXX[@]}" -c native/kernels/neon/quants_neon.cpp -o "$OUT/quants_neon.o" &
for job in $(jobs -p); do wait "$job"; done
# The row kernels and the packed K-quant kernels choose SDOT at compile time (the packed Q4_0/Q8_0
# ones at run time): the NEON files built once more with dotprod cover those paths.
"${CXX[@]}" -march=armv8.2-a+dotprod -c native/kernels/neon/quants_neon.cpp -o "$OUT/quants_neon_dotprod.o" &
"${CXX[@]}" -march=armv8.2-a+dotprod -c native/kernels/neon/packed_neon.cpp -o "$OUT/packed_neon_dotprod.o" &
for job in $(jobs -p); do wait "$job"; done
"${CXX[@]}" "${PSRC[@]}" -o "$OUT/packed_selftest" &
"${CXX[@]}" "${PSRC[@]/native\/kernels\/neon\/packed_neon.cpp/$OUT/packed_neon_dotprod.o}" -o "$OUT/packed_selftest_dotprod" &
for job in $(jobs -p); do wait "$job"; done
QOBJ=("$OUT/quants_selftest.o" "$OUT/quants_generic.o" native/kernels/avx2/quants_avx2.cpp)
"${CXX[@]}" "${QOBJ[@]}" "$OUT/quants_neon.o" -o "$OUT/quants_selftest"
"${CXX[@]}" "${QOBJ[@]}" "$OUT/quants_neon_dotprod.o" -o "$OUT/quants_selftest_dotprod"
# Each build must contain the path it is meant to test (and the baseline build no SDOT at all).
sdot_count() { aarch64-linux-gnu-objdump -d "$OUT/$1" | grep -cw sdot || true; }
for want in quants_selftest:0 quants_selftest_dotprod:1 packed_selftest:1 packed_selftest_dotprod:1; do
  bin=${want%:*}
  n=$(sdot_count "$bin")
  if { [ "${want#*:}" = 1 ] && [ "$n" = 0 ]; } || { [ "${want#*:}" = 0 ] && [ "$n" != 0 ]; }; then
    echo "FAILED: $bin has $n SDOT instructions" >&2
    exit 1
  fi
done

# run NAME CPU BINARY [ARGS]: runs under qemu, keeps the log, prints its summary line, fails loudly.
run() {
  local name=$1 cpu=$2 bin=$3
  shift 3
  local log="$OUT/$name.$cpu.log"
  local cpuarg=()
  [ "$cpu" = default ] || cpuarg=(-cpu "$cpu")
  if ! qemu-aarch64 "${cpuarg[@]}" "$OUT/$bin" "$@" > "$log" 2>&1; then
    echo "FAILED: $name on qemu cpu $cpu (log $log)" >&2
    grep -E "FAIL" "$log" | head -20 >&2 || tail -20 "$log" >&2
    exit 1
  fi
  echo "[$cpu] $name: $(grep -E "^(tiers|tier |neon tier|avx2 tier)" "$log" | head -1 | tr -d '\n'); $(grep -vE '^\s*$' "$log" | tail -1)"
}
run kernel_selftest default kernel_selftest
run quants_selftest default quants_selftest --quick
run quants_selftest_dotprod default quants_selftest_dotprod --quick
run packed_selftest default packed_selftest
run packed_selftest_dotprod default packed_selftest_dotprod
run kernel_selftest "$NO_DOTPROD_CPU" kernel_selftest
run quants_selftest "$NO_DOTPROD_CPU" quants_selftest --quick
run packed_selftest "$NO_DOTPROD_CPU" packed_selftest
echo "neon self-tests passed (qemu default CPU and $NO_DOTPROD_CPU)"
