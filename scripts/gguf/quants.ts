// Reference (de)quantizers producing the exact ggml block byte layouts (little-endian).
// Simple round-to-nearest per block/sub-block: not optimal, but any ggml reader decodes our bytes.

import { GgmlTypeName, ggmlRowSize, ggmlTypeInfo } from "./types";

export const QUANTIZABLE_TYPES = [
  "F32",
  "F16",
  "BF16",
  "Q8_0",
  "Q8_1",
  "Q4_0",
  "Q4_1",
  "Q5_0",
  "Q5_1",
  "Q2_K",
  "Q3_K",
  "Q4_K",
  "Q5_K",
  "Q6_K",
  "Q8_K",
] as const satisfies readonly GgmlTypeName[];
export type QuantType = (typeof QUANTIZABLE_TYPES)[number];

export function isQuantizable(type: string): type is QuantType {
  return (QUANTIZABLE_TYPES as readonly string[]).includes(type);
}

// ---------------------------------------------------------------- fp16 / bf16

const f32Buf = new Float32Array(1);
const u32Buf = new Uint32Array(f32Buf.buffer);

/** float32 -> IEEE half bits, round to nearest even; overflow -> inf, NaN stays NaN. */
export function fp32ToFp16(v: number): number {
  f32Buf[0] = v;
  const u = u32Buf[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1) !== 0)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++; // a carry into the exponent is still correct
  return sign | Math.min(h, 0x7c00);
}

let fp16Table: Float32Array | undefined;

function buildFp16Table(): Float32Array {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) t[h] = sign * mant * 2 ** -24;
    else if (exp === 0x1f) t[h] = mant !== 0 ? NaN : sign * Infinity;
    else t[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  return t;
}

export function fp16ToFp32(h: number): number {
  fp16Table ??= buildFp16Table();
  return fp16Table[h & 0xffff];
}

/** float32 -> bfloat16 bits, round to nearest even; NaN stays a quiet NaN. */
export function fp32ToBf16(v: number): number {
  f32Buf[0] = v;
  const u = u32Buf[0];
  if ((u & 0x7fffffff) > 0x7f800000) return (u >>> 16) | 0x40;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16ToFp32(h: number): number {
  u32Buf[0] = (h & 0xffff) << 16;
  return f32Buf[0];
}

const FP16_MAX = 65504;

/** Scale fields saturate instead of becoming inf, so huge inputs clip rather than decode to NaN. */
function scaleToFp16(v: number): number {
  return fp32ToFp16(v > FP16_MAX ? FP16_MAX : v < -FP16_MAX ? -FP16_MAX : v);
}

function putU16(out: Uint8Array, o: number, v: number): void {
  out[o] = v & 0xff;
  out[o + 1] = (v >>> 8) & 0xff;
}

function getU16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}

function getF16(b: Uint8Array, o: number): number {
  return fp16ToFp32(getU16(b, o));
}

/** Writes a scale as fp16 and returns the value a reader will decode. */
function putScale(out: Uint8Array, o: number, v: number): number {
  const h = scaleToFp16(v);
  putU16(out, o, h);
  return fp16ToFp32(h);
}

/**
 * Writes a super-block scale rounded away from zero to the next fp16 value, so sub-scales computed
 * against it never exceed their integer range (matters most when it lands among fp16 subnormals).
 */
function putSuperScale(out: Uint8Array, o: number, v: number): number {
  let h = scaleToFp16(v);
  if (Math.abs(fp16ToFp32(h)) < Math.abs(v) && (h & 0x7fff) < 0x7bff) h++; // +1 ulp in magnitude
  putU16(out, o, h);
  return fp16ToFp32(h);
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

function inv(d: number): number {
  return d !== 0 ? 1 / d : 0;
}

/** Signed value of largest magnitude in x[o, o+n). */
function signedAbsMax(x: Float32Array, o: number, n: number): number {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < n; j++) {
    const v = x[o + j];
    const a = Math.abs(v);
    if (a > amax) {
      amax = a;
      max = v;
    }
  }
  return max;
}

