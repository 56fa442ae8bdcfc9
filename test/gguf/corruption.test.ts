// Hostile GGUF files: the writer produces a valid file, then each class of damage is applied.
// Every damaged file must give its stable code from both readGgufInfo and loadModel; none may crash.
import { writeFileSync } from "node:fs";
import { join } from "node:path";

import { loadModel, readGgufInfo, RingllmError } from "../../lib";
import { GgufValueType as T } from "../../scripts/gguf/types";
import { ggufArray, GgufWriter, SerializeResult } from "../../scripts/gguf/writer";
import { tempDir } from "../helpers";

let dir: { path: string; cleanup(): void };
let counter = 0;
beforeAll(() => { dir = tempDir("ringllm-corrupt-"); });
afterAll(() => dir.cleanup());

/** A valid file exercising every metadata type, nested arrays and three tensors. */
function validFile(): SerializeResult {
  const w = new GgufWriter();
  w.addString("general.architecture", "llama");
  w.addU8("t.u8", 200).addI8("t.i8", -5).addU16("t.u16", 60000).addI16("t.i16", -30000);
  w.addU32("t.u32", 4000000000).addI32("t.i32", -2000000000).addF32("t.f32", 0.5).addBool("t.bool", true);
  w.addU64("t.u64", 2n ** 60n).addI64("t.i64", -(2n ** 60n)).addF64("t.f64", Math.PI);
  w.addArray("t.strings", T.STRING, ["a", "bb", ""]);
  w.addArray("t.nested", T.ARRAY, [ggufArray(T.INT32, [1, 2]), ggufArray(T.INT32, [3])]);
  w.addTensorF32("a", [32, 2], new Float32Array(64).fill(1));
  w.addTensorF32("b", [64], new Float32Array(64).fill(2), "Q8_0");
  w.addTensorF32("c", [8], new Float32Array(8).fill(3));
  return w.serialize();
}

async function codeOf(bytes: Uint8Array): Promise<{ info: string; load: string; message: string }> {
  const file = join(dir.path, `f${counter++}.gguf`);
  writeFileSync(file, bytes);
  const code = async (p: Promise<unknown>) => {
    try {
      const v = await p;
      if (v && typeof (v as { close?: unknown }).close === "function") await (v as { close(): Promise<void> }).close();
      return { code: "OK", message: "" };
    } catch (e) {
      if (!(e instanceof RingllmError)) throw e;
      return { code: e.code as string, message: e.message };
    }
  };
  const info = await code(readGgufInfo(file));
  const load = await code(loadModel(file));
  return { info: info.code, load: load.code, message: load.message || info.message };
}

function field(r: SerializeResult, path: string) {
  const f = r.fields.find((x) => x.path === path);
  if (!f) throw new Error(`no field ${path}; have ${r.fields.map((x) => x.path).join(", ")}`);
  return f;
}

function patched(r: SerializeResult, path: string, write: (b: Buffer, offset: number) => void): Buffer {
  const b = Buffer.from(r.bytes);
  write(b, field(r, path).offset);
  return b;
}

test("the undamaged file loads", async () => {
  const r = validFile();
  expect(await codeOf(r.bytes)).toMatchObject({ info: "OK", load: "OK" });
});

test("truncation at the start of and inside every header field gives GGUF_TRUNCATED", async () => {
  const r = validFile();
  const cuts = new Set<number>();
  for (const f of r.fields) {
    cuts.add(f.offset);
    if (f.size > 1) cuts.add(f.offset + Math.floor(f.size / 2));
  }
  expect(r.fields.length).toBeGreaterThan(40);
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    const got = await codeOf(r.bytes.subarray(0, cut));
    if (got.info !== "GGUF_TRUNCATED" || got.load !== "GGUF_TRUNCATED") {
      throw new Error(`cut at ${cut}: readGgufInfo ${got.info}, loadModel ${got.load} (${got.message})`);
    }
  }
});

test("truncation inside the tensor data gives GGUF_TRUNCATED naming the tensor", async () => {
  const r = validFile();
  const last = r.tensorOffsets[r.tensorOffsets.length - 1];
  const got = await codeOf(r.bytes.subarray(0, last.absoluteOffset + 3));
  expect(got).toMatchObject({ info: "GGUF_TRUNCATED", load: "GGUF_TRUNCATED" });
  expect(got.message).toContain(`'${last.name}'`);
});

