// Perplexity over a long text under KV policies (LONG_CONTEXT.md section 8, after StreamingLLM's
// table): dense attention past the training length, a plain window that evicts the first tokens,
// 4 attention sinks + a window, and recall (issue 18) at the sinks' attention budget. stories260K was trained on 512-token sequences.
//
// The text is sampled from the model itself (temperature 1, seeded, with sinks 4 + 252 so the
// context never fills), then scored teacher-forced under each policy.
//
// stories260K ends stories with BOS/EOS and starts new ones with BOS: such a token inside the window
// acts as a sink by itself, so plain window eviction only breaks down when the text has none
// (--one-text bans BOS and EOS while sampling: one unbroken text).
//
// Usage: npx tsx scripts/long-context-ppl.ts [--tokens 20000] [--seed 1] [--one-text] [--skip-dense]
//        [--model PATH] [--threads N]

import { resolve } from "node:path";

import { Context, ContextOptions, loadModel, Model } from "../lib";
import { mulberry32 } from "./gguf/rng";

const ROOT = resolve(__dirname, "..");
const TRAINED = 512; // stories260K's training sequence length (its GGUF says 2048)
const CHUNK = 512;

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

function logSoftmaxAt(logits: Float32Array, off: number, n: number, id: number): number {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[off + i]);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(logits[off + i] - max);
  return logits[off + id] - max - Math.log(sum);
}

/** `count` tokens after BOS + prompt, sampled at temperature 1 from the full distribution. */
async function sampleText(model: Model, count: number, seed: number, threads: number | undefined, banned: number[]): Promise<number[]> {
  const ctx = await model.createContext({ contextSize: Infinity, threads, kv: { policy: "sinks", sinks: 4, recent: 252 } });
  const random = mulberry32(seed);
  const tokens = Array.from(model.tokenize("Once upon a time", { addSpecial: true }));
  const n = model.vocab.size;
  let logits = await ctx.decode(tokens);
  while (tokens.length < count) {
    for (const id of banned) logits[id] = -Infinity;
    let max = -Infinity;
    for (let i = 0; i < n; i++) max = Math.max(max, logits[i]);
    let sum = 0;
    const p = new Float64Array(n);
    for (let i = 0; i < n; i++) sum += p[i] = Math.exp(logits[i] - max);
    let u = random() * sum, id = n - 1;
    for (let i = 0; i < n; i++) {
      u -= p[i];
      if (u < 0) { id = i; break; }
    }
    tokens.push(id);
    logits = await ctx.decode([id]);
  }
  await ctx.close();
  return tokens;
}

/** Teacher-forced negative log-likelihood of tokens[1..] (per position), decoding in chunks. */
async function nll(ctx: Context, tokens: number[], vocab: number): Promise<Float64Array> {
  const out = new Float64Array(tokens.length - 1);
  for (let i = 0; i < tokens.length - 1; i += CHUNK) {
    const chunk = tokens.slice(i, Math.min(i + CHUNK, tokens.length - 1));
    const logits = await ctx.decode(chunk, { logits: "all" });
    for (let j = 0; j < chunk.length; j++) out[i + j] = -logSoftmaxAt(logits, j * vocab, vocab, tokens[i + j + 1]);
  }
  return out;
}

function ppl(x: Float64Array, from = 0, to = x.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i];
  return Math.exp(s / (to - from));
}

async function main(): Promise<void> {
  const count = Number(arg("tokens", "20000"));
  const seed = Number(arg("seed", "1"));
  const threads = process.argv.includes("--threads") ? Number(arg("threads", "0")) : undefined;
  const path = resolve(arg("model", resolve(ROOT, "..", "shared", "models", "stories260K.gguf")));
  const model = await loadModel(path);
  const vocab = model.vocab.size;

  const oneText = process.argv.includes("--one-text");
  const specials = [model.vocab.bos, model.vocab.eos].filter((x): x is number => x !== null);
  let t0 = Date.now();
  const tokens = await sampleText(model, count, seed, threads, oneText ? specials : []);
  const inside = tokens.slice(1).filter((t) => specials.includes(t)).length;
  console.log(
    `sampled ${tokens.length} tokens (seed ${seed}, temperature 1, sinks 4 + 252${oneText ? ", BOS/EOS banned" : ""}) in ` +
      `${((Date.now() - t0) / 1000).toFixed(1)} s; BOS/EOS after the first token: ${inside}`,
  );
  console.log(`text starts: ${JSON.stringify(model.detokenize(tokens.slice(0, 40), { removeSpecial: true }))}`);

  const runs: [string, ContextOptions][] = [
    ["dense (full, contextSize " + count + ")", { contextSize: count, kv: { policy: "full" } }],
    ["window 256 (no sinks)", { contextSize: Infinity, kv: { policy: "window", window: 256 } }],
    ["sinks 4 + recent 252", { contextSize: Infinity, kv: { policy: "sinks", sinks: 4, recent: 252 } }],
    // recall at the same attention budget: 4 sinks + tail (R recent, <= R + 31 with its block) + K blocks of 32 <= 256 keys,
    // from more blocks to more recent tokens
    ["recall remap 4+92+4x32", { contextSize: Infinity, kv: { policy: "recall", sinks: 4, recent: 92, blockSize: 32, topBlocks: 4 } }],
    ["recall remap 4+157+2x32", { contextSize: Infinity, kv: { policy: "recall", sinks: 4, recent: 157, blockSize: 32, topBlocks: 2 } }],
    ["recall remap 4+189+1x32", { contextSize: Infinity, kv: { policy: "recall", sinks: 4, recent: 189, blockSize: 32, topBlocks: 1 } }],
    ["recall remap 4+125+3x32", { contextSize: Infinity, kv: { policy: "recall", sinks: 4, recent: 125, blockSize: 32, topBlocks: 3 } }],
    ["recall absolute 4+92+4x32", { contextSize: Infinity, kv: { policy: "recall", sinks: 4, recent: 92, blockSize: 32, topBlocks: 4, positions: "absolute" } }],
  ];
  for (const [label, opts] of process.argv.includes("--skip-dense") ? runs.slice(1) : runs) {
    t0 = Date.now();
    const ctx = await model.createContext({ ...opts, threads });
    const x = await nll(ctx, tokens, vocab);
    await ctx.close();
    const secs = (Date.now() - t0) / 1000;
    console.log(
      `${label.padEnd(32)} ppl all ${ppl(x).toFixed(3).padStart(10)}   first ${TRAINED} ${ppl(x, 0, TRAINED - 1).toFixed(3).padStart(8)}` +
        `   past ${TRAINED} ${ppl(x, TRAINED - 1).toFixed(3).padStart(10)}   last 1000 ${ppl(x, x.length - 1000).toFixed(3).padStart(10)}   ${secs.toFixed(1)} s`,
    );
  }
  await model.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