// ---------------------------------------------------------------- 32-element blocks

function quantQ8_0(x: Float32Array, xo: number, out: Uint8Array, oo: number): void {
  const d = putScale(out, oo, Math.abs(signedAbsMax(x, xo, 32)) / 127);
  const id = inv(d);
  for (let j = 0; j < 32; j++) out[oo + 2 + j] = clamp(Math.round(x[xo + j] * id), -127, 127) & 0xff;
}

function dequantQ8_0(b: Uint8Array, bo: number, y: Float32Array, yo: number): void {
  const d = getF16(b, bo);
  for (let j = 0; j < 32; j++) y[yo + j] = d * ((b[bo + 2 + j] << 24) >> 24);
}

function quantQ8_1(x: Float32Array, xo: number, out: Uint8Array, oo: number): void {
  const d = putScale(out, oo, Math.abs(signedAbsMax(x, xo, 32)) / 127);
  const id = inv(d);
  let sum = 0;
  for (let j = 0; j < 32; j++) {
    const q = clamp(Math.round(x[xo + j] * id), -127, 127);
    sum += q;
    out[oo + 4 + j] = q & 0xff;
  }
  putScale(out, oo + 2, d * sum); // s = d * sum(q), used by ggml's dot products
}

function dequantQ8_1(b: Uint8Array, bo: number, y: Float32Array, yo: number): void {
  const d = getF16(b, bo);
  for (let j = 0; j < 32; j++) y[yo + j] = d * ((b[bo + 4 + j] << 24) >> 24);
}

// Q4_0: value = (q - 8) * d; low nibbles hold elements 0..15, high nibbles 16..31.
function quantQ4_0(x: Float32Array, xo: number, out: Uint8Array, oo: number): void {
  const d = putScale(out, oo, signedAbsMax(x, xo, 32) / -8); // the extreme maps exactly to level -8
  const id = inv(d);
  for (let j = 0; j < 16; j++) {
    const q0 = clamp(Math.round(x[xo + j] * id) + 8, 0, 15);
    const q1 = clamp(Math.round(x[xo + 16 + j] * id) + 8, 0, 15);
    out[oo + 2 + j] = q0 | (q1 << 4);
  }
}

function dequantQ4_0(b: Uint8Array, bo: number, y: Float32Array, yo: number): void {
  const d = getF16(b, bo);
  for (let j = 0; j < 16; j++) {
    const q = b[bo + 2 + j];
    y[yo + j] = ((q & 0xf) - 8) * d;
    y[yo + 16 + j] = ((q >> 4) - 8) * d;
  }
}

