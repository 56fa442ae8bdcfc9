#!/usr/bin/env bash
# Builds and runs the standalone C++ self-tests (no Node): weight-type kernels (AVX2 against the
# generic reference, bit for bit; packed 8-row kernels of every tier the CPU runs), Unicode tables, regex engine, pre-tokenizers, BPE, vocabulary
# loading, SPM/WPM, detokenizer, KV cache policies and attention. ASan+UBSan catch memory errors.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=build-native-tests
mkdir -p "$OUT"
FLAGS=(-std=c++17 -O1 -g -Wall -Wextra -fsanitize=address,undefined -fno-sanitize-recover=undefined)
TOK=(native/gguf/gguf.cpp native/gguf/gguf_types.cpp native/tokenizer/unicode.cpp native/tokenizer/unicode_data.cpp
     native/tokenizer/regex.cpp native/tokenizer/pretokenizer.cpp native/tokenizer/bpe.cpp)
g++ "${FLAGS[@]}" native/tokenizer/selftest/bpe_selftest.cpp "${TOK[@]}" -o "$OUT/bpe_selftest" &
g++ "${FLAGS[@]}" native/tokenizer/selftest/tokenizer_selftest.cpp "${TOK[@]}" native/tokenizer/vocab.cpp \
  native/tokenizer/tokenizer.cpp native/tokenizer/spm.cpp native/tokenizer/wpm.cpp -o "$OUT/tokenizer_selftest" &
g++ "${FLAGS[@]}" -mavx2 -mfma -mf16c -c native/kernels/avx2/quants_avx2.cpp -o "$OUT/quants_avx2.o" &
g++ "${FLAGS[@]}" -mavx2 -mfma -mf16c -c native/kernels/avx2/kernels_avx2.cpp -o "$OUT/kernels_avx2.o" &
g++ "${FLAGS[@]}" -mavx2 -mfma -mf16c -c native/kernels/avx2/packed_avx2.cpp -o "$OUT/packed_avx2.o" &
g++ "${FLAGS[@]}" -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma -mf16c \
  -c native/kernels/avx512/packed_avx512.cpp -o "$OUT/packed_avx512.o" &
g++ "${FLAGS[@]}" -Wno-maybe-uninitialized -Wno-uninitialized -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma \
  -mf16c -c native/kernels/avx512/kernels_avx512.cpp -o "$OUT/kernels_avx512.o" &
for job in $(jobs -p); do wait "$job"; done
g++ "${FLAGS[@]}" native/kv/selftest/kv_selftest.cpp native/kv/kv_cache.cpp native/kv/kv_store.cpp native/kv/attention.cpp native/engine/ops.cpp \
  native/kernels/dispatch.cpp native/kernels/generic/kernels_generic.cpp native/kernels/generic/quants_generic.cpp \
  native/kernels/neon/kernels_neon.cpp native/util/cpu_features.cpp "$OUT/kernels_avx2.o" "$OUT/kernels_avx512.o" \
  "$OUT/quants_avx2.o" -o "$OUT/kv_selftest"
"$OUT/kv_selftest" > "$OUT/kv.log" || { grep FAIL "$OUT/kv.log" | head -20; exit 1; }
tail -1 "$OUT/kv.log"
g++ "${FLAGS[@]}" native/kernels/selftest/kernel_selftest.cpp native/kernels/dispatch.cpp native/util/cpu_features.cpp \
  native/kernels/generic/kernels_generic.cpp native/kernels/neon/kernels_neon.cpp "$OUT/kernels_avx2.o" \
  "$OUT/kernels_avx512.o" -o "$OUT/kernel_selftest"
"$OUT/kernel_selftest" > "$OUT/kernel.log" || { grep -v ": ok" "$OUT/kernel.log" | head -20; exit 1; }
tail -1 "$OUT/kernel.log"
g++ "${FLAGS[@]}" native/kernels/selftest/quants_selftest.cpp native/kernels/generic/quants_generic.cpp \
  "$OUT/quants_avx2.o" -o "$OUT/quants_selftest"
"$OUT/quants_selftest" --quick > "$OUT/quants.log" || { grep -E "FAIL|fail" "$OUT/quants.log" | head -20; exit 1; }
tail -1 "$OUT/quants.log"
g++ "${FLAGS[@]}" native/kernels/selftest/packed_selftest.cpp native/kernels/generic/packed_generic.cpp \
  native/kernels/generic/quants_generic.cpp "$OUT/packed_avx2.o" "$OUT/packed_avx512.o" -o "$OUT/packed_selftest"
"$OUT/packed_selftest" > "$OUT/packed.log" || { grep FAIL "$OUT/packed.log" | head -20; exit 1; }
tail -1 "$OUT/packed.log"
VOCAB="${1:-../shared/vocab}"
for t in bpe_selftest tokenizer_selftest; do
  SELFTEST_NO_TIMING=1 "$OUT/$t" "$VOCAB" > "$OUT/$t.log" || { grep -E "FAIL" "$OUT/$t.log" | head -20; exit 1; }
  tail -1 "$OUT/$t.log"
done
