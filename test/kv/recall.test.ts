// Recall (kv.policy "recall", issue 18): evicted tokens move once into a block store; each query
// attends to the sinks, the topBlocks blocks with the highest min/max bound and its recent tail.
// With every block selected and absolute positions it is the full cache; with fewer blocks it is
// the reference's recall (test/kv/reference.ts: selection and remapped positions written from the
// definition); chunking never changes a logit; stats report the store; a file store equals the
// memory store; bad options are coded errors.
import { existsSync } from "node:fs";
import { join } from "node:path";

import { loadModel, Model } from "../../lib";
import { sharedTest, STORIES, tempDir } from "../helpers";
import { decodeAll, Fixture, makeModel, randomTokens, TOL_F16KV, TOL_F64 } from "./fixtures";
import { maxRelError, recallBlocks, referenceForward } from "./reference";

const V = 300;
const S = 4, R = 20, B = 32;
const N = 200;

let dir: { path: string; cleanup(): void };
const models: Model[] = [];
let f: Fixture; // head_dim 8, 2 KV heads of 4 query heads
let fq: Fixture; // head_dim 32 (q8_0 rows)
beforeAll(async () => {
  dir = tempDir("ringllm-kvrecall-");
  f = await makeModel(dir.path, "recall", { nLayer: 3, nHeadKv: 2, seed: 61 });
  fq = await makeModel(dir.path, "recallq", { nLayer: 2, nEmbd: 128, nHead: 4, nHeadKv: 2, nFf: 192, seed: 62 });
  models.push(f.model, fq.model);
});
afterAll(async () => {
  await Promise.all(models.map((m) => m.close()));
  dir.cleanup();
});

const toks = randomTokens(N, V, 61);
const recall = (topBlocks: number, positions: "remap" | "absolute") =>
  ({ policy: "recall" as const, sinks: S, recent: R, blockSize: B, topBlocks, positions });
const results: Record<string, Float32Array> = {};
const nBlocks = recallBlocks({ kind: "recall", ...recall(1, "absolute") }, N - 1).blocks.length;

test.each([
  ["one call", N, undefined],
  ["token by token", 1, undefined],
  ["calls of 9, batchSize 5", 9, 5],
  ["calls of 70, batchSize 64", 70, 64],
])("absolute, topBlocks >= blocks, %s: logits equal the full cache's (f16)", async (label, chunk, batchSize) => {
  expect(nBlocks).toBeGreaterThanOrEqual(5);
  const ctx = await f.model.createContext({ contextSize: Infinity, batchSize, kv: recall(nBlocks, "absolute") });
  const full = await f.model.createContext({ contextSize: 256, kv: { policy: "full" } });
  const r = await decodeAll(ctx, toks, chunk);
  const ref = referenceForward(f.ref, toks, { policy: { kind: "full" }, f16Kv: true }).logits;
  const err = maxRelError(r, ref, V), errEngine = maxRelError(r, await decodeAll(full, toks), V);
  console.log(`kv recall all blocks, ${label}: vs full reference ${err.toExponential(2)}, vs engine full ${errEngine.toExponential(2)}`);
  expect(err).toBeLessThan(TOL_F16KV);
  expect(errEngine).toBeLessThan(TOL_F16KV);
  await Promise.all([ctx.close(), full.close()]);
});

test.each(["q8_0", "q4_0"] as const)("absolute, topBlocks >= blocks, %s rows: logits equal the full cache's of the same type, chunked and token by token", async (type) => {
  const full = await fq.model.createContext({ contextSize: 256, kv: { policy: "full", type } });
  const want = await decodeAll(full, toks);
  for (const chunk of [N, 1, 33]) {
    const ctx = await fq.model.createContext({ contextSize: Infinity, batchSize: 16, kv: { ...recall(nBlocks, "absolute"), type } });
    const err = maxRelError(await decodeAll(ctx, toks, chunk), want, V);
    console.log(`kv recall all blocks ${type}, chunk ${chunk}: vs full ${err.toExponential(2)}`);
    expect(err).toBeLessThan(TOL_F16KV);
    await ctx.close();
  }
  await full.close();
});

