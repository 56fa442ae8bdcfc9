#!/usr/bin/env node
// Passkey recall by KV policy (issue 18; README "Long context"). On the passkey model trained by
// scripts/train-recall.py (models/ringllm-recall-passkey.gguf: random filler words, fact tokens
// `K=V`, `ask K` answered by V; trained on 128-token sequences with full attention), one fact at a
// distance of 1x, 4x, 16x and 64x the recent window from the question (plus 3 distractor facts
// about other keys, anywhere before the question), `--trials` trials each. A trial is right when
// the argmax over the value tokens of the logits after `ask K` is V (chance: 1/64).
// Policies at about the same attention budget (~100 keys): window 100, sinks 4 + 96, h2o 48 heavy +
// 52 recent, recall 4 sinks + 32 recent + 1 block of 32 (tail <= 63: <= 99 keys) remap and absolute;
// full (every token, where the position fits: it is past the trained 128 beyond 1x).
// Reports accuracy, attention keys per step (the most one query attended), decode tok/s (median of
// --steps single-token decodes after the 64x prefill) and store bytes (recall's evicted rows).
// Usage: node bench/recall.mjs [--trials 200] [--threads 1] [--steps 64] [--model FILE] [--json FILE]
// Needs `npm run build:ts` and an addon (build-cmake/Release/ringllm.node, or RINGLLM_NATIVE).
import { createRequire } from "node:module";
import { existsSync, writeFileSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const { values } = parseArgs({
  options: {
    trials: { type: "string", default: "200" },
    threads: { type: "string", default: "1" },
    steps: { type: "string", default: "64" },
    model: { type: "string", default: join(root, "models", "ringllm-recall-passkey.gguf") },
    json: { type: "string" },
  },
});
if (!process.env.RINGLLM_NATIVE && existsSync(join(root, "build-cmake", "Release", "ringllm.node"))) {
  process.env.RINGLLM_NATIVE = join(root, "build-cmake", "Release", "ringllm.node");
}
const require = createRequire(import.meta.url);
const { loadModel, setLogger } = require(join(root, "dist", "cjs", "index.js"));

// the vocabulary of scripts/train-recall.py
const N_KEYS = 64, N_VALUES = 64, N_FILLER = 128, ASK = 3, K0 = 4, V0 = K0 + N_KEYS, F0 = V0 + N_VALUES, P0 = F0 + N_FILLER;
const fact = (k, v) => P0 + k * N_VALUES + v;
const R = 32;
const DISTANCES = [1, 4, 16, 64].map((x) => x * R);
const POLICIES = [
  ["full", { policy: "full" }, (d) => d + 40 + Number(values.steps)],
  ["window", { policy: "window", window: 100 }],
  ["sinks", { policy: "sinks", sinks: 4, recent: 96 }],
  ["h2o", { policy: "h2o", heavy: 48, recent: 52 }],
  ["recall remap", { policy: "recall", sinks: 4, recent: R, blockSize: 32, topBlocks: 1, positions: "remap" }],
  ["recall absolute", { policy: "recall", sinks: 4, recent: R, blockSize: 32, topBlocks: 1, positions: "absolute" }],
];

function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

// BOS, filler, the fact (d tokens before the question's key), 3 distractor facts, `ask K`.
function trial(d, seed) {
  const r = rng(seed);
  const n = d + 40;
  const ids = [1];
  for (let i = 1; i < n; i++) ids.push(F0 + Math.floor(r() * N_FILLER));
  const keys = [];
  while (keys.length < 4) {
    const k = Math.floor(r() * N_KEYS);
    if (!keys.includes(k)) keys.push(k);
  }
  const value = Math.floor(r() * N_VALUES);
  const q = n - 1; // ids[q - 1] = ASK, ids[q] = K: the logits after K must name the value
  ids[q - d] = fact(keys[0], value);
  const used = new Set([q - d, q - 1, q]);
  for (const k of keys.slice(1)) {
    for (;;) {
      const s = 1 + Math.floor(r() * (q - 2));
      if (used.has(s)) continue;
      ids[s] = fact(k, Math.floor(r() * N_VALUES));
      used.add(s);
      break;
    }
  }
  ids[q - 1] = ASK; ids[q] = K0 + keys[0];
  return { ids, value };
}

function argmaxValue(logits) {
  let best = 0;
  for (let v = 1; v < N_VALUES; v++) if (logits[V0 + v] > logits[V0 + best]) best = v;
  return best;
}

setLogger(null);
const model = await loadModel(values.model, { gpu: false });
const trials = Number(values.trials), threads = Number(values.threads), steps = Number(values.steps);
const rows = [];
for (const [name, kv, fullSize] of POLICIES) {
  const row = { policy: name, accuracy: {}, attendedKeys: 0, decodeTokS: 0, storeBytes: 0 };
  for (const d of DISTANCES) {
    const ctx = await model.createContext({ contextSize: fullSize ? fullSize(d) : Infinity, threads, batching: false, kv });
    let right = 0;
    for (let t = 0; t < trials; t++) {
      const { ids, value } = trial(d, 1000 * d + t + 1);
      await ctx.reset();
      if (argmaxValue(await ctx.decode(ids)) === value) right++;
    }
    row.accuracy[d] = right / trials;
    if (d === DISTANCES.at(-1)) {
      const st = ctx.stats();
      row.storeBytes = st.storeBytes;
      const times = [];
      for (let i = 0; i < steps; i++) {
        const t0 = process.hrtime.bigint();
        await ctx.decode([F0 + (i % N_FILLER)]);
        times.push(Number(process.hrtime.bigint() - t0) / 1e9);
      }
      times.sort((a, b) => a - b);
      row.decodeTokS = 1 / times[Math.floor(times.length / 2)];
      const after = ctx.stats();
      row.attendedKeys = kv.policy === "recall" ? after.attendedKeys
        : kv.policy === "full" ? after.tokensProcessed
          : kv.policy === "window" ? kv.window : kv.policy === "sinks" ? kv.sinks + kv.recent : kv.heavy + kv.recent + 1;
    }
    await ctx.close();
    process.stderr.write(`${name} d=${d}: ${(100 * row.accuracy[d]).toFixed(1)}%\n`);
  }
  rows.push(row);
}
await model.close();

const head = `| policy | ${DISTANCES.map((d) => `${d / R}x (${d})`).join(" | ")} | keys/step | decode tok/s | store bytes |`;
console.log(`Passkey accuracy, ${trials} trials per distance, recent window ${R} (chance 1.6%), ${threads} thread(s)\n`);
console.log(head);
console.log(`|${"---|".repeat(DISTANCES.length + 4)}`);
for (const r of rows) {
  console.log(`| ${r.policy} | ${DISTANCES.map((d) => `${(100 * r.accuracy[d]).toFixed(1)}%`).join(" | ")} | ${r.attendedKeys} | ${Math.round(r.decodeTokS)} | ${r.storeBytes} |`);
}
if (values.json) writeFileSync(values.json, JSON.stringify({ trials, threads, recent: R, rows }, null, 2));