function minMax(x: Float32Array, o: number, n: number): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let j = 0; j < n; j++) {
    const v = x[o + j];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

// Q4_1: value = q * d + m.
function quantQ4_1(x: Float32Array, xo: number, out: Uint8Array, oo: number): void {
  const [lo, hi] = minMax(x, xo, 32);
  const d = putScale(out, oo, (hi - lo) / 15);
  const m = putScale(out, oo + 2, lo);
  const id = inv(d);
  for (let j = 0; j < 16; j++) {
    const q0 = clamp(Math.round((x[xo + j] - m) * id), 0, 15);
    const q1 = clamp(Math.round((x[xo + 16 + j] - m) * id), 0, 15);
    out[oo + 4 + j] = q0 | (q1 << 4);
  }
}

function dequantQ4_1(b: Uint8Array, bo: number, y: Float32Array, yo: number): void {
  const d = getF16(b, bo);
  const m = getF16(b, bo + 2);
  for (let j = 0; j < 16; j++) {
    const q = b[bo + 4 + j];
    y[yo + j] = (q & 0xf) * d + m;
    y[yo + 16 + j] = (q >> 4) * d + m;
  }
}

function putU32(out: Uint8Array, o: number, v: number): void {
  out[o] = v & 0xff;
  out[o + 1] = (v >>> 8) & 0xff;
  out[o + 2] = (v >>> 16) & 0xff;
  out[o + 3] = (v >>> 24) & 0xff;
}

function getU32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

// Q5_0: value = (q - 16) * d; qh bit j is bit 4 of element j (j = 0..31).
function quantQ5_0(x: Float32Array, xo: number, out: Uint8Array, oo: number): void {
  const d = putScale(out, oo, signedAbsMax(x, xo, 32) / -16);
  const id = inv(d);
  let qh = 0;
  for (let j = 0; j < 16; j++) {
    const q0 = clamp(Math.round(x[xo + j] * id) + 16, 0, 31);
    const q1 = clamp(Math.round(x[xo + 16 + j] * id) + 16, 0, 31);
    out[oo + 6 + j] = (q0 & 0xf) | ((q1 & 0xf) << 4);
    qh |= ((q0 >> 4) << j) | ((q1 >> 4) << (j + 16));
  }
  putU32(out, oo + 2, qh);
}

function dequantQ5_0(b: Uint8Array, bo: number, y: Float32Array, yo: number): void {
  const d = getF16(b, bo);
  const qh = getU32(b, bo + 2);
  for (let j = 0; j < 16; j++) {
    const q = b[bo + 6 + j];
    y[yo + j] = (((q & 0xf) | (((qh >>> j) & 1) << 4)) - 16) * d;
    y[yo + 16 + j] = (((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) - 16) * d;
  }
}

// Q5_1: value = q * d + m, q in 0..31.
function quantQ5_1(x: Float32Array, xo: number, out: Uint8Array, oo: number): void {
  const [lo, hi] = minMax(x, xo, 32);
  const d = putScale(out, oo, (hi - lo) / 31);
  const m = putScale(out, oo + 2, lo);
  const id = inv(d);
  let qh = 0;
  for (let j = 0; j < 16; j++) {
    const q0 = clamp(Math.round((x[xo + j] - m) * id), 0, 31);
    const q1 = clamp(Math.round((x[xo + 16 + j] - m) * id), 0, 31);
    out[oo + 8 + j] = (q0 & 0xf) | ((q1 & 0xf) << 4);
    qh |= ((q0 >> 4) << j) | ((q1 >> 4) << (j + 16));
  }
  putU32(out, oo + 4, qh);
}

function dequantQ5_1(b: Uint8Array, bo: number, y: Float32Array, yo: number): void {
  const d = getF16(b, bo);
  const m = getF16(b, bo + 2);
  const qh = getU32(b, bo + 4);
  for (let j = 0; j < 16; j++) {
    const q = b[bo + 8 + j];
    y[yo + j] = ((q & 0xf) | (((qh >>> j) & 1) << 4)) * d + m;
    y[yo + 16 + j] = ((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) * d + m;
  }
}

// ---------------------------------------------------------------- k-quants (256-element super-blocks)

/**
 * Per sub-block affine fit with a non-positive offset (value = scale*q - min, min >= 0),
 * as Q2_K/Q4_K/Q5_K encode it. Returns [scales, mins].
 */
function affineSubBlocks(
  x: Float32Array,
  xo: number,
  nSub: number,
  subLen: number,
  qmax: number,
): [Float32Array, Float32Array] {
  const scales = new Float32Array(nSub);
  const mins = new Float32Array(nSub);
  for (let s = 0; s < nSub; s++) {
    const [lo, hi] = minMax(x, xo + s * subLen, subLen);
    const lo0 = Math.min(0, lo);
    scales[s] = Math.max(0, hi - lo0) / qmax;
    mins[s] = -lo0;
  }
  return [scales, mins];
}

function maxOf(a: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) if (a[i] > m) m = a[i];
  return m;
}

/** Signed entry of largest magnitude. */
function signedMaxOf(a: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i]) > Math.abs(m)) m = a[i];
  return m;
}

