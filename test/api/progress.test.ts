// Progress of a long prompt: decode({ onProgress }) and generate({ onPromptProgress }) report
// { done, total } from 0 to total, never backwards, with intermediate values while chunks complete.
import { join } from "node:path";

import { loadModel, Model, RingllmError } from "../../lib";
import { writeLlamaModel } from "../../scripts/gguf/llama-model";
import { tempDir } from "../helpers";

let dir: { path: string; cleanup(): void };
let model: Model;
beforeAll(async () => {
  dir = tempDir("ringllm-progress-");
  const file = join(dir.path, "p.gguf");
  // wide enough that a 4096-token prompt takes a few hundred ms in chunks of 64
  writeLlamaModel(file, { nLayer: 4, nEmbd: 256, nHead: 4, nHeadKv: 2, nFf: 512, nVocab: 300, contextLength: 8192, seed: 5 });
  model = await loadModel(file);
});
afterAll(async () => {
  await model?.close();
  dir.cleanup();
});

const prompt = (n: number) => Uint32Array.from({ length: n }, (_, i) => 3 + ((i * 37) % 290));

test("decode reports 0, intermediate counts in whole chunks, and total; the logits are those of a plain decode", async () => {
  const ctx = await model.createContext({ contextSize: 8192, batchSize: 64, threads: 1 });
  const seen: { done: number; total: number }[] = [];
  const logits = await ctx.decode(prompt(4096), { onProgress: (p) => seen.push(p) });
  expect(seen[0]).toEqual({ done: 0, total: 4096 });
  expect(seen[seen.length - 1]).toEqual({ done: 4096, total: 4096 });
  for (let i = 1; i < seen.length; i++) expect(seen[i].done).toBeGreaterThan(seen[i - 1].done);
  const middle = seen.slice(1, -1);
  expect(middle.length).toBeGreaterThan(0);
  for (const p of middle) expect(p.done % 64).toBe(0);
  await ctx.reset();
  expect(await ctx.decode(prompt(4096))).toEqual(logits);
  await ctx.close();
});

test("generate reports the prompt's progress before the first token; a throwing callback fails the call after the decode", async () => {
  const ctx = await model.createContext({ contextSize: 8192, batchSize: 256 });
  const seen: number[] = [];
  let tokens = 0;
  for await (const _ of ctx.generate(prompt(1000), { maxTokens: 3, temperature: 0, onPromptProgress: ({ done }) => seen.push(done) })) {
    expect(seen[seen.length - 1]).toBe(1000);
    tokens++;
  }
  expect(tokens).toBeGreaterThanOrEqual(3); // 3 tokens, and the held-back text flushed at the end
  expect(seen[0]).toBe(0);
  await ctx.reset();
  await expect(ctx.decode(prompt(100), { onProgress: () => { throw new Error("boom"); } })).rejects.toThrow("boom");
  expect(ctx.position).toBe(100); // the decode itself completed
  expect(() => ctx.decode(prompt(10), { onProgress: 5 as never })).toThrow(RingllmError);
  await ctx.close();
});