test.each([
  ["bad magic", "magic", (b: Buffer, o: number) => b.write("GGML", o), "GGUF_BAD_MAGIC"],
  ["version 1", "version", (b: Buffer, o: number) => b.writeUInt32LE(1, o), "GGUF_VERSION"],
  ["version 4", "version", (b: Buffer, o: number) => b.writeUInt32LE(4, o), "GGUF_VERSION"],
  ["big-endian version", "version", (b: Buffer, o: number) => b.writeUInt32BE(3, o), "GGUF_VERSION"],
  ["giant kv_count", "kv_count", (b: Buffer, o: number) => b.writeBigUInt64LE(2n ** 60n, o), "GGUF_BAD_COUNT"],
  ["giant tensor_count", "tensor_count", (b: Buffer, o: number) => b.writeBigUInt64LE(2n ** 63n, o), "GGUF_BAD_COUNT"],
  ["kv_count past the end", "kv_count", (b: Buffer, o: number) => b.writeBigUInt64LE(5000n, o), "GGUF_TRUNCATED"],
  ["giant key length", "kv[1].key_len", (b: Buffer, o: number) => b.writeBigUInt64LE(2n ** 62n, o), "GGUF_BAD_LENGTH"],
  ["key length past the end", "kv[1].key_len", (b: Buffer, o: number) => b.writeBigUInt64LE(1n << 20n, o), "GGUF_TRUNCATED"],
  ["giant array length", "kv[12].array_len", (b: Buffer, o: number) => b.writeBigUInt64LE(2n ** 61n, o), "GGUF_BAD_COUNT"],
  ["array length past the end", "kv[12].array_len", (b: Buffer, o: number) => b.writeBigUInt64LE(1n << 24n, o), "GGUF_TRUNCATED"],
  ["unknown value type", "kv[1].type", (b: Buffer, o: number) => b.writeUInt32LE(13, o), "GGUF_BAD_TYPE"],
  ["unknown array element type", "kv[12].array_type", (b: Buffer, o: number) => b.writeUInt32LE(99, o), "GGUF_BAD_TYPE"],
  ["unknown tensor type id", "tensor[0].type", (b: Buffer, o: number) => b.writeUInt32LE(4, o), "GGUF_BAD_TYPE"],
  ["tensor type id 1000", "tensor[1].type", (b: Buffer, o: number) => b.writeUInt32LE(1000, o), "GGUF_BAD_TYPE"],
  ["offset past EOF", "tensor[2].offset", (b: Buffer, o: number) => b.writeBigUInt64LE(1n << 40n, o), "GGUF_BAD_OFFSET"],
  ["offset near 2^64", "tensor[2].offset", (b: Buffer, o: number) => b.writeBigUInt64LE(2n ** 64n - 32n, o), "GGUF_BAD_OFFSET"],
  ["misaligned offset", "tensor[1].offset", (b: Buffer, o: number) => b.writeBigUInt64LE(b.readBigUInt64LE(o) + 4n, o), "GGUF_MISALIGNED"],
  ["overlapping tensors", "tensor[1].offset", (b: Buffer, o: number) => b.writeBigUInt64LE(0n, o), "GGUF_OVERLAP"],
  ["too many dims", "tensor[0].n_dims", (b: Buffer, o: number) => b.writeUInt32LE(5, o), "GGUF_BAD_SHAPE"],
  ["zero dims", "tensor[0].n_dims", (b: Buffer, o: number) => b.writeUInt32LE(0, o), "GGUF_BAD_SHAPE"],
  ["negative dim", "tensor[0].dims", (b: Buffer, o: number) => b.writeBigInt64LE(-1n, o), "GGUF_BAD_SHAPE"],
  ["element count overflow", "tensor[0].dims", (b: Buffer, o: number) => { b.writeBigInt64LE(2n ** 62n, o); b.writeBigInt64LE(2n ** 62n, o + 8); }, "GGUF_BAD_SHAPE"],
  ["row not a multiple of the block", "tensor[1].dims", (b: Buffer, o: number) => b.writeBigInt64LE(33n, o), "GGUF_BAD_SHAPE"],
  ["non-UTF-8 key", "kv[1].key", (b: Buffer, o: number) => { b[o] = 0xff; }, "GGUF_BAD_UTF8"],
  ["overlong UTF-8 in a key", "kv[1].key", (b: Buffer, o: number) => { b[o] = 0xc0; b[o + 1] = 0xae; }, "GGUF_BAD_UTF8"],
  ["non-UTF-8 tensor name", "tensor[0].name", (b: Buffer, o: number) => { b[o] = 0x80; }, "GGUF_BAD_UTF8"],
])("%s gives its code", async (_label, path, write, code) => {
  const got = await codeOf(patched(validFile(), path, write));
  expect({ info: got.info, load: got.load }).toEqual({ info: code, load: code });
  expect(got.message.length).toBeGreaterThan(20);
});

