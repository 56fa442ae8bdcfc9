// Attention sinks (StreamingLLM, LONG_CONTEXT.md section 3): dense until the cache fills, then the
// reference's sinks-plus-recent attention with positions assigned inside the cache; the first S
// positions never leave; the cache never holds more than S + R tokens.
import { Model } from "../../lib";
import { tempDir } from "../helpers";
import { decodeAll, Fixture, makeModel, randomTokens, TOL_F16KV } from "./fixtures";
import { maxRelError, referenceForward } from "./reference";

const S = 4, R = 12;
const V = 300;

let dir: { path: string; cleanup(): void };
const models: Model[] = [];
let f: Fixture;
beforeAll(async () => {
  dir = tempDir("ringllm-kvsinks-");
  f = await makeModel(dir.path, "sinks", { nLayer: 3, nHeadKv: 2, seed: 31 });
  models.push(f.model);
});
afterAll(async () => {
  await Promise.all(models.map((m) => m.close()));
  dir.cleanup();
});

const toks = randomTokens(70, V, 31);

test("before the first eviction (S + R tokens) sinks give exactly the full cache's logits", async () => {
  const sinks = await f.model.createContext({ contextSize: Infinity, kv: { policy: "sinks", sinks: S, recent: R } });
  const full = await f.model.createContext({ contextSize: 128, kv: { policy: "full" } });
  expect(await decodeAll(sinks, toks.slice(0, S + R))).toEqual(await decodeAll(full, toks.slice(0, S + R)));
  await Promise.all([sinks.reset(), full.reset()]);
  expect(await decodeAll(sinks, toks.slice(0, S + R), 1)).toEqual(await decodeAll(full, toks.slice(0, S + R), 1));
  await Promise.all([sinks.close(), full.close()]);
});

test.each([
  ["token by token", 1, undefined],
  ["one call", 70, undefined],
  ["calls of 9, batchSize 5", 9, 5],
  ["one call, batchSize 16 (= S + R)", 70, 16],
])("after eviction, %s: logits equal the reference's pre-RoPE re-rotated sinks", async (label, chunk, batchSize) => {
  const ctx = await f.model.createContext({ contextSize: Infinity, batchSize, kv: { policy: "sinks", sinks: S, recent: R } });
  const r = await decodeAll(ctx, toks, chunk);
  const ref = referenceForward(f.ref, toks, { policy: { kind: "sinks", sinks: S, recent: R }, f16Kv: true }).logits;
  const err = maxRelError(r, ref, V);
  console.log(`kv sinks ${S}+${R}, ${label}: engine vs reference ${err.toExponential(2)}`);
  expect(err).toBeLessThan(TOL_F16KV);
  // and eviction matters: dense attention differs after S + R tokens
  const dense = referenceForward(f.ref, toks, { policy: { kind: "full" }, f16Kv: true }).logits;
  expect(maxRelError(r.subarray(40 * V), dense.subarray(40 * V), V)).toBeGreaterThan(1e-2);
  await ctx.close();
});

test("the sinks 0..S-1 are always held, with the last R positions; held <= S + R", async () => {
  const ctx = await f.model.createContext({ contextSize: Infinity, batchSize: 7, kv: { policy: "sinks", sinks: S, recent: R } });
  let n = 0;
  for (const chunk of [1, 2, 3, 10, 1, 1, 20, 5, 27]) {
    await ctx.decode(toks.slice(n, n + chunk));
    n += chunk;
    const st = ctx.stats();
    expect(st.tokensProcessed).toBe(n);
    for (let layer = 0; layer < 3; layer++) {
      expect(st.layers[layer]).toMatchObject({ policy: "sinks", capacity: S + R, held: Math.min(n, S + R), sinks: S, recent: R });
      for (let kvHead = 0; kvHead < 2; kvHead++) {
        const { positions, scores } = ctx.kvSlots(layer, kvHead);
        expect(scores).toBeNull();
        expect(positions.length).toBe(S + R);
        const held = positions.filter((p) => p >= 0).sort((a, b) => a - b);
        const expected = [...Array(n).keys()].filter((p) => p < S || p >= n - R);
        expect(held).toEqual(expected);
      }
    }
  }
  await ctx.close();
});

test("defaults: 4 sinks; recent = min(contextSize, trained context 256) - sinks", async () => {
  const a = await f.model.createContext({ contextSize: 64, kv: { policy: "sinks" } });
  expect(a.stats().layers[0]).toMatchObject({ policy: "sinks", sinks: 4, recent: 60, capacity: 64 });
  const b = await f.model.createContext({ contextSize: Infinity, kv: { policy: "sinks" } });
  expect(b.stats().layers[0]).toMatchObject({ policy: "sinks", sinks: 4, recent: 252, capacity: 256 });
  const c = await f.model.createContext({ contextSize: Infinity, kv: { policy: "sinks", sinks: 1, recent: 7 } });
  expect(c.stats().layers[0]).toMatchObject({ sinks: 1, recent: 7, capacity: 8 });
  await Promise.all([a.close(), b.close(), c.close()]);
});

test("a sinks context keeps going past contextSize tokens: contextSize bounds the cache, not the stream", async () => {
  const ctx = await f.model.createContext({ contextSize: 16, kv: { policy: "sinks", sinks: 2 } });
  const r = await decodeAll(ctx, toks, 5);
  expect(ctx.position).toBe(70);
  const ref = referenceForward(f.ref, toks, { policy: { kind: "sinks", sinks: 2, recent: 14 }, f16Kv: true }).logits;
  expect(maxRelError(r, ref, V)).toBeLessThan(TOL_F16KV);
  await ctx.close();
});
