// Embedding throughput, ringllm against llama.cpp (node-llama-cpp createEmbeddingContext) on the
// same GGUF file, alternated and repeated; also the cosine similarity of their vectors.
//
//   node bench/embed.mjs [--model file.gguf | --bert] [--texts 64] [--repeats 3] [--threads 2]
//
// Default model: the "small" shape of long-context.mjs (4 layers, dim 512, Q8_0, vocab 32,000;
// written once to ~/.cache/ringllm-bench), pooling "last" (what llama.cpp does when the file names
// no pooling type). --bert: a BGE-small-shaped BERT (12 layers, dim 384, 12 heads, FFN 1536, 512
// positions, F16, CLS pooling; written once with scripts/make-model.ts --arch bert). Both engines
// pool as the file says.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { median } from "./common.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const r = require(join(ROOT, "dist", "cjs", "index.js"));
r.setLogger(null);
const { values: args } = parseArgs({ options: { model: { type: "string" }, texts: { type: "string", default: "64" }, repeats: { type: "string", default: "3" }, threads: { type: "string", default: "2" }, bert: { type: "boolean" } } });
const N = Number(args.texts), REPEATS = Number(args.repeats), THREADS = Number(args.threads);
let file = args.model;
if (!file && args.bert) {
  file = join(homedir(), ".cache", "ringllm-bench", "bge-small-shape-l12-d384-F16.gguf");
  if (!existsSync(file)) {
    const r = spawnSync("npx", ["tsx", join(ROOT, "scripts", "make-model.ts"), "--out", file, "--arch", "bert", "--layers", "12", "--dim", "384",
      "--heads", "12", "--ffn", "1536", "--ctx", "512", "--type", "F16", "--pooling", "2", "--seed", "7"], { stdio: "inherit", cwd: ROOT });
    if (r.status !== 0) process.exit(2);
  }
}
if (!file) {
  file = join(homedir(), ".cache", "ringllm-bench", "small-l4-d512-h8-kv2-ffn1408-v32000-Q8_0.gguf");
  if (!existsSync(file)) {
    console.error(`${file} is missing: run node bench/long-context.mjs --only prefill once (it writes it), or pass --model`);
    process.exit(2);
  }
}
const words = "the a cat dog runs over under bright dark river stone quickly slowly sings of in light".split(" ");
const texts = Array.from({ length: N }, (_, i) => Array.from({ length: 8 + ((i * 7) % 40) }, (_, j) => words[(i * 13 + j * 5) % words.length]).join(" "));

const model = await r.loadModel(file);
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const lmodel = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
const lctx = await lmodel.createEmbeddingContext({ contextSize: 256, threads: THREADS });
// llama.cpp pools as the file's pooling_type says, else by the last token
const pooling = model.metadata[`${model.architecture}.pooling_type`] !== undefined ? model.poolingType : "last";

const ours = async () => {
  const t0 = performance.now();
  const v = await model.embed(texts, { pooling, threads: THREADS });
  return { s: (performance.now() - t0) / 1000, v };
};
const theirs = async () => {
  const t0 = performance.now();
  const v = [];
  for (const t of texts) v.push((await lctx.getEmbeddingFor(t)).vector);
  return { s: (performance.now() - t0) / 1000, v };
};
await ours();
await theirs();
const a = [], b = [];
let va, vb;
for (let i = 0; i < REPEATS; i++) {
  const x = await ours(); a.push(N / x.s); va = x.v;
  const y = await theirs(); b.push(N / y.s); vb = y.v;
}
const cos = va.map((v, i) => {
  let d = 0, n1 = 0, n2 = 0;
  for (let k = 0; k < v.length; k++) { d += v[k] * vb[i][k]; n1 += v[k] * v[k]; n2 += vb[i][k] * vb[i][k]; }
  return d / Math.sqrt(n1 * n2);
});
const report = {
  model: file, texts: N, tokensPerText: [Math.min(...texts.map((t) => model.tokenize(t, { addSpecial: true }).length)), Math.max(...texts.map((t) => model.tokenize(t, { addSpecial: true }).length))],
  threads: THREADS, pooling,
  ringllmTextsPerS: median(a), llamaCppTextsPerS: median(b), ratio: median(a) / median(b),
  runs: { ringllm: a, llamaCpp: b },
  minCosine: Math.min(...cos),
};
console.log(JSON.stringify(report, null, 2));
await lctx.dispose();
await lmodel.dispose();
await model.close();
