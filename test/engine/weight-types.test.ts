// Optimized kernels against the generic reference, end to end: for every weight type the GGUF writer
// produces, the logits of a small random llama under the active tier equal those under
// RINGLLM_KERNELS=generic (a child process per tier: the tier is chosen once per process).
import { join } from "node:path";

import { systemInfo } from "../../lib";
import { QuantType } from "../../scripts/gguf/quants";
import { writeLlamaModel } from "../../scripts/gguf/llama-model";
import { logitsIn, tempDir } from "../helpers";

const TYPES: QuantType[] = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"];
// Same shapes and seed as bench/check-types.mjs and bench/parity.mjs (make-model.ts --dim 256 --ffn 512 --layers 2 --seed 1).
const SHAPE = { seed: 1, nLayer: 2, nEmbd: 256, nHead: 4, nHeadKv: 2, nFf: 512, nVocab: 512, contextLength: 256 };
const TOKENS = [1, 43, 286, 103, 170, 470, 44, 383, 12, 99, 400, 7, 300, 201, 55, 66];
// Quantized dots are bit-identical across tiers and float-row dots differ by at most a last-bit
// rounding, so anything above float noise is a kernel (or ordering) bug.
const BOUND = 1e-4;

let dir: { path: string; cleanup(): void };
const files = new Map<QuantType, string>();

beforeAll(() => {
  dir = tempDir("ringllm-types-");
  for (const t of TYPES) {
    const path = join(dir.path, `m-${t}.gguf`);
    writeLlamaModel(path, { ...SHAPE, weightType: t });
    files.set(t, path);
  }
});
afterAll(() => dir.cleanup());

test(`every writer weight type: active-tier logits equal the generic reference within ${BOUND} (normalized)`, () => {
  const paths = TYPES.map((t) => files.get(t) as string);
  // the child inherits RINGLLM_KERNELS, if set, so "active" means this process's tier
  const opt = logitsIn({}, paths, TOKENS);
  const ref = logitsIn({ RINGLLM_KERNELS: "generic" }, paths, TOKENS);
  expect(opt.kernels).toBe(systemInfo().kernels);
  expect(ref.kernels).toBe("generic");
  const errors: Record<string, number> = {};
  TYPES.forEach((t, i) => {
    const a = opt.logits[i], b = ref.logits[i];
    expect(a.length).toBe(TOKENS.length * SHAPE.nVocab);
    let maxDiff = 0, maxAbs = 0;
    for (let j = 0; j < a.length; j++) {
      maxDiff = Math.max(maxDiff, Math.abs(a[j] - b[j]));
      maxAbs = Math.max(maxAbs, Math.abs(b[j]));
    }
    expect(Number.isFinite(maxDiff) && maxAbs > 0).toBe(true);
    errors[t] = maxDiff / maxAbs;
  });
  const over = Object.entries(errors).filter(([, e]) => !(e < BOUND));
  expect(over).toEqual([]);
}, 60_000);

// llama.cpp's probabilities for the same files (goldens/types-llamacpp.json, see its "about").
// Bounds come from the measured differences (bench/README.md): F32/F16 agree to ~5e-4; llama.cpp
// runs BF16 matmuls with BF16 activations (~6e-3); for quantized weights both libraries quantize
// activations to 8 bits, and on these random models small rounding differences grow through the
// layers (~2e-2). Where llama.cpp's top-2 margin is wide, the argmax must agree.
const LLAMACPP_BOUND: Record<string, number> = { F32: 1e-3, F16: 1e-3, BF16: 1e-2 };
const QUANT_BOUND = 5e-2;

test("every writer weight type: probabilities agree with llama.cpp's within the per-type bound", () => {
  const golden = require("./goldens/types-llamacpp.json") as {
    tokens: number[]; types: Record<string, { top16: [number, number][][] }>;
  };
  expect(golden.tokens).toEqual(TOKENS);
  const types = TYPES.filter((t) => golden.types[t]);
  expect(types.length).toBeGreaterThanOrEqual(7);
  const { logits } = logitsIn({}, types.map((t) => files.get(t) as string), TOKENS);
  const failures: string[] = [];
  types.forEach((t, i) => {
    const bound = LLAMACPP_BOUND[t] ?? QUANT_BOUND;
    golden.types[t].top16.forEach((top, pos) => {
      const row = logits[i].subarray(pos * SHAPE.nVocab, (pos + 1) * SHAPE.nVocab);
      let max = -Infinity;
      for (const v of row) max = Math.max(max, v);
      let sum = 0;
      for (const v of row) sum += Math.exp(v - max);
      const prob = (id: number) => Math.exp(row[id] - max) / sum;
      for (const [id, p] of top) {
        const d = Math.abs(prob(id) - p);
        if (d > bound) failures.push(`${t} position ${pos} token ${id}: |${prob(id).toFixed(5)} - ${p}| > ${bound}`);
      }
      const [[first, p1], [, p2]] = top;
      if (p1 - p2 > 2 * bound) {
        let argmax = 0;
        for (let j = 1; j < row.length; j++) if (row[j] > row[argmax]) argmax = j;
        if (argmax !== first) failures.push(`${t} position ${pos}: argmax ${argmax}, llama.cpp ${first} (margin ${(p1 - p2).toFixed(3)})`);
      }
    });
  });
  expect(failures).toEqual([]);
}, 60_000);
