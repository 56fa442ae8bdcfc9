// Writes small valid GGUF files as the fuzzer's seed corpus: `npx tsx scripts/make-fuzz-seeds.ts <dir>`.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { addSpmVocab, makeSpmVocab } from "./gguf/llama-model";
import { GgufValueType as T } from "./gguf/types";
import { ggufArray, GgufWriter } from "./gguf/writer";

const out = process.argv[2];
if (!out) {
  console.error("usage: make-fuzz-seeds <dir>");
  process.exit(2);
}
mkdirSync(out, { recursive: true });

const seeds: Record<string, GgufWriter> = {};

const all = new GgufWriter();
all.addString("general.architecture", "llama").addU8("a", 1).addI8("b", -1).addU16("c", 2).addI16("d", -2);
all.addU32("e", 3).addI32("f", -3).addF32("g", 0.5).addBool("h", true).addU64("i", 2n ** 40n).addI64("j", -5);
all.addF64("k", 0.25).addArray("l", T.STRING, ["x", "yy"]).addArray("m", T.FLOAT32, [1, 2]);
all.addArray("n", T.ARRAY, [ggufArray(T.INT32, [1, 2]), ggufArray(T.INT32, [])]);
all.addTensorF32("t0", [32, 2], new Float32Array(64).fill(0.5));
all.addTensorF32("t1", [32], new Float32Array(32).fill(1), "Q8_0");
seeds["all-types-v3"] = all;

const v2 = new GgufWriter({ version: 2, alignment: 64 });
v2.addString("general.architecture", "llama").addTensorF32("w", [4], new Float32Array([1, 2, 3, 4]));
seeds["v2-align64"] = v2;

const k = new GgufWriter();
k.addTensorF32("q4k", [256], new Float32Array(256).fill(0.1), "Q4_K");
k.addTensorF32("q6k", [256], new Float32Array(256).fill(-0.1), "Q6_K");
seeds["kquants"] = k;

seeds["empty"] = new GgufWriter();

// Tokenizer metadata without tensors, so the fuzzer reaches the vocabulary loader and tokenizers.
const spm = makeSpmVocab(300);
const spmSeed = new GgufWriter();
addSpmVocab(spmSeed, spm);
seeds["vocab-spm"] = spmSeed;

const bpeSeed = new GgufWriter();
bpeSeed.addString("tokenizer.ggml.model", "gpt2").addString("tokenizer.ggml.pre", "llama-bpe");
bpeSeed.addArray("tokenizer.ggml.tokens", T.STRING, ["H", "e", "l", "o", "He", "ll", "Hell", "Hello", "\u0120", "<|end|>"]);
bpeSeed.addArray("tokenizer.ggml.merges", T.STRING, ["H e", "l l", "He ll", "Hell o"]);
bpeSeed.addArray("tokenizer.ggml.token_type", T.INT32, [1, 1, 1, 1, 1, 1, 1, 1, 1, 3]);
seeds["vocab-bpe"] = bpeSeed;

const wpmSeed = new GgufWriter();
wpmSeed.addString("tokenizer.ggml.model", "bert");
wpmSeed.addArray("tokenizer.ggml.tokens", T.STRING, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "\u2581hello", "s"]);
wpmSeed.addArray("tokenizer.ggml.token_type", T.INT32, [3, 2, 3, 3, 1, 1]);
seeds["vocab-wpm"] = wpmSeed;

for (const [name, w] of Object.entries(seeds)) writeFileSync(join(out, `${name}.gguf`), w.serialize().bytes);
console.log(`wrote ${Object.keys(seeds).length} seeds to ${out}`);
