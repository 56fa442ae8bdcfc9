// Flash-decoding (LONG_CONTEXT.md section 5) through the API: a single token's attention split over
// any number of KV ranges gives the same logits, including splits that do not divide the keys,
// more splits than keys (empty ranges weigh nothing, not NaN), a ring that wraps, sinks and q8_0.
import { Model } from "../../lib";
import { tempDir } from "../helpers";
import { decodeAll, makeModel, randomTokens } from "./fixtures";
import { maxRelError } from "./reference";

const V = 300;
// Merging partial softmaxes reassociates sums only (measured <= 3e-6). One layer on purpose: with two,
// a 1e-7 difference in layer 0's output can flip the f16 rounding of a layer-1 K/V element, which
// moves the logits of the next W positions by up to 8e-5 (seen with window 20, splits 2 and 3).
const TIGHT = 2e-5;

let dir: { path: string; cleanup(): void };
let model: Model;
beforeAll(async () => {
  dir = tempDir("ringllm-kvsplit-");
  // head_dim 32 so q8_0 is allowed
  model = (await makeModel(dir.path, "split", { nLayer: 1, nEmbd: 64, nHead: 2, nHeadKv: 1, nFf: 96, seed: 81 })).model;
});
afterAll(async () => {
  await model?.close();
  dir.cleanup();
});

const toks = randomTokens(90, V, 81);
const CASES = [
  ["full", { contextSize: 128, kv: { policy: "full" as const } }],
  ["window 20 (wrapping ring)", { contextSize: Infinity, kv: { policy: "window" as const, window: 20 } }],
  ["sinks 3 + 17", { contextSize: Infinity, kv: { policy: "sinks" as const, sinks: 3, recent: 17 } }],
  ["full, q8_0", { contextSize: 128, kv: { policy: "full" as const, type: "q8_0" as const } }],
] as const;

test.each(CASES)("%s: token-by-token logits do not depend on the number of splits", async (label, opts) => {
  const one = await model.createContext({ ...opts, attentionSplits: 1 });
  const base = await decodeAll(one, toks, 1);
  await one.close();
  let worst = 0;
  for (const attentionSplits of [2, 3, 7, 64, 256, 0]) {
    const ctx = await model.createContext({ ...opts, attentionSplits, threads: 2 });
    const out = await decodeAll(ctx, toks, 1);
    await ctx.close();
    expect(out.every(Number.isFinite)).toBe(true);
    worst = Math.max(worst, maxRelError(out, base, V));
  }
  console.log(`kv attention splits 2..256 vs 1, ${label}: ${worst.toExponential(2)}`);
  expect(worst).toBeLessThan(TIGHT);
});
