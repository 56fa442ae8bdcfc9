// The TypeScript reference forward pass (test/kv/reference.ts): its policies agree with each other
// where LONG_CONTEXT.md says they must, and its full policy matches today's engine.
import { decodeAll, fixtureSuite, randomTokens, TOL_F16KV, TOL_F64 } from "./fixtures";
import { f16round, maxRelError, referenceForward, RefModel } from "./reference";

const fixture = fixtureSuite("ringllm-kvref-");

function same(a: Float64Array, b: Float64Array): number {
  return maxRelError(a, b, 1);
}

test("f16round rounds to the nearest half-precision value, ties to even", () => {
  expect(f16round(1)).toBe(1);
  expect(f16round(1 + 2 ** -11)).toBe(1); // tie between 1 and 1+2^-10: even
  expect(f16round(1 + 3 * 2 ** -11)).toBe(1 + 2 * 2 ** -10);
  expect(f16round(0.1)).toBe(0.0999755859375);
  expect(f16round(-65504)).toBe(-65504);
  expect(f16round(1e5)).toBe(Infinity);
  expect(f16round(2 ** -25 * 3)).toBe(2 ** -24 * 2); // subnormal
});

describe("reference policies agree where the spec says they must", () => {
  let ref: RefModel;
  const toks = randomTokens(24, 300, 3);
  beforeAll(async () => { ref = (await fixture("self", { nLayer: 2, nHeadKv: 2, seed: 11 })).ref; });

  test("a window as long as the sequence is full attention", () => {
    const a = referenceForward(ref, toks, { policy: { kind: "full" } });
    const b = referenceForward(ref, toks, { policy: { kind: "window", window: 24 } });
    expect(b.logits).toEqual(a.logits);
  });

  test("a window shorter than the sequence changes only positions past it", () => {
    const a = referenceForward(ref, toks, { policy: { kind: "full" } });
    const b = referenceForward(ref, toks, { policy: { kind: "window", window: 6 } });
    expect(b.logits.subarray(0, 6 * 300)).toEqual(a.logits.subarray(0, 6 * 300));
    expect(same(b.logits.subarray(6 * 300), a.logits.subarray(6 * 300))).toBeGreaterThan(1e-3);
  });

  test("sinks equal full attention until the cache fills (S+R tokens), then differ", () => {
    const a = referenceForward(ref, toks, { policy: { kind: "full" } });
    const b = referenceForward(ref, toks, { policy: { kind: "sinks", sinks: 2, recent: 8 } });
    expect(b.logits.subarray(0, 10 * 300)).toEqual(a.logits.subarray(0, 10 * 300));
    expect(same(b.logits.subarray(10 * 300), a.logits.subarray(10 * 300))).toBeGreaterThan(1e-3);
  });

  test("0 sinks at cache positions equal a window at absolute positions (RoPE sees only distances)", () => {
    const exactRope = true;
    const win = referenceForward(ref, toks, { policy: { kind: "window", window: 8 }, exactRope });
    const s0 = referenceForward(ref, toks, { policy: { kind: "sinks", sinks: 0, recent: 8 }, exactRope });
    expect(same(s0.logits, win.logits)).toBeLessThan(1e-10);
    // with the engine's float32 angles, rotating at p and at p-d differ in rounding (measured 1.1e-4)
    const w32 = referenceForward(ref, toks, { policy: { kind: "window", window: 8 } });
    const s32 = referenceForward(ref, toks, { policy: { kind: "sinks", sinks: 0, recent: 8 } });
    const err = same(s32.logits, w32.logits);
    console.log(`kv reference: sinks 0+8 (cache positions) vs window 8 (absolute), float32 RoPE angles: ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-3);
  });

  test("h2o with heavy + recent >= the sequence is full attention; scores sum to heads x steps", () => {
    const a = referenceForward(ref, toks, { policy: { kind: "full" } });
    const b = referenceForward(ref, toks, { policy: { kind: "h2o", heavy: 10, recent: 14 } });
    expect(b.logits).toEqual(a.logits);
    for (const layer of b.h2o) {
      for (const st of layer!) {
        expect(st.positions).toEqual([...Array(24).keys()]);
        // every step hands out `group` (= 4 query heads per KV head) units of probability
        expect(st.scores.reduce((s, x) => s + x, 0)).toBeCloseTo(24 * 4, 9);
      }
    }
  });

  test("h2o with heavy 0 is a window of recent + 1 keys (the new token is added before eviction)", () => {
    const win = referenceForward(ref, toks, { policy: { kind: "window", window: 6 } });
    const h = referenceForward(ref, toks, { policy: { kind: "h2o", heavy: 0, recent: 5 } });
    expect(h.logits).toEqual(win.logits);
    for (const st of h.h2o[0]!) expect(st.positions).toEqual([19, 20, 21, 22, 23]);
  });

  test("h2o keeps heavy + recent tokens: the last `recent` and `heavy` older ones", () => {
    const h = referenceForward(ref, toks, { policy: { kind: "h2o", heavy: 3, recent: 4 } });
    for (const layer of h.h2o) {
      for (const st of layer!) {
        expect(st.positions.length).toBe(7);
        expect(st.positions.slice(3)).toEqual([20, 21, 22, 23]);
        expect(st.positions[2]).toBeLessThan(20);
      }
    }
  });
});

describe("the reference's full attention matches the engine", () => {
  const shapes = [
    { name: "gqa-2", nLayer: 2, nHeadKv: 2 },
    { name: "mha-8", nLayer: 3, nHeadKv: 8 },
    { name: "mqa-1-tied", nLayer: 2, nHeadKv: 1, tiedEmbeddings: true },
    { name: "gqa-4-ff", nLayer: 3, nHeadKv: 4, nFf: 160, rmsEps: 1e-6, ropeFreqBase: 500 },
  ];
  test.each(shapes)("$name: all logits of 60 tokens, decoded in one call and token by token", async ({ name, ...opts }) => {
    const f = await fixture(name, { ...opts, seed: name.length });
    const toks = randomTokens(60, 300, name.length);
    const ctx = await f.model.createContext({ contextSize: 64 });
    const whole = await decodeAll(ctx, toks);
    await ctx.reset();
    const stepwise = await decodeAll(ctx, toks, 1);
    await ctx.close();
    const exact = referenceForward(f.ref, toks, { policy: { kind: "full" } }).logits;
    const f16 = referenceForward(f.ref, toks, { policy: { kind: "full" }, f16Kv: true }).logits;
    const errs = [maxRelError(whole, exact, 300), maxRelError(whole, f16, 300), maxRelError(stepwise, f16, 300)];
    console.log(`kv reference vs engine, full, ${name}: doubles ${errs[0].toExponential(2)}, f16 K/V ${errs[1].toExponential(2)}, token by token ${errs[2].toExponential(2)}`);
    expect(errs[0]).toBeLessThan(TOL_F64);
    expect(errs[1]).toBeLessThan(TOL_F16KV);
    expect(errs[2]).toBeLessThan(TOL_F16KV);
  });
});
