import {
  QUANTIZABLE_TYPES,
  QuantType,
  bf16ToFp32,
  dequantize,
  fp16ToFp32,
  fp32ToBf16,
  fp32ToFp16,
  normalizedRmsError,
  quantize,
} from "../../scripts/gguf/quants";
import { Rng } from "../../scripts/gguf/rng";
import { ggmlTypeInfo } from "../../scripts/gguf/types";

// Normalized RMS error bounds on N(0,1) rows. Rounding to a grid of step D costs D/sqrt(12) RMS.
// A b-bit block grid spans about 2*absmax (~2.5 sigma for 32 normal samples, ~2.2 for 16), so the
// expected error is ~ 2*2.5/(2^b*sqrt(12)) = 1.44/2^b: 8 bits 0.6%, 6 bits 2%, 5 bits 4.5%,
// 4 bits 9%, 3 bits 18%, 2 bits 36%. Bounds are that estimate plus ~20% headroom (measured values in
// comments). F16/BF16 are relative rounding: 2^-11 and 2^-8 ulp halves, divided by sqrt(3).
const RMS_BOUND: Record<QuantType, number> = {
  F32: 0,
  F16: 4e-4, // 2.1e-4
  BF16: 3e-3, // 1.7e-3
  Q8_0: 0.008, // 0.53%
  Q8_1: 0.008, // 0.53%
  Q8_K: 0.01, // 0.69% (absmax over 256)
  Q6_K: 0.025, // 1.9%
  Q5_0: 0.055, // 4.3%
  Q5_1: 0.05, // 3.8%
  Q5_K: 0.05, // 3.8%
  Q4_0: 0.11, // 8.6%
  Q4_1: 0.1, // 7.8%
  Q4_K: 0.1, // 7.9%
  Q3_K: 0.2, // 15.5%
  Q2_K: 0.4, // 33%
};

// Types whose simple scale choice makes quantize(dequantize(q)) reproduce q byte for byte.
const EXACT_REENCODE: QuantType[] = ["F32", "F16", "BF16", "Q8_0", "Q8_1", "Q8_K", "Q4_0", "Q4_1", "Q5_0", "Q5_1"];

function normalRow(n: number, seed: number, std = 1, mean = 0): Float32Array {
  return new Rng(seed).fillNormal(new Float32Array(n), std, mean);
}

function blockOf(type: QuantType): number {
  return ggmlTypeInfo(type).blockSize;
}

