#!/usr/bin/env bash
# Builds and runs the device op-by-op self-test (native/backend/selftest/) on a Vulkan device:
# Mesa's lavapipe on machines without a GPU (RINGLLM_VULKAN_DEVICE=llvmpipe unless already set),
# under ASan/UBSan. Also checks that the committed SPIR-V (shaders_spv.h) matches the shaders.
# With CI=true a missing Vulkan device or glslc fails; elsewhere it is skipped with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=build-native-tests
mkdir -p "$OUT"
if command -v glslc >/dev/null; then
  node scripts/build-shaders.js --check
elif [ "${CI:-}" = "true" ]; then
  echo "glslc missing (apt-get install glslc)"; exit 1
else
  echo "glslc missing: the committed SPIR-V is not re-checked"
fi
FLAGS=(-std=c++17 -O1 -g -Wall -Wextra -fsanitize=address,undefined -fno-sanitize-recover=undefined)
g++ "${FLAGS[@]}" native/backend/selftest/gpu_ops_selftest.cpp native/backend/gpu.cpp \
  native/backend/vulkan/vk_backend.cpp native/backend/cuda/cuda_loader.cpp native/engine/ops.cpp native/gguf/gguf_types.cpp \
  native/kernels/generic/quants_generic.cpp -ldl -o "$OUT/gpu_ops_selftest"
export RINGLLM_VULKAN_DEVICE="${RINGLLM_VULKAN_DEVICE:-llvmpipe}"
# lavapipe's threads and the loader's allocations are not ours: leak checks off for this binary
set +e
ASAN_OPTIONS=detect_leaks=0 "$OUT/gpu_ops_selftest" vulkan > "$OUT/gpu.log" 2>&1
rc=$?
set -e
if [ $rc -eq 2 ]; then
  cat "$OUT/gpu.log"
  if [ "${CI:-}" = "true" ]; then echo "CI: a Vulkan device (lavapipe) is required"; exit 1; fi
  echo "skipped: no Vulkan device"; exit 0
fi
if [ $rc -ne 0 ]; then grep -E "FAIL|ERROR|error" "$OUT/gpu.log" | head -30; tail -3 "$OUT/gpu.log"; exit 1; fi
head -1 "$OUT/gpu.log"
tail -1 "$OUT/gpu.log"
