// Every SIMD kernel tier against the scalar reference (generic), on random, ragged and extreme inputs.
import { native } from "../../lib/native";
import { rng } from "../helpers";

const binding = native();
const tiers = binding.systemInfo().kernelTiers.filter((t) => t !== "generic");
const SIZES = [0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 255, 256, 257, 1000, 4099];

function randomF32(n: number, rand: () => number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (rand() * 2 - 1) * scale;
  return a;
}

test("this machine runs at least the generic tier and reports the active tier among its tiers", () => {
  const info = binding.systemInfo();
  expect(info.kernelTiers).toContain("generic");
  expect(info.kernelTiers).toContain(info.kernels);
});

describe.each(tiers.length ? tiers : ["(no SIMD tier on this CPU)"])("tier %s", (tier) => {
  if (!tiers.length) {
    test.skip("no SIMD tier to compare", () => undefined);
    return;
  }

  test("dot_f32 matches the reference within a normalized error bound on ragged sizes", () => {
    const rand = rng(1);
    for (const n of SIZES) {
      for (const scale of [1, 1e-20, 1e18]) {
        const a = randomF32(n, rand, scale);
        const b = randomF32(n, rand, 1);
        const ref = binding.kernelRun("generic", "dot_f32", a, b) as number;
        const got = binding.kernelRun(tier, "dot_f32", a, b) as number;
        // bound relative to sum |a_i b_i| (the conditioning of the sum), float32 rounding
        let mag = 0;
        for (let i = 0; i < n; i++) mag += Math.abs(a[i] * b[i]);
        expect(Math.abs(got - ref)).toBeLessThanOrEqual(mag * 1e-6 + 1e-30 * scale);
      }
    }
  });

  test("fp16_to_f32 agrees bit-for-bit with the reference on all 65536 halves", () => {
    const all = new Uint16Array(65536 + 5); // ragged length exercises the scalar tail too
    for (let i = 0; i < all.length; i++) all[i] = i & 0xffff;
    const ref = new Uint32Array((binding.kernelRun("generic", "fp16_to_f32", all) as Float32Array).buffer);
    const got = new Uint32Array((binding.kernelRun(tier, "fp16_to_f32", all) as Float32Array).buffer);
    expect(Buffer.from(got.buffer).equals(Buffer.from(ref.buffer))).toBe(true);
  });

  test("bf16_to_f32 agrees bit-for-bit with the reference on all 65536 values", () => {
    const all = new Uint16Array(65536 + 3);
    for (let i = 0; i < all.length; i++) all[i] = i & 0xffff;
    const ref = binding.kernelRun("generic", "bf16_to_f32", all) as Float32Array;
    const got = binding.kernelRun(tier, "bf16_to_f32", all) as Float32Array;
    expect(Buffer.from(got.buffer).equals(Buffer.from(ref.buffer))).toBe(true);
  });

  test("f32_to_fp16 rounds exactly like the reference, including subnormals, overflow and ties", () => {
    const rand = rng(7);
    const special = [0, -0, 1, -1, 65504, 65519.99, 65520, 1e9, -1e9, 6.1e-5, 5.96e-8, 2.98e-8, 2.99e-8, 1e-10,
      Infinity, -Infinity, NaN, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2049, 2051];
    const x = new Float32Array(10007 + special.length);
    x.set(special);
    for (let i = special.length; i < x.length; i++) {
      // log-uniform magnitudes across the whole half range and beyond
      x[i] = (rand() < 0.5 ? -1 : 1) * Math.pow(2, rand() * 46 - 30);
    }
    const ref = binding.kernelRun("generic", "f32_to_fp16", x) as Uint16Array;
    const got = binding.kernelRun(tier, "f32_to_fp16", x) as Uint16Array;
    for (let i = 0; i < x.length; i++) {
      const bothNaN = (ref[i] & 0x7c00) === 0x7c00 && (ref[i] & 0x3ff) !== 0 && (got[i] & 0x7c00) === 0x7c00 && (got[i] & 0x3ff) !== 0;
      if (!bothNaN && got[i] !== ref[i]) throw new Error(`x=${x[i]}: tier ${got[i].toString(16)} reference ${ref[i].toString(16)}`);
    }
  });
});

test("the reference fp16 conversion round-trips every finite half exactly", () => {
  const all = new Uint16Array(65536);
  for (let i = 0; i < 65536; i++) all[i] = i;
  const f = binding.kernelRun("generic", "fp16_to_f32", all) as Float32Array;
  const back = binding.kernelRun("generic", "f32_to_fp16", f) as Uint16Array;
  for (let i = 0; i < 65536; i++) {
    const isNaN = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
    if (isNaN) continue;
    if (back[i] !== i) throw new Error(`half 0x${i.toString(16)} came back as 0x${back[i].toString(16)}`);
  }
  expect(f[0x3c00]).toBe(1);
  expect(f[0x7bff]).toBe(65504);
  expect(f[0x0001]).toBe(2 ** -24);
});

test("an unknown or unavailable tier is refused with a code, not a crash", () => {
  expect(() => binding.kernelRun("sse9", "dot_f32", new Float32Array(1), new Float32Array(1))).toThrow(
    expect.objectContaining({ code: "UNSUPPORTED" }),
  );
  expect(() => binding.kernelRun("generic", "dot_f32", new Float32Array(2), new Float32Array(1))).toThrow(
    expect.objectContaining({ code: "INVALID_ARGUMENT" }),
  );
});
