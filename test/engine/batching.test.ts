// Continuous batching (native/engine/batcher.h): contexts of one model that decode at the same time
// share forward passes. Each sequence's logits must equal, bit for bit, the same sequence decoded by a
// context with `batching: false` (its own passes, 512-row prompt chunks instead of the batcher's
// 128), whatever policies and KV types share its steps; greedy outputs equal; an aborted sequence
// leaves the others untouched.
import { join } from "node:path";
import { loadModel, type Context, type ContextOptions, type Model, setLogger } from "../../lib/index";
import { writeLlamaModel } from "../../scripts/gguf/llama-model";
import { STORIES, rng, sharedTest, tempDir } from "../helpers";

let dir: { path: string; cleanup(): void };
const models: Record<string, Model> = {};
beforeAll(async () => {
  setLogger(null);
  dir = tempDir("ringllm-batching-");
  // F32, and quantized types whose matrices go through the packed kernels (rows of 256)
  for (const [name, weightType] of [["f32", "F32"], ["q4_0", "Q4_0"], ["q8_0", "Q8_0"]] as const) {
    const file = join(dir.path, `${name}.gguf`);
    writeLlamaModel(file, { seed: 41, nLayer: 2, nEmbd: 256, nHead: 4, nHeadKv: 2, nFf: 512, nVocab: 512, contextLength: 1024, weightType });
    models[name] = await loadModel(file);
  }
});
afterAll(async () => {
  for (const m of Object.values(models)) await m.close();
  dir.cleanup();
});

const randomTokens = (next: () => number, n: number) => Array.from({ length: n }, () => 3 + Math.floor(next() * 500));