test.each(["absolute", "remap"] as const)("%s positions, topBlocks 2: logits equal the reference's recall (selection, positions) whatever the chunking", async (positions) => {
  const ref = referenceForward(f.ref, toks, { policy: { kind: "recall", ...recall(2, positions) }, f16Kv: true }).logits;
  let first: Float32Array | undefined;
  for (const [chunk, batchSize] of [[N, undefined], [1, undefined], [9, 5]] as const) {
    const ctx = await f.model.createContext({ contextSize: Infinity, batchSize, kv: recall(2, positions) });
    const r = await decodeAll(ctx, toks, chunk);
    const err = maxRelError(r, ref, V);
    console.log(`kv recall top 2 ${positions}, chunk ${chunk}: vs reference ${err.toExponential(2)}`);
    expect(err).toBeLessThan(TOL_F16KV);
    if (first) expect(maxRelError(r, first, V)).toBeLessThan(1e-5); // chunking never changes the selection
    first ??= r;
    await ctx.close();
  }
  results[positions] = first!;
  // and selection matters: the full cache differs once blocks are left out
  const dense = referenceForward(f.ref, toks, { policy: { kind: "full" }, f16Kv: true }).logits;
  expect(maxRelError(first!.subarray(150 * V), dense.subarray(150 * V), V)).toBeGreaterThan(1e-2);
});

test("remap and absolute differ once a selected block is not adjacent to the tail", () => {
  expect(maxRelError(results.remap.subarray(150 * V), results.absolute.subarray(150 * V), V)).toBeGreaterThan(1e-3);
});

test("stats: store bytes = evicted tokens x row bytes, blocks, selections, bounded attended keys", async () => {
  const K = 2;
  const ctx = await f.model.createContext({ contextSize: Infinity, batchSize: 7, kv: recall(K, "remap") });
  const rowBytes = 2 * 2 * 8 * 2; // K and V, 2 KV heads of 8 dims, f16
  let n = 0, selections = 0;
  for (const chunk of [1, 3, 30, 1, 60, 5, 100]) {
    await ctx.decode(toks.slice(n, n + chunk), { logits: "all" });
    for (let p = n; p < n + chunk; p++) {
      selections += Math.min(K, recallBlocks({ kind: "recall", ...recall(K, "remap") }, p).blocks.length) * 2 * 3;
    }
    n += chunk;
    const st = ctx.stats();
    expect(st.storeBytes).toBe(Math.max(0, n - S - R) * rowBytes * 3);
    expect(st.blocks).toBe(recallBlocks({ kind: "recall", ...recall(K, "remap") }, n - 1).blocks.length * 3);
    expect(st.selections).toBe(selections);
    expect(st.attendedKeys).toBeLessThanOrEqual(S + K * B + R + B - 1);
    expect(st.layers[0]).toMatchObject({ policy: "recall", capacity: S + R, held: n, sinks: S, recent: R, blockSize: B, topBlocks: K, positions: "remap" });
  }
  expect(n).toBe(N);
  expect(ctx.stats().attendedKeys).toBeGreaterThan(S + R + B);
  await ctx.reset();
  expect(ctx.stats()).toMatchObject({ storeBytes: 0, blocks: 0, selections: 0, attendedKeys: 0 });
  await ctx.close();
});

test("defaults: sinks 4, blockSize 64, topBlocks 8, remap, recent = budget - sinks - 9 blocks (at least one block)", async () => {
  const a = await f.model.createContext({ contextSize: Infinity, kv: { policy: "recall" } });
  expect(a.stats().layers[0]).toMatchObject({ policy: "recall", sinks: 4, blockSize: 64, topBlocks: 8, positions: "remap", recent: 64 });
  const b = await f.model.createContext({ contextSize: Infinity, kv: { policy: "recall", blockSize: 32, topBlocks: 2 } });
  expect(b.stats().layers[0]).toMatchObject({ recent: 256 - 4 - 3 * 32 });
  await Promise.all([a.close(), b.close()]);
});

test("recall contexts decode in shared batched steps with the same logits as alone", async () => {
  const kv = recall(2, "remap");
  const alone = await f.model.createContext({ contextSize: Infinity, batching: false, kv });
  const want = await decodeAll(alone, toks, 50);
  const a = await f.model.createContext({ contextSize: Infinity, kv });
  const b = await f.model.createContext({ contextSize: Infinity, kv: { policy: "sinks", sinks: 4, recent: 30 } });
  const parts: Float32Array[] = [];
  for (let i = 0; i < N; i += 50) {
    const [pa] = await Promise.all([a.decode(toks.slice(i, i + 50), { logits: "all" }), b.decode(toks.slice(i, i + 50))]);
    parts.push(pa);
  }
  const got = new Float32Array(N * V);
  parts.forEach((p, i) => got.set(p, i * 50 * V));
  expect(maxRelError(got, want, V)).toBeLessThan(1e-5);
  await Promise.all([alone.close(), a.close(), b.close()]);
});