test("a message names the file and the field", async () => {
  const got = await codeOf(patched(validFile(), "tensor[0].type", (b, o) => b.writeUInt32LE(4, o)));
  expect(got.message).toMatch(/f\d+\.gguf/);
  expect(got.message).toContain("tensor[0] 'a'");
});

test("duplicate keys and duplicate tensor names are refused", async () => {
  const w = new GgufWriter();
  w.addU32("x", 1).add("x", T.UINT32, 2, { allowDuplicateKey: true });
  expect(await codeOf(w.serialize().bytes)).toMatchObject({ info: "GGUF_DUPLICATE_KEY", load: "GGUF_DUPLICATE_KEY" });

  const t = new GgufWriter();
  t.addTensor("w", [4], "F32", new Uint8Array(16));
  t.addTensor("w", [4], "F32", new Uint8Array(16), { unchecked: true });
  expect(await codeOf(t.serialize().bytes)).toMatchObject({ info: "GGUF_DUPLICATE_TENSOR", load: "GGUF_DUPLICATE_TENSOR" });
});

test.each([
  ["not a power of two", T.UINT32, 48],
  ["zero", T.UINT32, 0],
  ["the wrong type", T.UINT64, 32],
])("general.alignment that is %s gives GGUF_BAD_ALIGNMENT", async (_label, type, value) => {
  const w = new GgufWriter();
  w.add("general.alignment", type, value);
  w.addTensor("w", [4], "F32", new Uint8Array(16));
  expect(await codeOf(w.serialize().bytes)).toMatchObject({ info: "GGUF_BAD_ALIGNMENT", load: "GGUF_BAD_ALIGNMENT" });
});

test("a data section that would start past the end of the file gives GGUF_TRUNCATED (found by the fuzzer)", async () => {
  // alignment 2^30 puts the data section beyond this small file even for an empty tensor
  const w = new GgufWriter({ alignment: 2 ** 30, omitPadding: true });
  w.addTensor("w", [0], "F32", new Uint8Array(0));
  expect(await codeOf(w.serialize().bytes)).toMatchObject({ info: "GGUF_TRUNCATED", load: "GGUF_TRUNCATED" });
});

test("arrays nested deeper than the limit give GGUF_BAD_VALUE", async () => {
  let v = ggufArray(T.INT32, [1]);
  for (let i = 0; i < 10; i++) v = ggufArray(T.ARRAY, [v]);
  const w = new GgufWriter();
  w.add("deep", T.ARRAY, v);
  expect(await codeOf(w.serialize().bytes)).toMatchObject({ info: "GGUF_BAD_VALUE", load: "GGUF_BAD_VALUE" });
});

test("random byte damage never crashes: every outcome is OK or a RingllmError code", async () => {
  const r = validFile();
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const seen = new Set<string>();
  for (let i = 0; i < 300; i++) {
    const b = Buffer.from(r.bytes);
    const hits = 1 + Math.floor(rand() * 4);
    for (let h = 0; h < hits; h++) b[Math.floor(rand() * r.dataOffset)] = Math.floor(rand() * 256);
    const got = await codeOf(b);
    expect(got.info).toBe(got.load);
    seen.add(got.info);
  }
  for (const code of seen) expect(code === "OK" || code.startsWith("GGUF_")).toBe(true);
  expect(seen.size).toBeGreaterThan(3);
});
