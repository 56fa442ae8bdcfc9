// Writes small valid GGUF files as the fuzzer's seed corpus: `npx tsx scripts/make-fuzz-seeds.ts <dir>`.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

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

for (const [name, w] of Object.entries(seeds)) writeFileSync(join(out, `${name}.gguf`), w.serialize().bytes);
console.log(`wrote ${Object.keys(seeds).length} seeds to ${out}`);
