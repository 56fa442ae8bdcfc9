// Concurrent sequences: aggregate generated tokens/s of N sequences decoding at the same time, ringllm
// (contexts batched into shared forward passes) against llama.cpp (node-llama-cpp: N sequences of one
// context, evaluated concurrently, which llama.cpp batches into one llama_decode per step), and each
// against its own single sequence. Engines alternated and repeated; greedy; each sequence gets its
// own random prompt and generates --tokens tokens.
//
//   node bench/batching.mjs [--model file.gguf] [--sequences 8] [--tokens 48] [--prompt 16] [--repeats 3] [--threads 2]
//
// Default model: TinyLlama-shaped Q4_0 from ~/.cache/ringllm-bench (written by `npm run bench`).
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { median, randomTokens } from "./common.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const r = require(join(ROOT, "dist", "cjs", "index.js"));
r.setLogger(null);
const { values: args } = parseArgs({
  options: {
    model: { type: "string" }, sequences: { type: "string", default: "8" }, tokens: { type: "string", default: "48" },
    prompt: { type: "string", default: "16" }, repeats: { type: "string", default: "3" }, threads: { type: "string", default: "2" },
  },
});
const N = Number(args.sequences), TOKENS = Number(args.tokens), PROMPT = Number(args.prompt);
const REPEATS = Number(args.repeats), THREADS = Number(args.threads);
const file = args.model ?? join(homedir(), ".cache", "ringllm-bench", "tinyllama-Q4_0.gguf");
if (!existsSync(file)) {
  console.error(`${file} is missing: run npm run bench -- --models tinyllama --types Q4_0 once (it writes it), or pass --model`);
  process.exit(2);
}

const model = await r.loadModel(file);
const vocab = model.vocab.size;
const prompts = Array.from({ length: N }, (_, i) => Array.from(randomTokens(PROMPT, Math.min(vocab, 32000), 100 + i)));

// ringllm: one context per sequence (batched by default); generation = decode prompt, then TOKENS steps
const ctxs = await Promise.all(prompts.map(() => model.createContext({ contextSize: 256, threads: THREADS })));
async function ours(n) {
  await Promise.all(ctxs.slice(0, n).map((c) => c.reset()));
  const t0 = performance.now();
  const counts = await Promise.all(ctxs.slice(0, n).map(async (c, i) => {
    let k = 0;
    for await (const _ of c.generate(prompts[i], { maxTokens: TOKENS, temperature: 0, stop: [] })) k++;
    return k;
  }));
  return counts.reduce((a, b) => a + b, 0) / ((performance.now() - t0) / 1000);
}

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const lmodel = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
const lctx = await lmodel.createContext({ contextSize: 256 * N, sequences: N, threads: THREADS, batchSize: 512 });
const seqs = Array.from({ length: N }, () => lctx.getSequence());
async function theirs(n) {
  for (const s of seqs.slice(0, n)) await s.clearHistory();
  const t0 = performance.now();
  const counts = await Promise.all(seqs.slice(0, n).map(async (s, i) => {
    let k = 0;
    for await (const _ of s.evaluate(prompts[i], { temperature: 0 })) if (++k >= TOKENS) break;
    return k;
  }));
  return counts.reduce((a, b) => a + b, 0) / ((performance.now() - t0) / 1000);
}

await ours(N);
await theirs(N);
const res = { ours1: [], oursN: [], theirs1: [], theirsN: [] };
for (let i = 0; i < REPEATS; i++) {
  res.ours1.push(await ours(1));
  res.theirs1.push(await theirs(1));
  res.oursN.push(await ours(N));
  res.theirsN.push(await theirs(N));
}
const m = Object.fromEntries(Object.entries(res).map(([k, v]) => [k, median(v)]));
const stats = ctxs[0].stats().batch;
console.log(JSON.stringify({
  model: file, sequences: N, promptTokens: PROMPT, tokensEach: TOKENS, threads: THREADS,
  tokPerS: { ringllm1: m.ours1, ringllmN: m.oursN, llamaCpp1: m.theirs1, llamaCppN: m.theirsN },
  ratios: { ringllmNover1: m.oursN / m.ours1, llamaCppNover1: m.theirsN / m.theirs1, ringllmNoverLlamaCppN: m.oursN / m.theirsN },
  // every sequence's prompt and all but its last generated token go through the forward pass: the
  // rows/s the N-sequence runs processed (compare with the matmul ceiling: bench-kernels gemm GFLOP/s
  // / 2 flops per weight / the model's weights)
  ringllmNrowsPerS: m.oursN * (PROMPT + TOKENS - 1) / TOKENS,
  batcher: { meanSequences: stats.meanSequences, maxSequences: stats.maxSequences },
  runs: res,
}, null, 2));
for (const c of ctxs) await c.close();
await lctx.dispose();
await lmodel.dispose();
await model.close();
