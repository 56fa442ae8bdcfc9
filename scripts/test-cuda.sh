#!/usr/bin/env bash
# Builds the CUDA plugin (nvcc: one architecture plus its PTX, RINGLLM_CUDA_ARCHS to change) and the
# device op-by-op self-test, and runs the test where nvidia-smi sees a GPU; elsewhere the build is
# the check and the run is skipped with the reason. Usage: scripts/test-cuda.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=build-native-tests
mkdir -p "$OUT"
if ! command -v nvcc >/dev/null; then
  if [ "${CI:-}" = "true" ]; then echo "nvcc missing: CI builds the CUDA plugin"; exit 1; fi
  echo "skipped: nvcc not found (install the CUDA toolkit)"; exit 0
fi
ARCHS="${RINGLLM_CUDA_ARCHS:-75}"
nvcc -O3 -std=c++17 -Xcompiler -fPIC,-fvisibility=hidden -shared -cudart static \
  -gencode "arch=compute_${ARCHS},code=sm_${ARCHS}" -gencode "arch=compute_${ARCHS},code=compute_${ARCHS}" \
  native/backend/cuda/cuda_backend.cu -o "$OUT/libringllm_cuda.so"
g++ -std=c++17 -O1 -g -Wall -Wextra native/backend/selftest/gpu_ops_selftest.cpp native/backend/gpu.cpp \
  native/backend/vulkan/vk_backend.cpp native/backend/cuda/cuda_loader.cpp native/engine/ops.cpp \
  native/gguf/gguf_types.cpp native/kernels/generic/quants_generic.cpp -ldl -o "$OUT/gpu_ops_selftest"
echo "built $OUT/libringllm_cuda.so (sm_${ARCHS} + PTX) and $OUT/gpu_ops_selftest"
if ! nvidia-smi -L >/dev/null 2>&1; then
  echo "skipped the run: nvidia-smi sees no GPU here"; exit 0
fi
RINGLLM_CUDA_PLUGIN="$PWD/$OUT/libringllm_cuda.so" "$OUT/gpu_ops_selftest" cuda | tee "$OUT/cuda.log" | grep -E "FAIL|device:" | head -30
tail -1 "$OUT/cuda.log"
grep -q " 0 failed" "$OUT/cuda.log"
