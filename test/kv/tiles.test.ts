// Tiled flash attention (kv/attention.h): key tiles are aligned to absolute positions and every
// score and output is one fused multiply-add chain in a fixed order, so a position's logits do not
// depend on how the prompt is chunked — token by token, one call, or batches that cut tiles and
// ring boundaries anywhere give the same bits — nor on the policy that stored the rows (a window ring
// equals a full cache with the same window mask). Sequences long enough to span several 32-key
// tiles and several 16-position query blocks, with head sizes that are not vector multiples.
import { decodeAll, fixtureSuite, randomTokens } from "./fixtures";

const V = 300;
const fixture = fixtureSuite("ringllm-kvtiles-");

const POLICIES = [
  ["full", { contextSize: 256, kv: { policy: "full" as const } }],
  ["window 40 (a ring that wraps)", { contextSize: Infinity, kv: { policy: "window" as const, window: 40 } }],
  ["sinks 4 + 45, past eviction", { contextSize: Infinity, kv: { policy: "sinks" as const, sinks: 4, recent: 45 } }],
  ["full, q8_0", { contextSize: 256, kv: { policy: "full" as const, type: "q8_0" as const } }],
] as const;

describe.each(POLICIES)("%s", (label, opts) => {
  test("token by token = one call = batches of 7, 16 and 33 = calls of 13, bit for bit", async () => {
    // head_dim 32 (q8_0 allowed), GQA 3:1, 2 layers
    const f = await fixture(`tiles-${label.replace(/[^a-z0-9]+/g, "-")}`, {
      nLayer: 2, nEmbd: 96, nHead: 3, nHeadKv: 1, nFf: 128, seed: 91,
    });
    const toks = randomTokens(150, V, 91);
    // attentionSplits 1: a single token's attention is not split into merged ranges (that changes
    // the summation order; splits.test.ts bounds it)
    const run = async (batchSize: number, chunk: number, threads = 1) => {
      const ctx = await f.model.createContext({ ...opts, attentionSplits: 1, batchSize, threads });
      const out = await decodeAll(ctx, toks, chunk);
      await ctx.close();
      return out;
    };
    const stepwise = await run(512, 1);
    expect(stepwise.every(Number.isFinite)).toBe(true);
    expect(await run(512, toks.length)).toEqual(stepwise);
    expect(await run(512, toks.length, 2)).toEqual(stepwise);
    for (const batchSize of [7, 16, 33]) expect(await run(batchSize, toks.length)).toEqual(stepwise);
    expect(await run(512, 13, 2)).toEqual(stepwise);
  });
});

test("a window ring equals the full cache of a model trained with that window, past the wrap, bit for bit", async () => {
  const f = await fixture("tiles-swa", { nLayer: 2, nEmbd: 64, nHead: 4, nHeadKv: 2, nFf: 96, slidingWindow: 37, seed: 92 });
  const toks = randomTokens(140, V, 92);
  const ring = await f.model.createContext({ contextSize: Infinity, kv: { policy: "window" }, batchSize: 20 });
  const full = await f.model.createContext({ contextSize: 256, kv: { policy: "full" } });
  expect(ring.stats().layers[0]).toMatchObject({ policy: "window", capacity: 37 });
  expect(await decodeAll(ring, toks, 50)).toEqual(await decodeAll(full, toks));
  await Promise.all([ring.close(), full.close()]);
});
