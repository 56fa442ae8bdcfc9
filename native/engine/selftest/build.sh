#!/usr/bin/env bash
# Builds the engine self-test (no Node). Usage: native/engine/selftest/build.sh [OUT] [extra g++ flags...]
# e.g. native/engine/selftest/build.sh /tmp/engine_selftest -fsanitize=address,undefined -g
# Equivalent by hand: compile the avx2/avx512 TUs with their ISA flags, everything else plain, link.
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT="${1:-/tmp/engine_selftest}"
shift || true
FLAGS=(-std=c++17 -O2 -Wall -Wextra -pthread "$@")
OBJ="$(mktemp -d)"
trap 'rm -rf "$OBJ"' EXIT
g++ "${FLAGS[@]}" -mavx2 -mfma -mf16c -c native/kernels/avx2/kernels_avx2.cpp -o "$OBJ/kernels_avx2.o" &
g++ "${FLAGS[@]}" -mavx2 -mfma -mf16c -c native/kernels/avx2/quants_avx2.cpp -o "$OBJ/quants_avx2.o" &
g++ "${FLAGS[@]}" -Wno-maybe-uninitialized -Wno-uninitialized -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 \
  -mfma -mf16c -c native/kernels/avx512/kernels_avx512.cpp -o "$OBJ/kernels_avx512.o" &
g++ "${FLAGS[@]}" -mavx2 -mfma -mf16c -c native/kernels/avx2/packed_avx2.cpp -o "$OBJ/packed_avx2.o" &
g++ "${FLAGS[@]}" -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma -mf16c \
  -c native/kernels/avx512/packed_avx512.cpp -o "$OBJ/packed_avx512.o" &
wait
g++ "${FLAGS[@]}" -o "$OUT" native/engine/selftest/engine_selftest.cpp \
  native/engine/batcher.cpp native/engine/context.cpp native/engine/encoder.cpp native/engine/load_util.cpp native/engine/transformer.cpp native/engine/transformer_load.cpp native/engine/transformer_gpu.cpp native/engine/matmul.cpp native/engine/repack.cpp \
  native/backend/gpu.cpp native/backend/vulkan/vk_backend.cpp native/backend/cuda/cuda_loader.cpp \
  native/engine/ops.cpp native/kv/kv_cache.cpp native/kv/kv_store.cpp native/kv/attention.cpp native/engine/sampler.cpp native/engine/thread_pool.cpp \
  native/engine/weight_types.cpp native/engine/model.cpp \
  native/gguf/gguf.cpp native/gguf/gguf_file.cpp native/gguf/gguf_types.cpp \
  native/kernels/dispatch.cpp native/kernels/generic/kernels_generic.cpp native/kernels/generic/quants_generic.cpp \
  native/kernels/generic/packed_generic.cpp \
  native/kernels/neon/kernels_neon.cpp native/kernels/neon/packed_neon.cpp native/kernels/neon/quants_neon.cpp \
  native/tokenizer/bpe.cpp native/tokenizer/pretokenizer.cpp native/tokenizer/regex.cpp native/tokenizer/spm.cpp \
  native/tokenizer/tokenizer.cpp native/tokenizer/unicode.cpp native/tokenizer/unicode_data.cpp \
  native/tokenizer/vocab.cpp native/tokenizer/wpm.cpp \
  native/util/cpu_features.cpp native/util/cpu_topology.cpp \
  "$OBJ"/*.o -ldl
echo "built $OUT"
