// Saved state: after loadState a context continues with exactly the tokens (greedy and seeded
// sampling) and logits it would have produced without the save, for every KV policy and type;
// states from another model or another KV configuration are STATE_MISMATCH; damaged or hostile
// states are STATE_CORRUPT and leave the context unchanged (a mutation fuzz with the checksum
// recomputed, so the field checks behind it are what is tested).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Context, type ContextOptions, loadModel, type Model, setLogger } from "../../lib/index";
import { writeArchModel, ARCH_TEST_MODELS } from "../../scripts/gguf/arch-models";
import { writeLlamaModel } from "../../scripts/gguf/llama-model";
import { rng, sharedDescribe, STORIES, tempDir } from "../helpers";


// FNV-1a 64 of the bytes before the 8-byte trailer, written into the trailer (as the engine does).
function reseal(state: Buffer): Buffer {
  let h = 14695981039346656037n;
  const prime = 1099511628211n, mask = (1n << 64n) - 1n;
  for (let i = 0; i < state.length - 8; i++) h = ((h ^ BigInt(state[i])) * prime) & mask;
  state.writeBigUInt64LE(h, state.length - 8);
  return state;
}

// stories260K (heads of 8) for f16; a generated llama model with heads of 32 for the quantized KV types
const CONFIGS: [string, ContextOptions, "stories" | "heads32"][] = [
  ["full f16", { contextSize: 512 }, "stories"],
  ["window 48 (wrapped)", { contextSize: Infinity, kv: { policy: "window", window: 48 } }, "stories"],
  ["sinks 4 + 36 (wrapped)", { contextSize: Infinity, kv: { policy: "sinks", sinks: 4, recent: 36 } }, "stories"],
  ["h2o 16 + 16", { contextSize: 512, kv: { policy: "h2o", heavy: 16, recent: 16 } }, "stories"],
  ["full q8_0", { contextSize: 512, kv: { type: "q8_0" } }, "heads32"],
  ["window q4_0 (wrapped)", { contextSize: Infinity, kv: { policy: "window", window: 40, type: "q4_0" } }, "heads32"],
];

