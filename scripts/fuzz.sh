#!/usr/bin/env bash
# Builds the fuzz targets with clang (libFuzzer + ASan + UBSan) and runs them for a bounded time:
# `npm run fuzz -- [seconds]` (default 60) for the GGUF parser, then half that (at least 20 s) for the
# saved-state loader (native/kv/fuzz/state_fuzz.cpp, on ../shared/models/stories260K.gguf).
# Installs clang from Debian when absent.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN="${1:-60}"
OUT=build-fuzz
mkdir -p "$OUT/corpus"

if ! command -v clang++ >/dev/null 2>&1 || ! echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long){return 0;}' |
    clang++ -x c++ -fsanitize=fuzzer - -o /dev/null 2>/dev/null; then
  echo "installing clang + libFuzzer runtime from Debian"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clang libclang-rt-14-dev >/dev/null
fi

clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  native/gguf/fuzz/gguf_fuzz.cpp native/gguf/gguf.cpp native/gguf/gguf_types.cpp \
  native/tokenizer/{vocab,tokenizer,spm,wpm,bpe,pretokenizer,regex,unicode,unicode_data}.cpp -o "$OUT/gguf_fuzz"

# Seeds: small valid files from the project's writer, plus the shared model and vocab headers.
if [ -f scripts/make-fuzz-seeds.ts ]; then npx tsx scripts/make-fuzz-seeds.ts "$OUT/corpus"; fi
for f in ../shared/models/stories260K.gguf ../shared/vocab/*.gguf; do
  [ -f "$f" ] && head -c 65536 "$f" > "$OUT/corpus/shared-$(basename "$f")"
done

set +e
"$OUT/gguf_fuzz" "$OUT/corpus" -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$OUT/" 2>&1 | tee "$OUT/fuzz.log" | grep -E "^(#[0-9]+ +DONE|stat::|==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit)" 
rc=${PIPESTATUS[0]}
set -e
execs=$(grep -E "^stat::number_of_executed_units" "$OUT/fuzz.log" | awk '{print $2}')
echo "fuzz: ${execs:-0} executions in ${SECONDS_TO_RUN} s, exit status $rc"
[ "$rc" = 0 ] || exit "$rc"

# The saved-state loader: the whole engine under the sanitizers (kernel tiers with their ISA flags).
MODEL=../shared/models/stories260K.gguf
if [ ! -f "$MODEL" ]; then
  if [ "${CI:-}" = true ]; then echo "fuzz: $MODEL is missing" >&2; exit 1; fi
  echo "fuzz: $MODEL is missing; the state fuzzer is skipped"
  exit 0
fi
STATE_SECONDS=$(( SECONDS_TO_RUN / 2 > 20 ? SECONDS_TO_RUN / 2 : 20 ))
SF=(-std=c++17 -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined)
mkdir -p "$OUT/state-obj" "$OUT/state-corpus"
SRCS=$(python3 -c 'import ast,sys; d=ast.literal_eval(open("native/sources.gypi").read()); v=d["variables"]; print(" ".join(x for x in v["ringllm_sources"] + v["ringllm_sources_neon"] if "/addon/" not in x))')
pids=()
for f in $SRCS native/kv/fuzz/state_fuzz.cpp; do
  o="$OUT/state-obj/$(echo "$f" | tr / _).o"
  clang++ "${SF[@]}" -c "$f" -o "$o" &
  pids+=($!)
  if [ "${#pids[@]}" -ge 2 ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
clang++ "${SF[@]}" -mavx2 -mfma -mf16c -c native/kernels/avx2/kernels_avx2.cpp -o "$OUT/state-obj/k2.o"
clang++ "${SF[@]}" -mavx2 -mfma -mf16c -c native/kernels/avx2/packed_avx2.cpp -o "$OUT/state-obj/p2.o"
clang++ "${SF[@]}" -mavx2 -mfma -mf16c -c native/kernels/avx2/quants_avx2.cpp -o "$OUT/state-obj/q2.o"
clang++ "${SF[@]}" -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma -mf16c -c native/kernels/avx512/kernels_avx512.cpp -o "$OUT/state-obj/k5.o"
clang++ "${SF[@]}" -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma -mf16c -c native/kernels/avx512/packed_avx512.cpp -o "$OUT/state-obj/p5.o"
for p in "${pids[@]}"; do wait "$p"; done
clang++ -fsanitize=fuzzer,address,undefined -pthread "$OUT"/state-obj/*.o -o "$OUT/state_fuzz"
RINGLLM_FUZZ_MODEL="$MODEL" RINGLLM_FUZZ_SEEDS="$OUT/state-corpus" "$OUT/state_fuzz" -runs=0 "$OUT/state-corpus" >/dev/null 2>&1 || true
set +e
RINGLLM_FUZZ_MODEL="$MODEL" "$OUT/state_fuzz" "$OUT/state-corpus" -max_total_time="$STATE_SECONDS" -max_len=300000 -timeout=20 \
  -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$OUT/state-" 2>&1 | tee "$OUT/state-fuzz.log" |
  grep -E "^(#[0-9]+ +DONE|stat::number|==[0-9]+==ERROR|SUMMARY|state_fuzz:|artifact_prefix|Test unit)"
rc=${PIPESTATUS[0]}
set -e
execs=$(grep -E "^stat::number_of_executed_units" "$OUT/state-fuzz.log" | awk '{print $2}')
echo "state fuzz: ${execs:-0} executions in ${STATE_SECONDS} s, exit status $rc"
exit "$rc"