test("a file store gives the memory store's logits and stats, leaves no file behind, and resets", async () => {
  const path = join(dir.path, "recall.store");
  const mem = await f.model.createContext({ contextSize: Infinity, kv: recall(2, "remap") });
  const file = await f.model.createContext({ contextSize: Infinity, kv: { ...recall(2, "remap"), store: path } });
  expect(existsSync(path)).toBe(false); // unlinked once created: the mapping holds it
  const want = await decodeAll(mem, toks, 37);
  expect(maxRelError(await decodeAll(file, toks, 37), want, V)).toBe(0);
  expect(file.stats()).toMatchObject({ storeBytes: mem.stats().storeBytes, blocks: mem.stats().blocks, selections: mem.stats().selections });
  expect(file.stats().storeBytes).toBeGreaterThan(0);
  await file.reset();
  expect(file.stats().storeBytes).toBe(0);
  expect(maxRelError(await decodeAll(file, toks, 200), want, V)).toBe(0);
  await Promise.all([mem.close(), file.close()]);
});

test("bad options are coded errors", async () => {
  const bad = async (kv: object) => f.model.createContext({ contextSize: Infinity, kv: { policy: "recall", ...kv } });
  await expect(bad({ blockSize: 48, type: "f16" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/multiple of 32/) });
  await expect(bad({ blockSize: 48, type: "q8_0" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  await expect(bad({ blockSize: 0 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  await expect(bad({ topBlocks: 0 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/topBlocks/) });
  await expect(bad({ recent: 0 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  await expect(bad({ positions: "relative" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  await expect(bad({ store: "/nonexistent-dir/recall.store" })).rejects.toMatchObject({ code: "ENOENT", message: expect.stringMatching(/recall store/) });
  await expect(bad({ store: dir.path })).rejects.toMatchObject({ code: "EISDIR" });
  await expect(bad({ store: 7 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  await expect(bad({ store: "" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  const huge = await bad({ blockSize: 32, topBlocks: 1 << 20, recent: 8 }); // scratch sized by the blocks that exist
  await huge.decode(toks.slice(0, 100));
  await huge.close();
  const ctx = await bad({ blockSize: 32, topBlocks: 1, recent: 8 });
  await ctx.decode(toks.slice(0, 100));
  await expect(ctx.saveState()).rejects.toMatchObject({ code: "UNSUPPORTED" });
  await expect(ctx.truncate(50)).rejects.toMatchObject({ code: "CONTEXT_REWIND" });
  await ctx.close();
});

sharedTest("stories260K: all blocks absolute equals the full cache; a 6K-token stream keeps attended keys bounded and store bytes = tokens x row bytes", [STORIES], async () => {
  const m = await loadModel(STORIES);
  try {
    const text = randomTokens(6000, 500, 71);
    const kv = { policy: "recall" as const, sinks: 4, recent: 64, blockSize: 32, topBlocks: 4 };
    const full = await m.createContext({ contextSize: 512, kv: { policy: "full" } });
    const all = await m.createContext({ contextSize: Infinity, kv: { ...kv, topBlocks: 100, positions: "absolute" } });
    const want = await decodeAll(full, text.slice(0, 400));
    // the merge of partial softmaxes (sinks, blocks, tail) rounds like flash-decoding's splits,
    // which this 5-layer model amplifies to ~1e-3 by the last rows: the same bound as the reference tests in doubles
    const split = await m.createContext({ contextSize: 512, attentionSplits: 7, kv: { policy: "full" } });
    const splitErr = maxRelError(await decodeAll(split, text.slice(0, 400), 1), want, want.length / 400);
    for (const chunk of [400, 1]) {
      await all.reset();
      const err = maxRelError(await decodeAll(all, text.slice(0, 400), chunk), want, want.length / 400);
      console.log(`kv recall stories260K all blocks, chunk ${chunk}: vs full ${err.toExponential(2)} (7 attention splits vs 1: ${splitErr.toExponential(2)})`);
      expect(err).toBeLessThan(TOL_F64);
    }
    await split.close();
    const ctx = await m.createContext({ contextSize: Infinity, batchSize: 256, kv });
    const layers = ctx.stats().layers.length;
    const rowBytes = ctx.stats().kvBytes / ((4 + 64) * layers); // ring slots hold rows of the same size
    let keysAt1K = 0;
    for (let n = 0; n < text.length; n += 500) {
      await ctx.decode(text.slice(n, n + 500));
      const st = ctx.stats();
      expect(st.storeBytes).toBe((n + 500 - 4 - 64) * rowBytes * layers);
      expect(st.attendedKeys).toBeLessThanOrEqual(4 + 4 * 32 + 64 + 31);
      if (n === 500) keysAt1K = st.attendedKeys;
    }
    expect(ctx.stats().attendedKeys).toBe(keysAt1K); // constant from the first blocks on
    await Promise.all([full.close(), all.close(), ctx.close()]);
  } finally {
    await m.close();
  }
});
