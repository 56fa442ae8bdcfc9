#!/usr/bin/env bash
# Builds the GGUF parser fuzz target with clang (libFuzzer + ASan + UBSan) and runs it for a
# bounded time: `npm run fuzz -- [seconds]` (default 60). Installs clang from Debian when absent.
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
exit "$rc"