describe("fp16 and bf16 conversion", () => {
  test("fp16 encodes known values with round-to-nearest-even", () => {
    expect(fp32ToFp16(1)).toBe(0x3c00);
    expect(fp32ToFp16(-2)).toBe(0xc000);
    expect(fp32ToFp16(65504)).toBe(0x7bff);
    expect(fp32ToFp16(65520)).toBe(0x7c00); // rounds up past the largest finite half
    expect(fp32ToFp16(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(fp32ToFp16(2 ** -25)).toBe(0x0000); // tie to even: zero
    expect(fp32ToFp16(3 * 2 ** -25)).toBe(0x0002); // tie to even: 2
    expect(fp32ToFp16(1 + 2 ** -11)).toBe(0x3c00); // tie to even
    expect(fp32ToFp16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(fp32ToFp16(2 ** -14 - 2 ** -25)).toBe(0x0400); // largest subnormal rounds up to smallest normal
    expect(fp32ToFp16(Infinity)).toBe(0x7c00);
    expect(fp16ToFp32(fp32ToFp16(NaN))).toBeNaN();
  });

  test("every finite fp16 value survives fp16 -> f32 -> fp16", () => {
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00) continue;
      expect(fp32ToFp16(fp16ToFp32(h))).toBe(h === 0x8000 ? 0x8000 : h);
    }
  });

  test("bf16 rounds to nearest even and keeps NaN", () => {
    expect(fp32ToBf16(1)).toBe(0x3f80);
    expect(fp32ToBf16(1 + 2 ** -8)).toBe(0x3f80); // tie to even
    expect(fp32ToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(bf16ToFp32(0xc0a0)).toBe(-5);
    expect(bf16ToFp32(fp32ToBf16(NaN))).toBeNaN();
  });
});

describe("known-answer block layouts (bytes written by hand from the ggml block descriptions)", () => {
  const F16_ONE = [0x00, 0x3c];
  const F16_HALF = [0x00, 0x38];

  test("Q8_0: fp16 d then 32 int8", () => {
    const b = new Uint8Array([...F16_HALF, ...Array.from({ length: 32 }, (_, j) => (j - 16) & 0xff)]);
    const y = dequantize("Q8_0", b);
    for (let j = 0; j < 32; j++) expect(y[j]).toBe((j - 16) * 0.5);
    expect(quantize("Q8_0", Float32Array.from(y, (v) => v * 127 / 8)).length).toBe(34);
  });

  test("Q4_0: low nibbles are elements 0..15, high nibbles 16..31, value (q-8)*d", () => {
    const qs = Array.from({ length: 16 }, (_, j) => j | ((15 - j) << 4));
    const b = new Uint8Array([...F16_ONE, ...qs]);
    const y = dequantize("Q4_0", b);
    for (let j = 0; j < 16; j++) {
      expect(y[j]).toBe(j - 8);
      expect(y[16 + j]).toBe(7 - j);
    }
    expect(Array.from(quantize("Q4_0", y))).toEqual(Array.from(b)); // -8 is the extreme, so d = 1 again
  });

  test("Q4_1: d, m, then nibbles; value q*d + m", () => {
    const qs = Array.from({ length: 16 }, (_, j) => j | ((15 - j) << 4));
    const b = new Uint8Array([...F16_HALF, 0x00, 0xc0 /* -2 */, ...qs]);
    const y = dequantize("Q4_1", b);
    for (let j = 0; j < 16; j++) {
      expect(y[j]).toBe(j * 0.5 - 2);
      expect(y[16 + j]).toBe((15 - j) * 0.5 - 2);
    }
    expect(Array.from(quantize("Q4_1", y))).toEqual(Array.from(b));
  });

  test("Q5_0: qh bit j is bit 4 of element j; value (q-16)*d", () => {
    const qh = 0x8001_0003; // elements 0, 1, 16 and 31 have the high bit
    const b = new Uint8Array([...F16_ONE, qh & 0xff, (qh >>> 8) & 0xff, (qh >>> 16) & 0xff, qh >>> 24, ...new Array(16).fill(0x21)]);
    const y = dequantize("Q5_0", b);
    const hi = new Set([0, 1, 16, 31]);
    for (let j = 0; j < 32; j++) {
      const low = j < 16 ? 1 : 2;
      expect(y[j]).toBe(low + (hi.has(j) ? 16 : 0) - 16);
    }
  });

  test("Q5_1: d, m, u32 qh, nibbles; value q*d + m", () => {
    const b = new Uint8Array([...F16_ONE, ...F16_HALF, 0x00, 0x00, 0x01, 0x00, ...new Array(16).fill(0xf0)]);
    const y = dequantize("Q5_1", b);
    for (let j = 0; j < 32; j++) {
      const q = (j < 16 ? 0 : 15) + (j === 16 ? 16 : 0);
      expect(y[j]).toBe(q + 0.5);
    }
  });

  // The k-quant references below follow the published dequantization loops literally.
  function refQ2K(b: Uint8Array): Float32Array {
    const y = new Float32Array(256);
    const d = fp16ToFp32(b[80] | (b[81] << 8));
    const dmin = fp16ToFp32(b[82] | (b[83] << 8));
    let is = 0;
    let yi = 0;
    for (let n = 0; n < 256; n += 128) {
      const q = 16 + (n / 128) * 32;
      for (let shift = 0; shift < 8; shift += 2) {
        for (const half of [0, 16]) {
          const sc = b[is++];
          for (let l = 0; l < 16; l++) y[yi++] = d * (sc & 0xf) * ((b[q + half + l] >> shift) & 3) - dmin * (sc >> 4);
        }
      }
    }
    return y;
  }

  function refQ3K(b: Uint8Array): Float32Array {
    const y = new Float32Array(256);
    const d = fp16ToFp32(b[108] | (b[109] << 8));
    const s = b.subarray(96, 108);
    const scales = new Int8Array(16);
    for (let i = 0; i < 4; i++) {
      scales[i] = ((s[i] & 0xf) | ((s[8 + i] & 3) << 4)) - 32;
      scales[4 + i] = ((s[4 + i] & 0xf) | (((s[8 + i] >> 2) & 3) << 4)) - 32;
      scales[8 + i] = ((s[i] >> 4) | (((s[8 + i] >> 4) & 3) << 4)) - 32;
      scales[12 + i] = ((s[4 + i] >> 4) | (((s[8 + i] >> 6) & 3) << 4)) - 32;
    }
    let is = 0;
    let yi = 0;
    let m = 1;
    for (let n = 0; n < 256; n += 128) {
      const q = 32 + (n / 128) * 32;
      for (let shift = 0; shift < 8; shift += 2) {
        for (const half of [0, 16]) {
          const dl = d * scales[is++];
          for (let l = 0; l < 16; l++) {
            const low = (b[q + half + l] >> shift) & 3;
            y[yi++] = dl * (low - (b[half + l] & m ? 0 : 4));
          }
        }
        m <<= 1;
      }
    }
    return y;
  }

  function scaleMinK4(j: number, q: Uint8Array): [number, number] {
    if (j < 4) return [q[j] & 63, q[j + 4] & 63];
    return [(q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4)];
  }

  function refQ45K(b: Uint8Array, five: boolean): Float32Array {
    const y = new Float32Array(256);
    const d = fp16ToFp32(b[0] | (b[1] << 8));
    const dmin = fp16ToFp32(b[2] | (b[3] << 8));
    const sc = b.subarray(4, 16);
    const qh = b.subarray(16, 48);
    let ql = five ? 48 : 16;
    let is = 0;
    let yi = 0;
    let u1 = 1;
    let u2 = 2;
    for (let j = 0; j < 256; j += 64) {
      const [s1, m1] = scaleMinK4(is, sc);
      const [s2, m2] = scaleMinK4(is + 1, sc);
      for (let l = 0; l < 32; l++) y[yi++] = d * s1 * ((b[ql + l] & 0xf) + (five && qh[l] & u1 ? 16 : 0)) - dmin * m1;
      for (let l = 0; l < 32; l++) y[yi++] = d * s2 * ((b[ql + l] >> 4) + (five && qh[l] & u2 ? 16 : 0)) - dmin * m2;
      ql += 32;
      is += 2;
      u1 <<= 2;
      u2 <<= 2;
    }
    return y;
  }

  function refQ6K(b: Uint8Array): Float32Array {
    const y = new Float32Array(256);
    const d = fp16ToFp32(b[208] | (b[209] << 8));
    for (let n = 0; n < 2; n++) {
      const ql = 64 * n;
      const qh = 128 + 32 * n;
      const sc = 192 + 8 * n;
      for (let l = 0; l < 32; l++) {
        const is = Math.floor(l / 16);
        const s = (k: number): number => (b[sc + is + k] << 24) >> 24;
        const q1 = ((b[ql + l] & 0xf) | (((b[qh + l] >> 0) & 3) << 4)) - 32;
        const q2 = ((b[ql + l + 32] & 0xf) | (((b[qh + l] >> 2) & 3) << 4)) - 32;
        const q3 = ((b[ql + l] >> 4) | (((b[qh + l] >> 4) & 3) << 4)) - 32;
        const q4 = ((b[ql + l + 32] >> 4) | (((b[qh + l] >> 6) & 3) << 4)) - 32;
        y[128 * n + l] = d * s(0) * q1;
        y[128 * n + l + 32] = d * s(2) * q2;
        y[128 * n + l + 64] = d * s(4) * q3;
        y[128 * n + l + 96] = d * s(6) * q4;
      }
    }
    return y;
  }

  const references: [QuantType, (b: Uint8Array) => Float32Array][] = [
    ["Q2_K", refQ2K],
    ["Q3_K", refQ3K],
    ["Q4_K", (b) => refQ45K(b, false)],
    ["Q5_K", (b) => refQ45K(b, true)],
    ["Q6_K", refQ6K],
  ];

  test.each(references)("%s: our bytes decode with the published loop to what our dequantizer says", (type, ref) => {
    // Varying scales per sub-block exercise every packed scale/min bit.
    const x = normalRow(256 * 4, 7);
    for (let i = 0; i < x.length; i++) x[i] *= 0.2 + ((i >> 4) % 16) * 0.3;
    const q = quantize(type, x);
    const ours = dequantize(type, q);
    const { typeSize } = ggmlTypeInfo(type);
    for (let blk = 0; blk < 4; blk++) {
      const expected = ref(q.subarray(blk * typeSize, (blk + 1) * typeSize));
      for (let i = 0; i < 256; i++) expect(ours[blk * 256 + i]).toBeCloseTo(expected[i], 5);
    }
    expect(normalizedRmsError(x, ours)).toBeLessThan(RMS_BOUND[type]);
  });

  test.each(references)("%s: random block bytes decode identically with the published loop", (type, ref) => {
    const rng = new Rng(11);
    const { typeSize } = ggmlTypeInfo(type);
    for (let trial = 0; trial < 20; trial++) {
      const b = new Uint8Array(typeSize);
      for (let i = 0; i < typeSize; i++) b[i] = rng.int(256);
      // keep the fp16 scale fields finite and moderate
      const scaleAt = type === "Q2_K" ? [80, 82] : type === "Q3_K" ? [108] : type === "Q6_K" ? [208] : [0, 2];
      for (const o of scaleAt) [b[o], b[o + 1]] = [rng.int(256), 0x20 + rng.int(0x18)];
      const expected = ref(b);
      const ours = dequantize(type, b);
      for (let i = 0; i < 256; i++) expect(ours[i]).toBeCloseTo(expected[i], 4);
    }
  });
});

describe.each(QUANTIZABLE_TYPES.map((t) => [t] as [QuantType]))("%s reference quantizer", (type) => {
  const block = blockOf(type);
  const { typeSize } = ggmlTypeInfo(type);
  const n = 256 * 8;

  test("byte length is blocks * bytes per block", () => {
    expect(quantize(type, new Float32Array(n)).length).toBe((n / block) * typeSize);
    expect(quantize(type, new Float32Array(n), new Uint8Array((n / block) * typeSize)).length).toBe((n / block) * typeSize);
  });

  test("rejects a row that is not a multiple of the block size", () => {
    if (block === 1) return;
    expect(() => quantize(type, new Float32Array(block + 1))).toThrow(new RegExp(`multiple of ${block}`));
  });

  test(`round trip of N(0,1) values has normalized RMS error below ${RMS_BOUND[type]}`, () => {
    const x = normalRow(n, 1);
    expect(normalizedRmsError(x, dequantize(type, quantize(type, x)))).toBeLessThanOrEqual(RMS_BOUND[type]);
  });

  test("zeros decode to exact zeros", () => {
    const y = dequantize(type, quantize(type, new Float32Array(n)));
    expect(y.every((v) => v === 0)).toBe(true);
  });

  test.each([0.75, -3.25, 1000])("constant row %p decodes to the constant within fp16 precision", (c) => {
    const y = dequantize(type, quantize(type, new Float32Array(n).fill(c)));
    const tol = type === "F32" ? 0 : type === "BF16" ? 4e-3 : 2e-3;
    for (const v of y) expect(Math.abs(v - c)).toBeLessThanOrEqual(Math.abs(c) * tol);
  });

  test("tiny constant row 1e-3 decodes within 2%", () => {
    // k-quant super-scales land among fp16 subnormals here; 6-bit sub-scales then carry the precision.
    const c = Math.fround(1e-3);
    const y = dequantize(type, quantize(type, new Float32Array(n).fill(c)));
    for (const v of y) expect(Math.abs(v - c)).toBeLessThanOrEqual(c * 0.02);
  });

  test("large magnitudes and all-negative rows keep the error bound", () => {
    const big = normalRow(n, 2, 1000);
    const neg = normalRow(n, 3).map((v) => -Math.abs(v) - 5);
    for (const x of [big, neg]) {
      const y = dequantize(type, quantize(type, x));
      expect(y.every(Number.isFinite)).toBe(true);
      expect(normalizedRmsError(x, y)).toBeLessThanOrEqual(RMS_BOUND[type] * 1.05);
    }
  });

  test("an outlier near the fp16 limit is kept and only disturbs its own block", () => {
    const x = normalRow(n, 6, 1000);
    x[block * 2 + 1] = 60000;
    const y = dequantize(type, quantize(type, x));
    expect(y.every(Number.isFinite)).toBe(true);
    expect(Math.abs(y[block * 2 + 1] - 60000) / 60000).toBeLessThanOrEqual(Math.max(RMS_BOUND[type], 2e-3));
    const rest = (a: Float32Array): Float32Array => Float32Array.from(a).fill(0, block * 2, block * 3);
    expect(normalizedRmsError(rest(x), rest(y))).toBeLessThanOrEqual(RMS_BOUND[type] * 1.05);
  });

  test("values beyond the fp16 range saturate instead of becoming NaN", () => {
    if (type === "F16") return; // plain IEEE conversion: overflow is inf by definition
    const x = normalRow(n, 4, 1e9);
    const y = dequantize(type, quantize(type, x));
    expect(y.some(Number.isNaN)).toBe(false);
  });

  if (EXACT_REENCODE.includes(type)) {
    test("re-encoding already-quantized values reproduces the same bytes", () => {
      const q = quantize(type, normalRow(n, 5));
      expect(Buffer.from(quantize(type, dequantize(type, q))).equals(Buffer.from(q))).toBe(true);
    });
  } else {
    test("re-encoding already-quantized values changes them by less than the first pass did", () => {
      const x = normalRow(n, 5);
      const y = dequantize(type, quantize(type, x));
      expect(normalizedRmsError(y, dequantize(type, quantize(type, y)))).toBeLessThan(normalizedRmsError(x, y) / 10);
    });
  }
});

describe("quantizer errors", () => {
  test("block types reject NaN and infinities with the index", () => {
    const x = new Float32Array(32);
    x[7] = NaN;
    expect(() => quantize("Q4_0", x)).toThrow(/index 7/);
  });

  test("unsupported types are named", () => {
    expect(() => quantize("IQ2_XXS" as QuantType, new Float32Array(256))).toThrow(/no reference quantizer for ggml type "IQ2_XXS"/);
  });

  test("wrong output buffer size is rejected", () => {
    expect(() => quantize("Q8_0", new Float32Array(32), new Uint8Array(10))).toThrow(/must be 34 bytes/);
  });
});
