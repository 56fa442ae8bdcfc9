// The native sampler on fixed logits: distributions of temperature / top-k / top-p / min-p,
// penalties, logit bias and seed determinism (through the addon's samplerRun test hook).
import { native } from "../../lib/native";

const LOGITS = new Float32Array([2.0, 1.5, 1.0, 0.5, 0.0, -1.0, -2.0, -4.0]);
const DRAWS = 40000;
const NONE = { temperature: 1, topK: 0, topP: 1, minP: 0 };

function softmax(x: number[], t = 1): number[] {
  const m = Math.max(...x);
  const e = x.map((v) => Math.exp((v - m) / t));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

function run(params: Record<string, unknown>, seed = 1, history: number[] = [], logits = LOGITS): number[] {
  return Array.from(native().samplerRun(logits, params, seed, DRAWS, Uint32Array.from(history)));
}

/** Frequencies match expected probabilities within 5 standard errors each. */
function expectDistribution(counts: number[], expected: number[]): void {
  counts.forEach((c, i) => {
    const p = expected[i];
    const sd = Math.sqrt((p * (1 - p)) / DRAWS);
    expect(Math.abs(c / DRAWS - p)).toBeLessThanOrEqual(5 * sd + 1e-9);
  });
}

test("temperature 1 with no truncation draws from softmax(logits)", () => {
  expectDistribution(run(NONE), softmax(Array.from(LOGITS)));
});

test("temperature scales the logits", () => {
  expectDistribution(run({ ...NONE, temperature: 0.5 }), softmax(Array.from(LOGITS), 0.5));
  expectDistribution(run({ ...NONE, temperature: 2 }), softmax(Array.from(LOGITS), 2));
});

test("temperature 0 is greedy", () => {
  const c = run({ temperature: 0 });
  expect(c[0]).toBe(DRAWS);
});

test("top-k keeps the k most likely tokens, renormalized", () => {
  const p = softmax(Array.from(LOGITS).slice(0, 3));
  expectDistribution(run({ ...NONE, topK: 3 }), [...p, 0, 0, 0, 0, 0]);
});

test("top-p keeps the smallest prefix whose mass reaches p", () => {
  const full = softmax(Array.from(LOGITS));
  // full = [0.386, 0.234, 0.142, 0.086, ...]: cumulative 0.62 < 0.7 <= 0.762 -> keep 3
  expect(full[0] + full[1]).toBeLessThan(0.7);
  expect(full[0] + full[1] + full[2]).toBeGreaterThanOrEqual(0.7);
  const kept = softmax(Array.from(LOGITS).slice(0, 3));
  expectDistribution(run({ ...NONE, topP: 0.7 }), [...kept, 0, 0, 0, 0, 0]);
});

test("min-p drops tokens below p * max probability", () => {
  const full = softmax(Array.from(LOGITS));
  const keep = full.map((q) => q >= 0.3 * full[0]);
  const kept = softmax(Array.from(LOGITS).filter((_, i) => keep[i]));
  let j = 0;
  expectDistribution(run({ ...NONE, minP: 0.3 }), keep.map((k) => (k ? kept[j++] : 0)));
});

test("logit bias shifts and bans tokens", () => {
  const biased = Array.from(LOGITS);
  biased[7] += 6;
  expectDistribution(run({ ...NONE, logitBias: [[7, 6]] }), softmax(biased));
  expect(run({ temperature: 0, logitBias: [[0, -Infinity]] })[1]).toBe(DRAWS);
});

test("repeat penalty divides positive logits of recent tokens and multiplies negative ones", () => {
  const p = Array.from(LOGITS);
  p[0] /= 4; // token 0 (logit 2) seen
  p[6] *= 4; // token 6 (logit -2) seen
  expectDistribution(run({ ...NONE, repeatPenalty: 4 }, 1, [0, 6, 0]), softmax(p));
});

test("frequency and presence penalties subtract count * f + presence", () => {
  const p = Array.from(LOGITS);
  p[0] -= 2 * 0.5 + 1; // seen twice
  p[1] -= 1 * 0.5 + 1; // seen once
  expectDistribution(run({ ...NONE, frequencyPenalty: 0.5, presencePenalty: 1 }, 1, [0, 1, 0]), softmax(p));
});

test("penaltyLastN limits the history the penalties see", () => {
  const p = Array.from(LOGITS);
  p[1] /= 4; // only the last token (1) is inside a window of 1
  expectDistribution(run({ ...NONE, repeatPenalty: 4, penaltyLastN: 1 }, 1, [0, 1]), softmax(p));
});

test("the same seed gives the same draws; different seeds differ", () => {
  expect(run(NONE, 7)).toEqual(run(NONE, 7));
  expect(run(NONE, 7)).not.toEqual(run(NONE, 8));
});

test("banning every token is an error, not a hang or a crash", () => {
  const all = Array.from({ length: LOGITS.length }, (_, i) => [i, -Infinity]);
  expect(() => run({ temperature: 0, logitBias: all })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
});
