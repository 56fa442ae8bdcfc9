// RoPE scaling (LONG_CONTEXT.md section 7) against llama.cpp: linear and YaRN models from
// scripts/gguf/rope-models.ts, scored past their original context; goldens/rope-llamacpp.json
// (field "about"; regenerate with `npx tsx scripts/make-rope-goldens.ts`).
import { join } from "node:path";

import { loadModel } from "../../lib";
import { ROPE_SCORED_IDS, ROPE_TEST_MODELS, writeRopeModel } from "../../scripts/gguf/rope-models";
import { tempDir } from "../helpers";

const golden = require("./goldens/rope-llamacpp.json") as { positions: number[]; models: Record<string, { probs: number[][] }> };

let dir: { path: string; cleanup(): void };
beforeAll(() => { dir = tempDir("ringllm-rope-"); });
afterAll(() => dir.cleanup());

async function probsAt(name: string): Promise<number[][]> {
  const file = join(dir.path, `${name}.gguf`);
  writeRopeModel(file, ROPE_TEST_MODELS[name]);
  const model = await loadModel(file);
  try {
    const ctx = await model.createContext({ contextSize: 512, threads: 1 });
    const logits = await ctx.decode(ROPE_SCORED_IDS, { logits: "all" });
    const n = model.vocab.size;
    return golden.positions.map((pos) => {
      const row = logits.subarray(pos * n, (pos + 1) * n);
      const max = Math.max(...row);
      const e = Array.from(row, (v) => Math.exp(v - max));
      const s = e.reduce((a, b) => a + b, 0);
      return e.map((x) => x / s);
    });
  } finally {
    await model.close();
  }
}

function maxDiff(a: number[][], b: number[][]): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) for (let j = 0; j < a[i].length; j++) m = Math.max(m, Math.abs(a[i][j] - b[i][j]));
  return m;
}

// Measured: 1.3e-5 to 1.9e-5 (f16 KV rounding on both sides). Ignoring the scaling moves the
// probabilities by far more (checked below), so the bound separates right from wrong.
test.each(Object.keys(ROPE_TEST_MODELS).map((k) => [k]))("%s: next-token probabilities match llama.cpp's", async (name) => {
  const got = await probsAt(name);
  expect(maxDiff(got, golden.models[name].probs)).toBeLessThan(1e-4);
});

test("the scaled models really differ from the unscaled one past their original context", () => {
  for (const name of ["linear2", "yarn4", "yarn8"]) {
    expect(maxDiff(golden.models[name].probs, golden.models.none.probs)).toBeGreaterThan(1e-2);
  }
  // yarn differs from plain linear interpolation too
  expect(maxDiff(golden.models.yarn4.probs, golden.models.linear2.probs)).toBeGreaterThan(1e-2);
});