// Decodes each sequence's prompt, then `steps` single tokens (the argmax of the last logits), all
// sequences at once; returns every logits vector each sequence saw.
async function run(ctxs: Context[], prompts: number[][], steps: number): Promise<Float32Array[][]> {
  const seen: Float32Array[][] = ctxs.map(() => []);
  let last = await Promise.all(ctxs.map((c, i) => c.decode(prompts[i])));
  for (let s = 0; ; s++) {
    last.forEach((l, i) => seen[i].push(l));
    if (s === steps) break;
    last = await Promise.all(ctxs.map((c, i) => c.decode([argmax(last[i])])));
  }
  return seen;
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

// Greedy tokens of each prompt, each on its own context with batching: false.
async function aloneGreedy(m: Model, prompts: string[], maxTokens: number): Promise<number[][]> {
  const want: number[][] = [];
  for (const p of prompts) {
    const c = await m.createContext({ contextSize: 256, threads: 2, batching: false });
    const out: number[] = [];
    for await (const chunk of c.generate(p, { maxTokens, temperature: 0 })) out.push(chunk.token);
    want.push(out);
    await c.close();
  }
  return want;
}

describe.each(["f32", "q4_0", "q8_0"])("%s", (name) => {
  // ragged prompts: some longer than one 128-row chunk, one a single token (decode steps where one
  // sequence holds most of the attention work: one sequence at a time, each split over the pool);
  // then prompts of similar lengths (decode steps spread the sequences over the pool's threads)
  test.each([
    ["ragged", [300, 1, 57, 140, 12]],
    ["similar", [40, 33, 57, 45, 12]],
  ])("logits of sequences sharing steps equal each sequence alone, bit for bit, across KV policies and types (%s prompts)", async (_, lengths) => {
    const m = models[name];
    const next = rng(7);
    const kvs: ContextOptions["kv"][] = [
      { policy: "full" },
      { policy: "sinks", sinks: 4, recent: 92 },
      { policy: "window", window: 100 },
      { policy: "h2o", heavy: 32, recent: 64 },
      { policy: "full", type: "q8_0" },
    ];
    const prompts = (lengths as number[]).map((n) => randomTokens(next, n));
    const batched = await Promise.all(kvs.map((kv) => m.createContext({ contextSize: 512, threads: 2, kv })));
    const got = await run(batched, prompts, 12);
    const stats = batched[0].stats().batch!;
    expect(stats.maxSequences).toBeGreaterThanOrEqual(2);
    expect(stats.steps).toBeGreaterThan(0);
    const modelStats = m.stats().batches.find((b) => b.threads === 2)!;
    expect(modelStats.steps).toBe(stats.steps);
    expect(modelStats.running).toBe(0);
    for (let i = 0; i < kvs.length; i++) {
      const alone = await m.createContext({ contextSize: 512, threads: 2, kv: kvs[i], batching: false });
      expect(alone.stats().batch).toBeNull();
      const want = (await run([alone], [prompts[i]], 12))[0];
      for (let s = 0; s < want.length; s++) {
        const same = want[s].every((v, k) => Object.is(v, got[i][s][k]));
        expect({ seq: i, step: s, same }).toEqual({ seq: i, step: s, same: true });
      }
      await alone.close();
    }
    for (const c of batched) await c.close();
  });
});

test("concurrent greedy generations equal each generation alone; an aborted one leaves the others as they were", async () => {
  const m = models.q4_0;
  const prompts = ["the cat", "once upon", "a", "little girl named Lily went", "tok1 tok2", "happy"];
  const ac = new AbortController();
  const gen = async (ctx: Context, p: string, abortAt = -1) => {
    const out: number[] = [];
    try {
      for await (const c of ctx.generate(p, { maxTokens: 24, temperature: 0, signal: abortAt >= 0 ? ac.signal : undefined })) {
        out.push(c.token);
        if (out.length === abortAt) ac.abort();
      }
    } catch (e) {
      if ((e as { code?: string }).code !== "ABORTED") throw e;
    }
    return out;
  };
  const want = await aloneGreedy(m, prompts, 24);
  const ctxs = await Promise.all(prompts.map(() => m.createContext({ contextSize: 256, threads: 2 })));
  const got = await Promise.all(ctxs.map((c, i) => gen(c, prompts[i], i === 2 ? 5 : -1)));
  for (let i = 0; i < prompts.length; i++) {
    if (i === 2) expect(got[i]).toEqual(want[i].slice(0, 5));  // stopped after its 5th token
    else expect(got[i]).toEqual(want[i]);
  }
  expect(ctxs[0].stats().batch!.maxSequences).toBeGreaterThanOrEqual(2);
  // the aborted context is usable again and still equal to alone
  await ctxs[2].reset();
  expect(await gen(ctxs[2], prompts[2])).toEqual(want[2]);
  for (const c of ctxs) await c.close();
});

test("contexts with different thread counts do not share steps; batching must be a boolean", async () => {
  const m = models.f32;
  const a = await m.createContext({ threads: 1 });
  const b = await m.createContext({ threads: 2 });
  await Promise.all([a.decode([5, 6, 7]), b.decode([5, 6, 7])]);
  expect(a.stats().batch!.maxSequences).toBe(1);
  expect(b.stats().batch!.maxSequences).toBe(1);
  await expect(m.createContext({ batching: "yes" as unknown as boolean })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  await a.close();
  await b.close();
});

sharedTest("stories260K: 8 concurrent greedy stories equal each story alone", [STORIES], async () => {
  const m = await loadModel(STORIES);
  const prompts = ["Once upon a time", "Lily", "The dog", "One day", "Tom and", "She saw a", "It was", "The sun"];
  const gen = async (ctx: Context, p: string) => {
    const out: number[] = [];
    for await (const c of ctx.generate(p, { maxTokens: 40, temperature: 0 })) out.push(c.token);
    return out;
  };
  const want = await aloneGreedy(m, prompts, 40);
  const ctxs = await Promise.all(prompts.map(() => m.createContext({ contextSize: 256, threads: 2 })));
  const got = await Promise.all(ctxs.map((c, i) => gen(c, prompts[i])));
  expect(got).toEqual(want);
  expect(ctxs[0].stats().batch!.maxSequences).toBe(8);
  for (const c of ctxs) await c.close();
  await m.close();
});

test("logprobs: each generated token's log-probability from the raw logits, and the most likely alternatives", async () => {
  const m = models.f32;
  const prompt = [5, 17, 99, 230];
  const ref = await m.createContext({ contextSize: 64, threads: 2, batching: false });
  const logits = await ref.decode(prompt);
  let max = -Infinity;
  for (const x of logits) max = Math.max(max, x);
  let sum = 0;
  for (const x of logits) sum += Math.exp(x - max);
  const lse = max + Math.log(sum);
  for (const batching of [true, false]) {
    const ctx = await m.createContext({ contextSize: 64, threads: 2, batching });
    const chunks = [];
    for await (const c of ctx.generate(prompt, { maxTokens: 4, temperature: 0, logprobs: 3 })) chunks.push(c);
    expect(chunks[0].logprob).toBeCloseTo(logits[chunks[0].token] - lse, 4);
    for (const c of chunks) {
      expect(c.topLogprobs).toHaveLength(3);
      expect(c.topLogprobs![0]).toEqual({ token: c.token, logprob: c.logprob }); // greedy: the best one
      expect(c.topLogprobs![1].logprob).toBeLessThanOrEqual(c.topLogprobs![0].logprob);
      expect(c.logprob!).toBeLessThanOrEqual(0);
    }
    await ctx.close();
  }
  const plain = await m.createContext({ contextSize: 64 });
  for await (const c of plain.generate(prompt, { maxTokens: 2, temperature: 0 })) expect(c.logprob).toBeUndefined();
  await plain.close();
  await ref.close();
});

test("64 idle contexts cost little memory; KV memory grows with the tokens held, not the context size, and a reset gives it back", () => {
  // in a child process: RSS is per process, and this one has other tests' allocations
  const script = `const r = require(${JSON.stringify(join(__dirname, "..", "..", "dist", "cjs", "index.js"))});
    (async () => {
      const m = await r.loadModel(${JSON.stringify(join(dir.path, "f32.gguf"))});
      const warm = await m.createContext({ contextSize: 1024, threads: 2 });
      await warm.decode([5, 6, 7]);
      const before = process.memoryUsage().rss;
      const ctxs = [];
      for (let i = 0; i < 64; i++) ctxs.push(await m.createContext({ contextSize: 1024, threads: 2 }));
      const idle = process.memoryUsage().rss - before;
      const s0 = ctxs[0].stats();
      await Promise.all(ctxs.map((c, i) => c.decode(Array.from({ length: 100 }, (_, k) => 3 + ((i * 7 + k) % 500)))));
      const s1 = ctxs[0].stats();
      // 64 x 900 more tokens (KV: 64 x 1000 x 2 layers x 512 bytes = 62.5 MiB), then every context reset
      await Promise.all(ctxs.map((c, i) => c.decode(Array.from({ length: 900 }, (_, k) => 3 + ((i * 5 + k) % 500)))));
      const full = process.memoryUsage().rss;
      await Promise.all(ctxs.map((c) => c.reset()));
      const released = full - process.memoryUsage().rss;
      console.log(JSON.stringify({ idle, kvBytes: s0.kvBytes, used0: s0.kvUsedBytes, used1: s1.kvUsedBytes, released }));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const res = require("node:child_process").spawnSync(process.execPath, ["-e", script], { encoding: "utf8" });
  expect(res.status).toBe(0);
  const r = JSON.parse(res.stdout) as { idle: number; kvBytes: number; used0: number; used1: number; released: number };
  // each context could hold 1024 tokens x 2 layers x (K + V) f16 rows of 128 = 1 MiB of KV, and its
  // forward scratch for 512-row chunks is several MiB more: none of it is touched while idle
  expect(r.kvBytes).toBe(1024 * 2 * 2 * 128 * 2);
  expect(r.idle).toBeLessThan(24 * 1024 * 1024);
  expect(r.used0).toBe(0);
  expect(r.used1).toBe(100 * 2 * 2 * 128 * 2);
  // reset gives the KV pages back (Linux): most of the 62.5 MiB written leaves the RSS
  if (process.platform === "linux") expect(r.released).toBeGreaterThan(48 * 1024 * 1024);
});
