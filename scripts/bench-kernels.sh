#!/usr/bin/env bash
# Builds and runs the kernel micro-benchmark (native/kernels/bench/kernel_bench.cpp) with the same
# per-ISA flags as the addon. Arguments go to the benchmark, e.g.
#   bash scripts/bench-kernels.sh --bandwidth          # memory read bandwidth, 1 and 2 threads
#   bash scripts/bench-kernels.sh --types Q4_0,Q8_0     # gemv GB/s and gemm GFLOP/s per weight type
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=build-bench
mkdir -p "$OUT"
FLAGS=(-std=c++17 -O2 -DNDEBUG -pthread)
SRC=(native/kernels/bench/kernel_bench.cpp native/engine/matmul.cpp native/engine/thread_pool.cpp
     native/engine/weight_types.cpp native/gguf/gguf_types.cpp native/kernels/dispatch.cpp
     native/kernels/generic/kernels_generic.cpp native/kernels/generic/quants_generic.cpp native/kernels/generic/packed_generic.cpp
     native/kernels/neon/kernels_neon.cpp native/kernels/neon/packed_neon.cpp native/kernels/neon/quants_neon.cpp native/util/cpu_features.cpp)
STAMP="$OUT/kernel_bench.stamp"
if [ ! -x "$OUT/kernel_bench" ] || [ -n "$(find native/kernels native/engine -newer "$STAMP" -name '*.[ch]*' 2>/dev/null | head -1)" ]; then
  g++ "${FLAGS[@]}" -mavx2 -mfma -mf16c -c native/kernels/avx2/quants_avx2.cpp -o "$OUT/quants_avx2.o" &
  g++ "${FLAGS[@]}" -mavx2 -mfma -mf16c -c native/kernels/avx2/kernels_avx2.cpp -o "$OUT/kernels_avx2.o" &
  g++ "${FLAGS[@]}" -mavx2 -mfma -mf16c -c native/kernels/avx2/packed_avx2.cpp -o "$OUT/packed_avx2.o" &
  g++ "${FLAGS[@]}" -Wno-maybe-uninitialized -Wno-uninitialized -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 \
    -mfma -mf16c -c native/kernels/avx512/kernels_avx512.cpp -o "$OUT/kernels_avx512.o" &
  g++ "${FLAGS[@]}" -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma -mf16c \
    -c native/kernels/avx512/packed_avx512.cpp -o "$OUT/packed_avx512.o" &
  for job in $(jobs -p); do wait "$job"; done
  g++ "${FLAGS[@]}" "${SRC[@]}" "$OUT/quants_avx2.o" "$OUT/kernels_avx2.o" "$OUT/kernels_avx512.o" \
    "$OUT/packed_avx2.o" "$OUT/packed_avx512.o" -o "$OUT/kernel_bench"
  touch "$STAMP"
fi
exec "$OUT/kernel_bench" "$@"
