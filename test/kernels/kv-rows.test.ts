// KV cache row encodings (LONG_CONTEXT.md section 6): the bytes the cache stores for q8_0 and q4_0
// rows are bit-exact with ggml's reference quantizers as written out below (the scale is computed
// and inverted in f32 before it is rounded to f16; q8_0 rounds half away from zero; q4_0 maps the
// value of largest magnitude to level -8 and truncates x/d + 8.5), and f16 rows with the f16
// conversion. (scripts/gguf/quants.ts, the GGUF writer, inverts the f16-rounded scale instead; both
// encodings decode with the same formula, they just pick neighbouring levels now and then.)
import { native } from "../../lib/native";
import { rng } from "../helpers";

const binding = native();

function f16Bytes(x: number): [number, number] {
  const h = (binding.kernelRun("generic", "f32_to_fp16", new Float32Array([x])) as Uint16Array)[0];
  return [h & 0xff, h >> 8];
}

/** ggml's reference block quantizer for Q8_0 / Q4_0, in f32 arithmetic (Math.fround). */
function quantize(type: "Q8_0" | "Q4_0", x: Float32Array): Uint8Array {
  const f = Math.fround;
  const bs = type === "Q8_0" ? 34 : 18;
  const out = new Uint8Array((x.length / 32) * bs);
  for (let b = 0; b < x.length / 32; b++) {
    const o = b * bs;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[b * 32 + j];
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = type === "Q8_0" ? f(amax / 127) : f(max / -8);
    let id = d !== 0 ? f(1 / d) : 0;
    if (!Number.isFinite(id)) id = 0;
    [out[o], out[o + 1]] = f16Bytes(d);
    if (type === "Q8_0") {
      for (let j = 0; j < 32; j++) {
        const v = f(x[b * 32 + j] * id);
        out[o + 2 + j] = (Math.sign(v) * Math.round(Math.abs(v))) & 0xff; // roundf: half away from zero
      }
    } else {
      for (let j = 0; j < 16; j++) {
        const q0 = Math.min(15, Math.trunc(f(f(x[b * 32 + j] * id) + 8.5)));
        const q1 = Math.min(15, Math.trunc(f(f(x[b * 32 + 16 + j] * id) + 8.5)));
        out[o + 2 + j] = q0 | (q1 << 4);
      }
    }
  }
  return out;
}

function rows(seed: number): Float32Array[] {
  const rand = rng(seed);
  const out: Float32Array[] = [];
  for (const scale of [1, 1e-3, 1e4, 1e-30]) {
    const a = new Float32Array(32 * 9);
    for (let i = 0; i < a.length; i++) a[i] = (rand() * 2 - 1) * scale;
    out.push(a);
  }
  const spiky = new Float32Array(64); // one large value per block, exact zeros, negative maxima
  spiky[3] = -7.5;
  spiky[40] = 1000;
  spiky[41] = -999;
  out.push(spiky, new Float32Array(32));
  return out;
}

test.each([
  ["kv_q8_0", "Q8_0"],
  ["kv_q4_0", "Q4_0"],
] as const)("%s rows are bit-exact with the reference %s quantizer", (op, type) => {
  for (const x of rows(7)) {
    const got = binding.kernelRun("active", op, x) as Uint8Array;
    expect(Buffer.from(got).equals(Buffer.from(quantize(type, x)))).toBe(true);
  }
});

test("kv_f16 rows equal the f16 conversion", () => {
  for (const x of rows(8)) {
    const got = binding.kernelRun("active", "kv_f16", x) as Uint8Array;
    const ref = binding.kernelRun("generic", "f32_to_fp16", x) as Uint16Array;
    expect(Buffer.from(got).equals(Buffer.from(ref.buffer, ref.byteOffset, ref.byteLength))).toBe(true);
  }
});

test("a quantized row length that is not a multiple of 32 is an INVALID_ARGUMENT error", () => {
  expect(() => binding.kernelRun("active", "kv_q8_0", new Float32Array(33))).toThrow(
    expect.objectContaining({ code: "INVALID_ARGUMENT" }),
  );
});
