// Sliding-window attention and the rolling-buffer cache (LONG_CONTEXT.md section 2): the window ring
// equals a full cache with a banded mask, equals the reference banded forward pass, and is
// independent of how the tokens are chunked; slot p mod W holds position p.
import { decodeAll, Fixture, fixtureSuite, randomTokens, TOL_F16KV } from "./fixtures";
import { layerPolicies, maxRelError, referenceForward } from "./reference";

// Window ring vs full cache + mask, and chunkings of the same ring: same kernels, different key
// order / chunk shapes, so only float reassociation separates them.
const TIGHT = 2e-5;

const fixture = fixtureSuite("ringllm-kvwin-");

test("n <= W: the window ring gives logits bit-identical to the full cache", async () => {
  const f = await fixture("w16", { nLayer: 3, slidingWindow: 16, seed: 21 });
  const toks = randomTokens(16, 300, 21);
  const ring = await f.model.createContext({ contextSize: 64, kv: { policy: "window" } });
  const full = await f.model.createContext({ contextSize: 64, kv: { policy: "full" } });
  const auto = await f.model.createContext({ contextSize: 64 });
  const a = await decodeAll(full, toks);
  expect(await decodeAll(ring, toks)).toEqual(a);
  expect(await decodeAll(auto, toks)).toEqual(a);
  // and token by token
  for (const c of [ring, full]) await c.reset();
  expect(await decodeAll(ring, toks, 1)).toEqual(await decodeAll(full, toks, 1));
  await Promise.all([ring.close(), full.close(), auto.close()]);
});

describe("4 layers, W = 8, 100 tokens: the ring equals the banded-mask forward pass at every position", () => {
  let f: Fixture;
  const toks = randomTokens(100, 300, 22);
  beforeAll(async () => { f = await fixture("w8", { nLayer: 4, nHeadKv: 2, slidingWindow: 8, seed: 22 }); });

  test.each([
    ["one call", 100],
    ["token by token", 1],
    ["calls of 7", 7],
  ])("%s: the ring matches the reference and the masked full cache", async (_label, chunk) => {
    const ring = await f.model.createContext({ contextSize: Infinity, kv: { policy: "window" } });
    const full = await f.model.createContext({ contextSize: 128, kv: { policy: "full" } });
    const r = await decodeAll(ring, toks, chunk);
    const m = await decodeAll(full, toks, chunk);
    const ref = referenceForward(f.ref, toks, { policy: layerPolicies(f.ref, { policy: "window" }), f16Kv: true }).logits;
    const errRef = maxRelError(r, ref, 300), errFull = maxRelError(r, m, 300);
    console.log(`kv window W=8 x4 layers, ${_label}: ring vs reference ${errRef.toExponential(2)}, ring vs masked full ${errFull.toExponential(2)}`);
    expect(errRef).toBeLessThan(TOL_F16KV);
    expect(errFull).toBeLessThan(TIGHT);
    // the window matters: through 4 layers the logits at t differ from full attention's
    const dense = referenceForward(f.ref, toks, { policy: { kind: "full" }, f16Kv: true }).logits;
    expect(maxRelError(r.subarray(50 * 300), dense.subarray(50 * 300), 300)).toBeGreaterThan(1e-2);
    await Promise.all([ring.close(), full.close()]);
  });

  test("a window policy on a model without a trained window applies W to every layer", async () => {
    const g = await fixture("nowin", { nLayer: 3, seed: 23 });
    const ctx = await g.model.createContext({ contextSize: Infinity, kv: { policy: "window", window: 6 } });
    const r = await decodeAll(ctx, toks.slice(0, 60), 13);
    const ref = referenceForward(g.ref, toks.slice(0, 60), { policy: { kind: "window", window: 6 }, f16Kv: true }).logits;
    expect(maxRelError(r, ref, 300)).toBeLessThan(TOL_F16KV);
    const st = ctx.stats();
    expect(st.layers.map((l) => [l.policy, l.capacity, l.held, l.window])).toEqual(Array(3).fill(["window", 6, 6, 6]));
    await ctx.close();
  });
});

test("token by token = one prefill = chunked prefill with batches smaller, equal to and larger than W = 4", async () => {
  const f = await fixture("w4", { nLayer: 3, nHeadKv: 4, slidingWindow: 4, seed: 24 });
  const toks = randomTokens(41, 300, 24);
  const run = async (batchSize: number | undefined, chunk: number) => {
    const ctx = await f.model.createContext({ contextSize: Infinity, batchSize, kv: { policy: "window" } });
    const out = await decodeAll(ctx, toks, chunk);
    await ctx.close();
    return out;
  };
  const stepwise = await run(undefined, 1);
  const ref = referenceForward(f.ref, toks, { policy: { kind: "window", window: 4 }, f16Kv: true }).logits;
  expect(maxRelError(stepwise, ref, 300)).toBeLessThan(TOL_F16KV);
  for (const batchSize of [3, 4, 5, 9, 512]) {
    const whole = await run(batchSize, toks.length); // one decode call, prefilled in batches
    const err = maxRelError(whole, stepwise, 300);
    console.log(`kv window W=4, batchSize ${batchSize} vs token by token: ${err.toExponential(2)}`);
    expect(err).toBeLessThan(TIGHT);
  }
  // calls that straddle the ring boundary at odd offsets
  expect(maxRelError(await run(5, 6), stepwise, 300)).toBeLessThan(TIGHT);
});

