// The passkey model (models/ringllm-recall-passkey.gguf, scripts/train-recall.py): a fact 16x the
// recent window back is answered by recall (remap) and not by a window of the same attention budget;
// the model answers it with every token in view when the fact is within its trained 128 tokens.
import { join } from "node:path";

import { loadModel, type Model } from "../../lib";
import { rng, ROOT } from "../helpers";

// scripts/train-recall.py's vocabulary
const N_VALUES = 64, ASK = 3, K0 = 4, V0 = 68, F0 = 132, P0 = 260;
const TRIALS = 30;

let model: Model;
beforeAll(async () => { model = await loadModel(join(ROOT, "models", "ringllm-recall-passkey.gguf")); });
afterAll(async () => { await model.close(); });

/** Accuracy over TRIALS: BOS, filler, fact (key, value) d tokens before the question `ask key`. */
async function accuracy(d: number, kv: object): Promise<number> {
  const ctx = await model.createContext({ contextSize: Infinity, batching: false, kv });
  const r = rng(d);
  let right = 0;
  for (let t = 0; t < TRIALS; t++) {
    const n = d + 20, key = Math.floor(r() * 64), value = Math.floor(r() * N_VALUES);
    const ids = [1, ...Array.from({ length: n - 1 }, () => F0 + Math.floor(r() * 128))];
    ids[n - 1 - d] = P0 + key * N_VALUES + value;
    ids.push(ASK, K0 + key);
    await ctx.reset();
    const logits = await ctx.decode(ids);
    let best = 0;
    for (let v = 1; v < N_VALUES; v++) if (logits[V0 + v] > logits[V0 + best]) best = v;
    right += best === value ? 1 : 0;
  }
  await ctx.close();
  return right / TRIALS;
}

test("recall remap answers a fact 16x its recent window back; a window of the same budget cannot", async () => {
  const recall = await accuracy(512, { policy: "recall", sinks: 4, recent: 32, blockSize: 32, topBlocks: 1, positions: "remap" });
  const window = await accuracy(512, { policy: "window", window: 100 });
  const near = await accuracy(64, { policy: "window", window: 100 });
  console.log(`passkey at 512: recall remap ${recall}, window 100 ${window}; at 64: window 100 ${near}`);
  expect(near).toBeGreaterThanOrEqual(0.9);
  expect(recall).toBeGreaterThanOrEqual(0.8);
  expect(window).toBeLessThanOrEqual(0.2);
});