// Q2_K: scales[16] (low nibble scale, high nibble min) | qs[64] | d | dmin.
// Element e: byte 16 + 32*(e>>7) + (e&31), bits 2*((e>>5)&3); sub-block e>>4.
function quantQ2_K(x: Float32Array, xo: number, out: Uint8Array, oo: number): void {
  const [scales, mins] = affineSubBlocks(x, xo, 16, 16, 3);
  const d = putSuperScale(out, oo + 80, maxOf(scales) / 15);
  const dmin = putSuperScale(out, oo + 82, maxOf(mins) / 15);
  out.fill(0, oo + 16, oo + 80);
  for (let s = 0; s < 16; s++) {
    const sc = clamp(Math.round(scales[s] * inv(d)), 0, 15);
    const m = clamp(Math.round(mins[s] * inv(dmin)), 0, 15);
    out[oo + s] = sc | (m << 4);
    const idl = inv(d * sc);
    const ml = dmin * m;
    for (let l = 0; l < 16; l++) {
      const e = s * 16 + l;
      const q = clamp(Math.round((x[xo + e] + ml) * idl), 0, 3);
      out[oo + 16 + 32 * (e >> 7) + (e & 31)] |= q << (2 * ((e >> 5) & 3));
    }
  }
}

function dequantQ2_K(b: Uint8Array, bo: number, y: Float32Array, yo: number): void {
  const d = getF16(b, bo + 80);
  const dmin = getF16(b, bo + 82);
  for (let e = 0; e < 256; e++) {
    const sm = b[bo + (e >> 4)];
    const q = (b[bo + 16 + 32 * (e >> 7) + (e & 31)] >> (2 * ((e >> 5) & 3))) & 3;
    y[yo + e] = d * (sm & 0xf) * q - dmin * (sm >> 4);
  }
}

// Q3_K 6-bit scales (16 of them, stored +32): low nibble in byte i (i<8) or high nibble of
// byte i-8 (i>=8); top 2 bits in byte 8+(i&3) at bit 2*(i>>2).
function packQ3Scales(v: Uint8Array, out: Uint8Array, o: number): void {
  out.fill(0, o, o + 12);
  for (let i = 0; i < 16; i++) {
    if (i < 8) out[o + i] |= v[i] & 0xf;
    else out[o + i - 8] |= (v[i] & 0xf) << 4;
    out[o + 8 + (i & 3)] |= (v[i] >> 4) << (2 * (i >> 2));
  }
}

function unpackQ3Scale(b: Uint8Array, o: number, i: number): number {
  const low = i < 8 ? b[o + i] & 0xf : b[o + i - 8] >> 4;
  const high = (b[o + 8 + (i & 3)] >> (2 * (i >> 2))) & 3;
  return (low | (high << 4)) - 32;
}

// Q3_K: hmask[32] | qs[64] | scales[12] | d; value = d * scale * (q - 4), q 0..7.
// Element e: low 2 bits at byte 32 + 32*(e>>7) + (e&31) bits 2*((e>>5)&3); bit 2 in hmask[e&31] bit e>>5.
function quantQ3_K(x: Float32Array, xo: number, out: Uint8Array, oo: number): void {
  const sub = new Float32Array(16);
  for (let s = 0; s < 16; s++) sub[s] = signedAbsMax(x, xo + s * 16, 16) / -4;
  const d = putSuperScale(out, oo + 108, signedMaxOf(sub) / -32);
  const sv = new Uint8Array(16);
  out.fill(0, oo, oo + 96);
  for (let s = 0; s < 16; s++) {
    const l = clamp(Math.round(sub[s] * inv(d)), -32, 31);
    sv[s] = l + 32;
    const idl = inv(d * l);
    for (let j = 0; j < 16; j++) {
      const e = s * 16 + j;
      const q = clamp(Math.round(x[xo + e] * idl), -4, 3) + 4;
      out[oo + 32 + 32 * (e >> 7) + (e & 31)] |= (q & 3) << (2 * ((e >> 5) & 3));
      out[oo + (e & 31)] |= (q >> 2) << (e >> 5);
    }
  }
  packQ3Scales(sv, out, oo + 96);
}