test("after n tokens slot p mod W holds position p for p in [n-W, n); held is min(n, W)", async () => {
  const W = 8;
  const f = await fixture("w8slots", { nLayer: 2, nHeadKv: 2, slidingWindow: W, seed: 25 });
  const ctx = await f.model.createContext({ contextSize: Infinity, batchSize: 5, kv: { policy: "window" } });
  const toks = randomTokens(50, 300, 25);
  let n = 0;
  for (const chunk of [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 6]) {
    await ctx.decode(toks.slice(n, n + chunk));
    n += chunk;
    for (let layer = 0; layer < 2; layer++) {
      for (let kvHead = 0; kvHead < 2; kvHead++) {
        const { positions, scores } = ctx.kvSlots(layer, kvHead);
        expect(scores).toBeNull();
        const expected = Array(W).fill(-1);
        for (let p = Math.max(0, n - W); p < n; p++) expected[p % W] = p;
        expect(positions).toEqual(expected);
      }
    }
    const st = ctx.stats();
    expect(st.tokensProcessed).toBe(n);
    expect(st.layers).toEqual(Array(2).fill(expect.objectContaining({ policy: "window", capacity: W, held: Math.min(n, W), window: W })));
  }
  expect(ctx.position).toBe(50);
  await ctx.reset();
  expect(ctx.stats().tokensProcessed).toBe(0);
  expect(ctx.kvSlots(0).positions).toEqual(Array(W).fill(-1));
  await ctx.close();
});

test("kvBytes: W rows of K and V per layer and KV head (2 * n_layer * G * head_dim * 2 bytes per slot), constant", async () => {
  const f = await fixture("w8bytes", { nLayer: 2, nHeadKv: 2, slidingWindow: 8, seed: 26 });
  const ctx = await f.model.createContext({ contextSize: Infinity, kv: { policy: "window" } });
  const perSlot = 2 * 2 * 2 * 8 * 2; // K and V, 2 layers, 2 KV heads, head_dim 8, f16
  const before = ctx.stats();
  expect(before.kvType).toBe("f16");
  expect(before.kvBytes).toBe(8 * perSlot);
  await ctx.decode(randomTokens(100, 300, 26));
  expect(ctx.stats().kvBytes).toBe(8 * perSlot);
  const full = await f.model.createContext({ contextSize: 100, kv: { policy: "full" } });
  expect(full.stats().kvBytes).toBe(100 * perSlot);
  expect(full.stats().layers[0]).toMatchObject({ policy: "full", capacity: 100, held: 0 });
  await Promise.all([ctx.close(), full.close()]);
});

describe("interleaved windows (sliding_window_pattern 2: layers 0 and 2 slide, 1 and 3 are global)", () => {
  let f: Fixture;
  const toks = randomTokens(60, 300, 27);
  beforeAll(async () => { f = await fixture("pattern", { nLayer: 4, slidingWindow: 6, slidingWindowPattern: 2, seed: 27 }); });

  test("auto: window rings on sliding layers, full caches elsewhere; logits match the reference", async () => {
    const ctx = await f.model.createContext({ contextSize: 64 });
    expect(ctx.stats().layers.map((l) => [l.policy, l.capacity])).toEqual([["window", 6], ["full", 64], ["window", 6], ["full", 64]]);
    const r = await decodeAll(ctx, toks, 11);
    const ref = referenceForward(f.ref, toks, { policy: layerPolicies(f.ref, { policy: "auto" }), f16Kv: true }).logits;
    expect(maxRelError(r, ref, 300)).toBeLessThan(TOL_F16KV);
    await ctx.close();
  });

  test("sinks: trained-window layers keep their ring, the global layers get sinks", async () => {
    const kv = { policy: "sinks" as const, sinks: 2, recent: 10 };
    const ctx = await f.model.createContext({ contextSize: Infinity, kv });
    const st = ctx.stats();
    expect(st.layers.map((l) => [l.policy, l.capacity])).toEqual([["window", 6], ["sinks", 12], ["window", 6], ["sinks", 12]]);
    const r = await decodeAll(ctx, toks, 1);
    const ref = referenceForward(f.ref, toks, { policy: layerPolicies(f.ref, kv), f16Kv: true }).logits;
    expect(maxRelError(r, ref, 300)).toBeLessThan(TOL_F16KV);
    await ctx.close();
  });
});
