// Heavy-hitter eviction (H2O, LONG_CONTEXT.md section 4), per layer and KV head, checked against
// the reference's token-by-token simulation: add the token, attend, add each held token's
// probability (summed over the group's query heads) to its score, then evict the lowest-scored
// token older than the last `recent` positions (ties: the oldest) while held > heavy + recent.
import { Model } from "../../lib";
import { tempDir } from "../helpers";
import { decodeAll, Fixture, makeModel, randomTokens, TOL_F16KV } from "./fixtures";
import { maxRelError, referenceForward } from "./reference";

const V = 300;
// h2o runs its own per-head attention path (token by token): float reassociation only, measured 3.0e-5.
const TIGHT = 1e-4;

let dir: { path: string; cleanup(): void };
const models: Model[] = [];
let f: Fixture;
beforeAll(async () => {
  dir = tempDir("ringllm-kvh2o-");
  // 8 query heads on 2 KV heads: scores sum over groups of 4
  f = await makeModel(dir.path, "h2o", { nLayer: 3, nHeadKv: 2, seed: 41 });
  models.push(f.model);
});
afterAll(async () => {
  await Promise.all(models.map((m) => m.close()));
  dir.cleanup();
});

const toks = randomTokens(48, V, 41);

test("heavy + recent >= the sequence length: full attention, every token held", async () => {
  const h = await f.model.createContext({ contextSize: Infinity, kv: { policy: "h2o", heavy: 20, recent: 28 } });
  const full = await f.model.createContext({ contextSize: 64, kv: { policy: "full" } });
  const a = await decodeAll(h, toks, 1);
  const b = await decodeAll(full, toks, 1);
  const err = maxRelError(a, b, V);
  console.log(`kv h2o 20+28 over 48 tokens vs full: ${err.toExponential(2)}${err === 0 ? " (bit-identical)" : ""}`);
  expect(err).toBeLessThan(TIGHT);
  for (let layer = 0; layer < 3; layer++) {
    expect(ctxHeld(h, layer, 0)).toEqual([...Array(48).keys()]);
  }
  await Promise.all([h.close(), full.close()]);
});

function ctxHeld(ctx: Awaited<ReturnType<Model["createContext"]>>, layer: number, kvHead: number): number[] {
  return ctx.kvSlots(layer, kvHead).positions.filter((p) => p >= 0).sort((a, b) => a - b);
}

test("heavy 0: a window of the last recent tokens plus the new one (window policy, W = recent + 1)", async () => {
  const recent = 6;
  const h = await f.model.createContext({ contextSize: Infinity, kv: { policy: "h2o", heavy: 0, recent } });
  const win = await f.model.createContext({ contextSize: Infinity, kv: { policy: "window", window: recent + 1 } });
  const a = await decodeAll(h, toks, 1);
  const b = await decodeAll(win, toks, 1);
  const ref = referenceForward(f.ref, toks, { policy: { kind: "h2o", heavy: 0, recent }, f16Kv: true }).logits;
  const errWin = maxRelError(a, b, V), errRef = maxRelError(a, ref, V);
  const winRecent = await f.model.createContext({ contextSize: Infinity, kv: { policy: "window", window: recent } });
  const errWinR = maxRelError(a, await decodeAll(winRecent, toks, 1), V);
  console.log(`kv h2o heavy 0 recent ${recent}: vs window ${recent + 1} ${errWin.toExponential(2)}, vs window ${recent} ${errWinR.toExponential(2)}, vs reference ${errRef.toExponential(2)}`);
  expect(errRef).toBeLessThan(TOL_F16KV);
  expect(errWin).toBeLessThan(TIGHT);
  expect(ctxHeld(h, 0, 0)).toEqual([42, 43, 44, 45, 46, 47]);
  await Promise.all([h.close(), win.close(), winRecent.close()]);
});

describe("heavy 6 + recent 10 over 48 tokens", () => {
  const heavy = 6, recent = 10;
  let ref: ReturnType<typeof referenceForward>;
  beforeAll(() => { ref = referenceForward(f.ref, toks, { policy: { kind: "h2o", heavy, recent }, f16Kv: true }); });

  test.each([
    ["token by token", 1],
    ["one call", 48],
    ["calls of 5", 5],
  ])("%s: logits, kept sets and scores per layer and KV head equal the reference", async (label, chunk) => {
    const ctx = await f.model.createContext({ contextSize: Infinity, kv: { policy: "h2o", heavy, recent } });
    const r = await decodeAll(ctx, toks, chunk);
    const err = maxRelError(r, ref.logits, V);
    let scoreErr = 0;
    for (let layer = 0; layer < 3; layer++) {
      for (let kvHead = 0; kvHead < 2; kvHead++) {
        const want = ref.h2o[layer]![kvHead];
        const { positions, scores } = ctx.kvSlots(layer, kvHead);
        expect(scores).not.toBeNull();
        // slots: heavy + recent, plus the one a step holds before it evicts
        expect(positions.length).toBe(ctx.stats().layers[layer].capacity);
        const got = positions.map((p, i) => [p, scores![i]] as const).filter(([p]) => p >= 0).sort((a, b) => a[0] - b[0]);
        expect({ layer, kvHead, kept: got.map(([p]) => p) }).toEqual({ layer, kvHead, kept: want.positions });
        expect(got.map(([p]) => p).slice(heavy)).toEqual([...Array(recent).keys()].map((i) => 48 - recent + i));
        got.forEach(([, s], i) => { scoreErr = Math.max(scoreErr, Math.abs(s - want.scores[i]) / Math.max(1, want.scores[i])); });
      }
      const st = ctx.stats().layers[layer];
      expect(st).toMatchObject({ policy: "h2o", held: heavy + recent, heavy, recent });
      expect([heavy + recent, heavy + recent + 1]).toContain(st.capacity);
    }
    console.log(`kv h2o ${heavy}+${recent}, ${label}: logits vs reference ${err.toExponential(2)}, scores max rel error ${scoreErr.toExponential(2)}`);
    expect(err).toBeLessThan(TOL_F16KV);
    expect(scoreErr).toBeLessThan(1e-3);
    await ctx.close();
  });

  test("the heavy hitters kept are not simply the oldest or the newest: eviction is by score", () => {
    const kept = ref.h2o.flatMap((l) => l!.map((s) => s.positions.slice(0, heavy).join(",")));
    expect(kept.some((k) => k !== "0,1,2,3,4,5")).toBe(true);
    expect(new Set(kept).size).toBeGreaterThan(1); // layers / heads keep different tokens
  });
});