function dequantQ3_K(b: Uint8Array, bo: number, y: Float32Array, yo: number): void {
  const d = getF16(b, bo + 108);
  for (let e = 0; e < 256; e++) {
    const sc = unpackQ3Scale(b, bo + 96, e >> 4);
    const low = (b[bo + 32 + 32 * (e >> 7) + (e & 31)] >> (2 * ((e >> 5) & 3))) & 3;
    const high = (b[bo + (e & 31)] >> (e >> 5)) & 1;
    y[yo + e] = d * sc * ((low | (high << 2)) - 4);
  }
}

// Q4_K/Q5_K 12-byte scales: 8 scales and 8 mins of 6 bits. Entries 0..3 sit in bytes 0..3 (scale)
// and 4..7 (min); entries 4..7 keep their low nibbles in bytes 8..11 and top 2 bits in bits 6..7
// of bytes 0..3 (scale) and 4..7 (min).
function packK4Scales(sc: Uint8Array, mn: Uint8Array, out: Uint8Array, o: number): void {
  for (let j = 0; j < 4; j++) {
    out[o + j] = sc[j] | ((sc[j + 4] >> 4) << 6);
    out[o + j + 4] = mn[j] | ((mn[j + 4] >> 4) << 6);
    out[o + j + 8] = (sc[j + 4] & 0xf) | ((mn[j + 4] & 0xf) << 4);
  }
}

function unpackK4Scale(b: Uint8Array, o: number, j: number): [number, number] {
  if (j < 4) return [b[o + j] & 63, b[o + j + 4] & 63];
  return [(b[o + j + 4] & 0xf) | ((b[o + j - 4] >> 6) << 4), (b[o + j + 4] >> 4) | ((b[o + j] >> 6) << 4)];
}

/** Shared by Q4_K (bits=4) and Q5_K (bits=5): value = d*sc*q - dmin*m over 8 sub-blocks of 32. */
function quantK45(x: Float32Array, xo: number, out: Uint8Array, oo: number, bits: 4 | 5): void {
  const qmax = (1 << bits) - 1;
  const [scales, mins] = affineSubBlocks(x, xo, 8, 32, qmax);
  const d = putSuperScale(out, oo, maxOf(scales) / 63);
  const dmin = putSuperScale(out, oo + 2, maxOf(mins) / 63);
  const sc = new Uint8Array(8);
  const mn = new Uint8Array(8);
  const qsOff = bits === 4 ? 16 : 48;
  out.fill(0, oo + 16, oo + qsOff + 128);
  for (let s = 0; s < 8; s++) {
    sc[s] = clamp(Math.round(scales[s] * inv(d)), 0, 63);
    mn[s] = clamp(Math.round(mins[s] * inv(dmin)), 0, 63);
    const idl = inv(d * sc[s]);
    const ml = dmin * mn[s];
    for (let l = 0; l < 32; l++) {
      const e = s * 32 + l;
      const q = clamp(Math.round((x[xo + e] + ml) * idl), 0, qmax);
      out[oo + qsOff + 32 * (e >> 6) + (e & 31)] |= (q & 0xf) << (4 * ((e >> 5) & 1));
      if (bits === 5) out[oo + 16 + (e & 31)] |= (q >> 4) << (e >> 5);
    }
  }
  packK4Scales(sc, mn, out, oo + 4);
}

function dequantK45(b: Uint8Array, bo: number, y: Float32Array, yo: number, bits: 4 | 5): void {
  const d = getF16(b, bo);
  const dmin = getF16(b, bo + 2);
  const qsOff = bits === 4 ? 16 : 48;
  for (let s = 0; s < 8; s++) {
    const [sc, m] = unpackK4Scale(b, bo + 4, s);
    for (let l = 0; l < 32; l++) {
      const e = s * 32 + l;
      let q = (b[bo + qsOff + 32 * (e >> 6) + (e & 31)] >> (4 * ((e >> 5) & 1))) & 0xf;
      if (bits === 5) q |= ((b[bo + 16 + (e & 31)] >> (e >> 5)) & 1) << 4;
      y[yo + e] = d * sc * q - dmin * m;
    }
  }
}