sharedDescribe("saved state", [STORIES], () => {
  let stories: Model, heads32: Model;
  let model: Model;
  let dir: { path: string; cleanup(): void };
  beforeAll(async () => {
    setLogger(null);
    dir = tempDir("ringllm-state-");
    stories = await loadModel(STORIES);
    const file = join(dir.path, "heads32.gguf");
    writeLlamaModel(file, { seed: 3, nLayer: 2, nEmbd: 128, nHead: 4, nHeadKv: 2, nFf: 256, nVocab: 512, contextLength: 1024 });
    heads32 = await loadModel(file);
    model = stories;
  });
  afterAll(async () => {
    await stories?.close();
    await heads32?.close();
    dir?.cleanup();
  });

  const prompt = Array.from({ length: 70 }, (_, i) => 3 + ((i * 7919) % 500));
  const sampling = { temperature: 0.9, topK: 0, topP: 1, minP: 0, maxTokens: 12 };
  const base = { threads: 1, attentionSplits: 1 };

  async function tokens(ctx: Context, options: object): Promise<number[]> {
    const out: number[] = [];
    for await (const c of ctx.generate([], options)) out.push(c.token);
    return out;
  }

  // A context part-way through a sampled generation (so a sampled token is pending), saved.
  async function prepared(options: ContextOptions): Promise<Context> {
    const ctx = await model.createContext({ ...base, ...options, seed: 7 });
    await ctx.decode(prompt);
    for await (const _ of ctx.generate([5], { ...sampling, maxTokens: 4 })) void _;
    return ctx;
  }

  async function continuation(ctx: Context): Promise<{ sampled: number[]; greedy: number[]; logits: Buffer }> {
    const sampled = await tokens(ctx, sampling);
    const greedy = await tokens(ctx, { temperature: 0, maxTokens: 6 });
    const logits = Buffer.from((await ctx.decode([7, 8, 9])).buffer);
    return { sampled, greedy, logits };
  }

  test.each(CONFIGS)("%s: a loaded state continues exactly as the saved context does (buffer and file)", async (_name, options, which) => {
    model = which === "stories" ? stories : heads32;
    const a = await prepared(options);
    const state = await a.saveState();
    const file = join(dir.path, "a.state");
    await a.saveState(file);
    expect(readFileSync(file).equals(state)).toBe(true);
    const position = a.position;
    const expected = await continuation(a);
    await a.close();
    for (const source of [state, file]) {
      const b = await model.createContext({ ...base, ...options, seed: 99 }); // another seed: the RNG state comes from the file
      await b.decode([11, 12, 13]); // and other content, replaced
      await b.loadState(source);
      expect(b.position).toBe(position);
      const got = await continuation(b);
      expect(got.sampled).toEqual(expected.sampled);
      expect(got.greedy).toEqual(expected.greedy);
      expect(got.logits.equals(expected.logits)).toBe(true);
      await b.close();
    }
  });

  test("another KV configuration or another model is STATE_MISMATCH naming what differs", async () => {
    model = heads32;
    const a = await prepared({ contextSize: 512 });
    const state = await a.saveState();
    await a.close();
    const cases: [ContextOptions, RegExp][] = [
      [{ contextSize: 256 }, /layer 0 was saved as a full with 512 slots.*256 slots/],
      [{ contextSize: 512, kv: { policy: "window", window: 64 } }, /full .* window/],
      [{ contextSize: 512, kv: { type: "q8_0" } }, /KV cache type is f16; this context's is q8_0/],
    ];
    for (const [options, message] of cases) {
      const b = await model.createContext({ ...base, ...options });
      await expect(b.loadState(state)).rejects.toMatchObject({ code: "STATE_MISMATCH", message: expect.stringMatching(message) });
      await b.close();
    }
    const s2 = await stories.createContext({ ...base, contextSize: 512 });
    await expect(s2.loadState(state)).rejects.toMatchObject({ code: "STATE_MISMATCH", message: expect.stringMatching(/another model/) });
    await s2.close();
    const other = join(dir.path, "other.gguf");
    writeArchModel(other, ARCH_TEST_MODELS.qwen2);
    const m2 = await loadModel(other);
    const c2 = await m2.createContext({ ...base, contextSize: 512 });
    await expect(c2.loadState(state)).rejects.toMatchObject({ code: "STATE_MISMATCH", message: expect.stringMatching(/another model/) });
    await m2.close();
  });

  test("damaged, truncated and hostile states are STATE_CORRUPT and leave the context unchanged (mutation fuzz, 3 x 150 cases)", async () => {
    model = stories;
    for (const options of [CONFIGS[0][1], CONFIGS[2][1], CONFIGS[3][1]]) {
      const a = await prepared(options);
      const state = await a.saveState();
      const target = await prepared(options); // the same content: a change would show in its continuation
      const before = await target.saveState();
      const bad = [
        Buffer.from(state.subarray(0, state.length - 1)),
        Buffer.from(state.subarray(0, 20)),
        Buffer.alloc(0),
        Buffer.from("not a state at all, just some words"),
      ];
      const flipped = Buffer.from(state);
      flipped[Math.floor(state.length / 2)] ^= 0x40;
      bad.push(flipped); // checksum catches it
      for (const b of bad) await expect(target.loadState(b)).rejects.toMatchObject({ code: "STATE_CORRUPT" });
      // Hostile: mutations in the header and tables with a recomputed checksum.
      const rand = rng(1234);
      const tablesEnd = Math.min(state.length - 8, 4096);
      let corrupt = 0, accepted = 0;
      const N = 150;
      for (let i = 0; i < N; i++) {
        const m = Buffer.from(state);
        const k = 1 + Math.floor(rand() * 3);
        for (let j = 0; j < k; j++) m[Math.floor(rand() * tablesEnd)] = Math.floor(rand() * 256);
        reseal(m);
        try {
          await target.loadState(m);
          accepted++; // a change the checks cannot see (e.g. a logit or the RNG): allowed, but restore
          await target.loadState(before);
        } catch (err) {
          expect(["STATE_CORRUPT", "STATE_MISMATCH"]).toContain((err as { code: string }).code);
          corrupt++;
        }
      }
      expect(corrupt).toBeGreaterThan(0);
      // after all that, the target still continues exactly as the original
      const want = await continuation(a);
      const got = await continuation(target);
      expect(got.sampled).toEqual(want.sampled);
      expect(got.logits.equals(want.logits)).toBe(true);
      expect(accepted + corrupt).toBe(N);
      await a.close();
      await target.close();
    }
  }, 60_000);

  test("bad arguments and files", async () => {
    model = stories;
    const ctx = await model.createContext({ ...base, contextSize: 64 });
    await expect(ctx.loadState(join(dir.path, "missing.state"))).rejects.toMatchObject({ code: "ENOENT" });
    await expect(ctx.loadState(dir.path)).rejects.toMatchObject({ code: "EISDIR" });
    await expect(ctx.loadState(42 as unknown as string)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(ctx.saveState(join(dir.path, "no", "such", "dir.state"))).rejects.toMatchObject({ code: "ENOENT" });
    writeFileSync(join(dir.path, "empty.state"), "");
    await expect(ctx.loadState(join(dir.path, "empty.state"))).rejects.toMatchObject({ code: "STATE_CORRUPT" });
    await ctx.close();
  });
});
