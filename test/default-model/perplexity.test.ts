// ringllm's perplexity of the embedded model on the committed validation slice equals, within 1%,
// the one the training script computed in PyTorch on the same weights: the export (F16 matrices,
// adjacent-pair RoPE, GQA layout, vocabulary) and the engine agree with the model that was trained.
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { loadModel, Model } from "../../lib";
import { ROOT } from "../helpers";

const MODELS = join(ROOT, "models");
// scripts/train-tiny.py, VALIDATION PROTOCOL: stream = the tokens of each held-out example (ChatML
// conversations and plain fortunes), weights = 1 on the tokens the model was trained to write (answers
// and their <|im_end|>, plain text and its </s>); consecutive segments of exactly N tokens (shorter
// tail dropped), each fed from position 0 with no extra BOS; tokens 1..N-1 of every segment with
// weight 1 scored; perplexity = exp(mean NLL). PyTorch, float64 log-softmax.
const golden = JSON.parse(readFileSync(join(MODELS, "tiny-validation.json"), "utf8")) as {
  ids: number[];
  weights: number[];
  perplexity: Record<string, { segments: number; scored: number; perplexity: number }>;
};

let model: Model;
beforeAll(async () => { model = await loadModel(); });
afterAll(async () => { await model?.close(); });

async function perplexity(stream: number[], weights: number[], n: number): Promise<{ ppl: number; scored: number; segments: number; capacity: number[] }> {
  const ctx = await model.createContext({ contextSize: n });
  const capacity = ctx.stats().layers.map((l) => l.capacity);
  const vocab = model.vocab.size;
  let nll = 0, scored = 0, segments = 0;
  for (let s = 0; s + n <= stream.length; s += n) {
    await ctx.reset();
    const seg = stream.slice(s, s + n);
    const logits = await ctx.decode(seg.slice(0, -1), { logits: "all" });
    for (let i = 0; i < n - 1; i++) {
      if (weights[s + i + 1] !== 1) continue;
      const row = logits.subarray(i * vocab, (i + 1) * vocab);
      let max = -Infinity;
      for (const x of row) max = Math.max(max, x);
      let sum = 0;
      for (const x of row) sum += Math.exp(x - max);
      nll += max + Math.log(sum) - row[seg[i + 1]];
      scored++;
    }
    segments++;
  }
  await ctx.close();
  return { ppl: Math.exp(nll / scored), scored, segments, capacity };
}

test.each([
  ["128 (one window: every key in view)", 128],
  ["512 (the training length: the sliding window drops keys)", 512],
])("validation perplexity over segments of %s matches PyTorch within 1%%", async (_label, n) => {
  const ref = golden.perplexity[String(n)];
  expect(golden.weights.length).toBe(golden.ids.length);
  const ours = await perplexity(golden.ids, golden.weights, n);
  expect(ours.segments).toBe(ref.segments);
  expect(ours.scored).toBe(ref.scored);
  // The default KV policy runs the trained window: a 128-slot ring per layer, even for 512 tokens.
  expect(ours.capacity).toEqual([128, 128, 128, 128]);
  expect(Math.abs(ours.ppl / ref.perplexity - 1)).toBeLessThan(0.01);
}, 120000);