// Q6_K: ql[128] | qh[64] | int8 scales[16] | d; value = d * scale * (q - 32), q 0..63.
// Element e (n = e>>7, k = (e>>5)&3, l = e&31): low nibble in ql[64n + l + 32*(k&1)] (high half
// when k >= 2), top 2 bits in qh[32n + l] at bit 2k; sub-block e>>4.
function quantQ6_K(x: Float32Array, xo: number, out: Uint8Array, oo: number): void {
  const sub = new Float32Array(16);
  for (let s = 0; s < 16; s++) sub[s] = signedAbsMax(x, xo + s * 16, 16) / -32;
  const d = putSuperScale(out, oo + 208, signedMaxOf(sub) / -128);
  out.fill(0, oo, oo + 192);
  for (let s = 0; s < 16; s++) {
    const l = clamp(Math.round(sub[s] * inv(d)), -128, 127);
    out[oo + 192 + s] = l & 0xff;
    const idl = inv(d * l);
    for (let j = 0; j < 16; j++) {
      const e = s * 16 + j;
      const q = clamp(Math.round(x[xo + e] * idl), -32, 31) + 32;
      const n = e >> 7;
      const k = (e >> 5) & 3;
      const i = e & 31;
      out[oo + 64 * n + i + 32 * (k & 1)] |= (q & 0xf) << (k >= 2 ? 4 : 0);
      out[oo + 128 + 32 * n + i] |= (q >> 4) << (2 * k);
    }
  }
}

function dequantQ6_K(b: Uint8Array, bo: number, y: Float32Array, yo: number): void {
  const d = getF16(b, bo + 208);
  for (let e = 0; e < 256; e++) {
    const n = e >> 7;
    const k = (e >> 5) & 3;
    const i = e & 31;
    const lo = (b[bo + 64 * n + i + 32 * (k & 1)] >> (k >= 2 ? 4 : 0)) & 0xf;
    const hi = (b[bo + 128 + 32 * n + i] >> (2 * k)) & 3;
    const sc = (b[bo + 192 + (e >> 4)] << 24) >> 24;
    y[yo + e] = d * sc * ((lo | (hi << 4)) - 32);
  }
}

// Q8_K: f32 d | int8 qs[256] | int16 bsums[16] (sum of each group of 16 quants).
function quantQ8_K(x: Float32Array, xo: number, out: Uint8Array, oo: number): void {
  const d = Math.fround(Math.abs(signedAbsMax(x, xo, 256)) / 127);
  const dv = new DataView(out.buffer, out.byteOffset + oo, 292);
  dv.setFloat32(0, d, true);
  const id = inv(d);
  for (let g = 0; g < 16; g++) {
    let sum = 0;
    for (let j = 0; j < 16; j++) {
      const q = clamp(Math.round(x[xo + g * 16 + j] * id), -127, 127);
      sum += q;
      out[oo + 4 + g * 16 + j] = q & 0xff;
    }
    dv.setInt16(260 + 2 * g, sum, true);
  }
}

function dequantQ8_K(b: Uint8Array, bo: number, y: Float32Array, yo: number): void {
  const d = new DataView(b.buffer, b.byteOffset + bo, 4).getFloat32(0, true);
  for (let j = 0; j < 256; j++) y[yo + j] = d * ((b[bo + 4 + j] << 24) >> 24);
}

// ---------------------------------------------------------------- dispatch

type BlockQuant = (x: Float32Array, xo: number, out: Uint8Array, oo: number) => void;
type BlockDequant = (b: Uint8Array, bo: number, y: Float32Array, yo: number) => void;

