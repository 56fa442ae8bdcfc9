// Bounded memory (LONG_CONTEXT.md sections 3 and 8): 1,000,000 tokens stream through a window
// context and a sinks context with a constant KV size and flat RSS.
import { Model } from "../../lib";
import { tempDir } from "../helpers";
import { makeModel, randomTokens } from "./fixtures";

const TOTAL = 1_000_000;
const CHUNK = 4096;
const WARMUP = 16 * CHUNK;
const RSS_GROWTH_LIMIT = 16 * 2 ** 20;
// One layer keeps it quick: measured ~10 s (window) and ~12 s (sinks) per 1M tokens on 2 cores.

let dir: { path: string; cleanup(): void };
let model: Model;
beforeAll(async () => {
  dir = tempDir("ringllm-kvmem-");
  model = (await makeModel(dir.path, "tiny", { nLayer: 1, nEmbd: 32, nHead: 4, nHeadKv: 2, nFf: 32, nVocab: 300, seed: 71 })).model;
});
afterAll(async () => {
  await model?.close();
  dir.cleanup();
});

test.each([
  ["window 16", { policy: "window" as const, window: 16 }],
  ["sinks 4 + 12", { policy: "sinks" as const, sinks: 4, recent: 12 }],
])("%s: 1M tokens in chunks of 4096, constant kvBytes, RSS growth under 16 MB", async (label, kv) => {
  const ctx = await model.createContext({ contextSize: Infinity, batchSize: 512, kv });
  const chunk = randomTokens(CHUNK, 300, 72);
  const kvBytes = ctx.stats().kvBytes;
  const t0 = Date.now();
  let rss0 = 0;
  let n = 0;
  while (n < TOTAL) {
    const len = Math.min(CHUNK, TOTAL - n);
    const logits = await ctx.decode(len === CHUNK ? chunk : chunk.slice(0, len));
    n += len;
    if (n === WARMUP) rss0 = process.memoryUsage().rss;
    if (n % (64 * CHUNK) === 0) {
      expect(ctx.stats().kvBytes).toBe(kvBytes);
      expect(Number.isFinite(logits[0])).toBe(true);
    }
  }
  const rss1 = process.memoryUsage().rss;
  const st = ctx.stats();
  console.log(
    `kv memory, ${label}: ${TOTAL} tokens in ${((Date.now() - t0) / 1000).toFixed(1)} s, kvBytes ${kvBytes}, ` +
      `RSS growth after warm-up ${((rss1 - rss0) / 2 ** 20).toFixed(2)} MiB`,
  );
  expect(st.tokensProcessed).toBe(TOTAL);
  expect(ctx.position).toBe(TOTAL);
  expect(st.kvBytes).toBe(kvBytes);
  expect(st.layers.every((l) => l.held === l.capacity)).toBe(true);
  expect(rss1 - rss0).toBeLessThan(RSS_GROWTH_LIMIT);
  if (kv.policy === "sinks") {
    const held = ctx.kvSlots(0, 1).positions.filter((p) => p >= 0).sort((a, b) => a - b);
    expect(held).toEqual([0, 1, 2, 3, ...Array.from({ length: 12 }, (_, i) => TOTAL - 12 + i)]);
  }
  await ctx.close();
}, 120_000);
