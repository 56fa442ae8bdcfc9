// Weights repacked into 8-row groups (native/engine/repack.cpp, kernels/packed.h) against the row
// kernels they replace (RINGLLM_REPACK=0), and every packed tier against the generic reference, end
// to end on small random llamas. The vocabulary (517) is not a multiple of 8, so the output matrix
// also has tail rows that stay on the row kernels.
import { join } from "node:path";

import { loadModel } from "../../lib";
import { QuantType } from "../../scripts/gguf/quants";
import { writeLlamaModel } from "../../scripts/gguf/llama-model";
import { logitsIn, normalizedDiff, tempDir } from "../helpers";

const TYPES: QuantType[] = ["Q8_0", "Q4_0", "Q4_K", "Q5_K", "Q6_K", "F16", "F32"];
const SHAPE = { seed: 3, nLayer: 2, nEmbd: 256, nHead: 4, nHeadKv: 2, nFf: 512, nVocab: 517, contextLength: 256 };
const TOKENS = [1, 43, 286, 103, 170, 470, 44, 383, 12, 99, 400, 7, 300, 201, 55, 66, 516, 515];

let dir: { path: string; cleanup(): void };
let paths: string[];

beforeAll(() => {
  dir = tempDir("ringllm-repack-");
  paths = TYPES.map((t) => {
    const path = join(dir.path, `m-${t}.gguf`);
    writeLlamaModel(path, { ...SHAPE, weightType: t });
    return path;
  });
});
afterAll(() => dir.cleanup());

test("repacked matrices are reported in stats() and shared by the model's contexts", async () => {
  const model = await loadModel(paths[1]);  // Q4_0
  try {
    const a = await model.createContext({ contextSize: 32, threads: 1 });
    const bytes = a.stats().repackedBytes;
    // every matrix of the layers plus the output's 512 full groups of rows: Q4_0 is 18 bytes per 32
    const E = SHAPE.nEmbd, F = SHAPE.nFf, kv = (E / SHAPE.nHead) * SHAPE.nHeadKv;
    const elems = SHAPE.nLayer * (E * E * 2 + E * kv * 2 + 3 * E * F) + 512 * E;
    expect(bytes).toBe((elems / 32) * 18);
    const b = await model.createContext({ contextSize: 32, threads: 1 });
    expect(b.stats().repackedBytes).toBe(bytes);
  } finally {
    await model.close();
  }
});

test("packed kernels vs the row kernels (RINGLLM_REPACK=0): same logits up to float accumulation", () => {
  const on = logitsIn({}, paths, TOKENS);
  const off = logitsIn({ RINGLLM_REPACK: "0" }, paths, TOKENS);
  expect(on.repackedBytes.every((b) => b > 0)).toBe(true);
  expect(off.repackedBytes).toEqual(TYPES.map(() => 0));
  const packed = on.logits, rows = off.logits;
  const errors = TYPES.map((t, i) => [t, normalizedDiff(packed[i], rows[i])] as const);
  console.log(`packed vs row kernels: ${errors.map(([t, e]) => `${t} ${e.toExponential(2)}`).join(", ")}`);
  // Per-block float accumulation instead of double sums moves a dot by ~1e-7 relative (measured
  // 8.5e-8 - 3.0e-7 end to end; a re-quantization flip of an activation could make it ~1e-4).
  for (const [, e] of errors) expect(e).toBeLessThan(1e-4);
  // and the two paths are really different code: not bit-identical everywhere
  expect(errors.some(([, e]) => e > 0)).toBe(true);
}, 60_000);

test("every packed tier equals the generic reference (float noise of the non-matrix ops only)", () => {
  const ref = logitsIn({ RINGLLM_KERNELS: "generic" }, paths, TOKENS);
  expect(ref.kernels).toBe("generic");
  for (const tier of ["avx2", "avx512"]) {
    let res;
    try {
      res = logitsIn({ RINGLLM_KERNELS: tier }, paths, TOKENS);
    } catch (e) {
      if (/is not a kernel tier this binary and CPU can run/.test(String(e))) continue;  // CPU lacks the tier
      throw e;
    }
    expect(res.kernels).toBe(tier);
    TYPES.forEach((t, i) => {
      // the packed matrices are bit-identical across tiers; norms, RoPE and attention are float
      // code whose tiers may differ in the last bit, so the bound is float noise
      expect([tier, t, normalizedDiff(res.logits[i], ref.logits[i]) < 1e-5]).toEqual([tier, t, true]);
    });
  }
}, 120_000);