const BLOCK_CODECS: Partial<Record<QuantType, [BlockQuant, BlockDequant]>> = {
  Q8_0: [quantQ8_0, dequantQ8_0],
  Q8_1: [quantQ8_1, dequantQ8_1],
  Q4_0: [quantQ4_0, dequantQ4_0],
  Q4_1: [quantQ4_1, dequantQ4_1],
  Q5_0: [quantQ5_0, dequantQ5_0],
  Q5_1: [quantQ5_1, dequantQ5_1],
  Q2_K: [quantQ2_K, dequantQ2_K],
  Q3_K: [quantQ3_K, dequantQ3_K],
  Q4_K: [(x, xo, o, oo) => quantK45(x, xo, o, oo, 4), (b, bo, y, yo) => dequantK45(b, bo, y, yo, 4)],
  Q5_K: [(x, xo, o, oo) => quantK45(x, xo, o, oo, 5), (b, bo, y, yo) => dequantK45(b, bo, y, yo, 5)],
  Q6_K: [quantQ6_K, dequantQ6_K],
  Q8_K: [quantQ8_K, dequantQ8_K],
};

function checkType(type: string): asserts type is QuantType {
  if (!isQuantizable(type)) {
    throw new Error(`no reference quantizer for ggml type ${JSON.stringify(type)}; supported: ${QUANTIZABLE_TYPES.join(", ")}`);
  }
}

/** Bytes `n` elements of `type` take; throws unless n is a multiple of the block size. */
export function quantizedSize(type: QuantType, n: number): number {
  return ggmlRowSize(type, n);
}

/**
 * Quantizes `x` (length a multiple of the type's block size; rows of a tensor may be concatenated)
 * into ggml's block layout. Block-quantized types reject NaN and infinities.
 */
export function quantize(type: QuantType, x: Float32Array, out?: Uint8Array): Uint8Array {
  checkType(type);
  const size = quantizedSize(type, x.length);
  if (out !== undefined && out.length !== size) {
    throw new Error(`output buffer for ${x.length} ${type} elements must be ${size} bytes; got ${out.length}`);
  }
  const o = out ?? new Uint8Array(size);
  if (type === "F32") {
    o.set(new Uint8Array(x.buffer, x.byteOffset, size));
    return o;
  }
  if (type === "F16" || type === "BF16") {
    const conv = type === "F16" ? fp32ToFp16 : fp32ToBf16;
    for (let i = 0; i < x.length; i++) putU16(o, 2 * i, conv(x[i]));
    return o;
  }
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) throw new Error(`cannot quantize a non-finite value (${x[i]}) at index ${i} to ${type}`);
  }
  const { blockSize, typeSize } = ggmlTypeInfo(type);
  const [q] = BLOCK_CODECS[type]!;
  for (let b = 0, nb = x.length / blockSize; b < nb; b++) q(x, b * blockSize, o, b * typeSize);
  return o;
}

/** Decodes `n` elements (default: all that `bytes` holds) of ggml `type` back to float32. */
export function dequantize(type: QuantType, bytes: Uint8Array, n?: number): Float32Array {
  checkType(type);
  const { blockSize, typeSize } = ggmlTypeInfo(type);
  const count = n ?? (bytes.length / typeSize) * blockSize;
  const size = quantizedSize(type, count);
  if (bytes.length < size) throw new Error(`${count} ${type} elements need ${size} bytes; got ${bytes.length}`);
  const y = new Float32Array(count);
  if (type === "F32") {
    new Uint8Array(y.buffer).set(bytes.subarray(0, size));
    return y;
  }
  if (type === "F16" || type === "BF16") {
    const conv = type === "F16" ? fp16ToFp32 : bf16ToFp32;
    for (let i = 0; i < count; i++) y[i] = conv(getU16(bytes, 2 * i));
    return y;
  }
  const [, dq] = BLOCK_CODECS[type]!;
  for (let b = 0, nb = count / blockSize; b < nb; b++) dq(bytes, b * typeSize, y, b * blockSize);
  return y;
}

/** sqrt(sum (x-y)^2 / sum x^2); 0 when both are all zero. */
export function normalizedRmsError(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) throw new Error(`length mismatch: ${x.length} vs ${y.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < x.length; i++) {
    const e = x[i] - y[i];
    num += e * e;
    den += x[i] * x[i];
  }
  if (den === 0) return num === 0 ? 0 : Infinity;
  return Math.sqrt(num / den);
}
