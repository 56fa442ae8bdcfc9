// KV cache quantization (LONG_CONTEXT.md section 6): q8_0 and q4_0 K/V stay within a small KL
// divergence of the f16 cache, on every policy, and take 34/64 and 18/64 of its bytes.
import { Model } from "../../lib";
import { tempDir } from "../helpers";
import { decodeAll, Fixture, makeModel, randomTokens } from "./fixtures";
import { meanKl, referenceForward } from "./reference";

const V = 300;
// head_dim 32: one q8_0/q4_0 block per head row
const SHAPE = { nLayer: 3, nEmbd: 128, nHead: 4, nHeadKv: 2, nFf: 192 };
// Loose bounds on mean KL(f16 || quantized) per next-token distribution; measured values are printed.
// Measured (3 layers, head_dim 32, 200 random tokens): q8_0 4.0e-5 (full) .. 6.3e-5 (sinks);
// q4_0 9.5e-3 (full) .. 1.5e-2 (window, sinks). h2o is discontinuous: a quantized score can flip an
// eviction, and a different kept token changes later outputs: q8_0 7.4e-3, q4_0 2.1e-2 (q8_0: per-position
// KL <= 3e-4 until the first eviction that differs, at token 33, then 1e-3 .. 1e-1).
const KL_BOUND = { q8_0: 5e-4, q4_0: 5e-2 } as const;
const KL_BOUND_H2O = { q8_0: 3e-2, q4_0: 8e-2 } as const;

let dir: { path: string; cleanup(): void };
const models: Model[] = [];
let f: Fixture;
beforeAll(async () => {
  dir = tempDir("ringllm-kvquant-");
  f = await makeModel(dir.path, "q", { ...SHAPE, seed: 51 });
  models.push(f.model);
});
afterAll(async () => {
  await Promise.all(models.map((m) => m.close()));
  dir.cleanup();
});

const toks = randomTokens(200, V, 51);
const POLICIES = [
  { policy: "full" as const },
  { policy: "window" as const, window: 32 },
  { policy: "sinks" as const, sinks: 4, recent: 28 },
  { policy: "h2o" as const, heavy: 16, recent: 16 },
];

describe.each(POLICIES)("policy $policy", (kv) => {
  test.each(["q8_0", "q4_0"] as const)("%s K/V: next-token distributions within a small KL of f16", async (type) => {
    const contextSize = kv.policy === "full" ? 256 : Infinity;
    const base = await f.model.createContext({ contextSize, kv });
    const quant = await f.model.createContext({ contextSize, kv: { ...kv, type } });
    const chunk = kv.policy === "h2o" ? 1 : 50;
    const a = await decodeAll(base, toks, chunk);
    const b = await decodeAll(quant, toks, chunk);
    const kl = meanKl(a, b, V);
    console.log(`kv ${type} vs f16, policy ${kv.policy}, 200 tokens: mean KL ${kl.toExponential(3)} nats`);
    expect(kl).toBeGreaterThan(0); // the quantized cache is in use
    if (kv.policy === "h2o") {
      let differ = 0;
      for (let layer = 0; layer < SHAPE.nLayer; layer++) {
        for (let kvHead = 0; kvHead < SHAPE.nHeadKv; kvHead++) {
          const kept = new Set(base.kvSlots(layer, kvHead).positions);
          differ += quant.kvSlots(layer, kvHead).positions.filter((p) => p >= 0 && !kept.has(p)).length;
        }
      }
      console.log(`kv ${type} vs f16, h2o: ${differ} kept tokens differ over ${SHAPE.nLayer * SHAPE.nHeadKv} layer/KV heads`);
    }
    expect(kl).toBeLessThan((kv.policy === "h2o" ? KL_BOUND_H2O : KL_BOUND)[type]);
    expect(quant.stats().kvType).toBe(type);
    const ratio = quant.stats().kvBytes / base.stats().kvBytes;
    expect(ratio).toBeCloseTo(type === "q8_0" ? 34 / 64 : 18 / 64, 10);
    await Promise.all([base.close(), quant.close()]);
  });
});

test("q8_0 K/V is closer to exact (double-precision) attention than a tenth of q4_0's distance", async () => {
  const exact = referenceForward(f.ref, toks.slice(0, 100), { policy: { kind: "full" } }).logits;
  const kls: Record<string, number> = {};
  for (const type of ["f16", "q8_0", "q4_0"] as const) {
    const ctx = await f.model.createContext({ contextSize: 128, kv: { policy: "full", type } });
    kls[type] = meanKl(exact, await decodeAll(ctx, toks.slice(0, 100)), V);
    await ctx.close();
  }
  console.log(`kv type vs exact attention, 100 tokens, mean KL: f16 ${kls.f16.toExponential(2)}, q8_0 ${kls.q8_0.toExponential(2)}, q4_0 ${kls.q4_0.toExponential(2)}`);
  expect(kls.f16).toBeLessThan(kls.q8_0);
  expect(kls.q8_0).toBeLessThan(kls.q4_0 / 10);
});
