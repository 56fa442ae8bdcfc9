import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LLAMA_FILE_TYPE, buildLlamaModel, makeSpmVocab, writeLlamaModel } from "../../scripts/gguf/llama-model";
import { dequantize, quantize } from "../../scripts/gguf/quants";
import { Rng } from "../../scripts/gguf/rng";
import { GgmlType, GgufValueType, ggmlTypeInfo } from "../../scripts/gguf/types";
import { GgufWriter, ggufArray } from "../../scripts/gguf/writer";

// ---- an independent minimal GGUF reader (written from the format description, not the writer)

interface ReadKv {
  key: Buffer;
  type: number;
  value: unknown;
}
interface ReadTensor {
  name: string;
  dims: bigint[];
  type: number;
  offset: bigint;
}
interface ReadFile {
  version: number;
  kvs: ReadKv[];
  tensors: ReadTensor[];
  headerEnd: number;
  alignment: number;
  dataOffset: number;
  kv(key: string): unknown;
}

function readGguf(buf: Buffer): ReadFile {
  let p = 0;
  const u32 = (): number => ((p += 4), buf.readUInt32LE(p - 4));
  const u64 = (): bigint => ((p += 8), buf.readBigUInt64LE(p - 8));
  const str = (): Buffer => {
    const n = Number(u64());
    p += n;
    return buf.subarray(p - n, p);
  };
  const value = (type: number): unknown => {
    switch (type) {
      case 0: return buf.readUInt8(p++);
      case 1: return buf.readInt8(p++);
      case 2: return ((p += 2), buf.readUInt16LE(p - 2));
      case 3: return ((p += 2), buf.readInt16LE(p - 2));
      case 4: return u32();
      case 5: return ((p += 4), buf.readInt32LE(p - 4));
      case 6: return ((p += 4), buf.readFloatLE(p - 4));
      case 7: return buf.readUInt8(p++) !== 0;
      case 8: return str().toString("utf8");
      case 9: {
        const et = u32();
        const n = Number(u64());
        return Array.from({ length: n }, () => value(et));
      }
      case 10: return u64();
      case 11: return ((p += 8), buf.readBigInt64LE(p - 8));
      case 12: return ((p += 8), buf.readDoubleLE(p - 8));
      default: throw new Error(`reader: unknown value type ${type}`);
    }
  };
  if (buf.subarray(0, 4).toString("latin1") !== "GGUF") throw new Error("bad magic");
  p = 4;
  const version = u32();
  const nTensors = Number(u64());
  const nKv = Number(u64());
  const kvs: ReadKv[] = [];
  for (let i = 0; i < nKv; i++) {
    const key = str();
    const type = u32();
    kvs.push({ key, type, value: value(type) });
  }
  const tensors: ReadTensor[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = str().toString("utf8");
    const nd = u32();
    const dims = Array.from({ length: nd }, () => u64());
    tensors.push({ name, dims, type: u32(), offset: u64() });
  }
  const kv = (key: string): unknown => kvs.find((e) => e.key.toString("utf8") === key)?.value;
  const alignment = (kv("general.alignment") as number | undefined) ?? 32;
  return { version, kvs, tensors, headerEnd: p, alignment, dataOffset: Math.ceil(p / alignment) * alignment, kv };
}

function tmpFile(name: string): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ringllm-gguf-")), name);
}

function sampleWriter(opts: ConstructorParameters<typeof GgufWriter>[0] = {}): GgufWriter {
  const w = new GgufWriter(opts);
  w.addString("general.architecture", "llama");
  w.addU32("test.u32", 7);
  w.addArray("test.strings", GgufValueType.STRING, ["a", "bc", "é"]);
  w.addTensor("a", [32, 3], "Q8_0", new Uint8Array(3 * 34).fill(1));
  w.addTensorF32("b", [5], Float32Array.from([1, 2, 3, 4, 5]));
  w.addTensor("c", [2, 2], "F16", new Uint8Array(8).fill(2));
  return w;
}

describe("GgufWriter header", () => {
  test("magic, version 3, counts and every value type round-trip through an independent reader", () => {
    const w = new GgufWriter();
    w.addU8("t.u8", 255).addI8("t.i8", -128).addU16("t.u16", 65535).addI16("t.i16", -32768);
    w.addU32("t.u32", 0xffffffff).addI32("t.i32", -0x80000000).addF32("t.f32", 1.5).addBool("t.bool", true);
    w.addString("t.str", "héllo ▁wörld").addU64("t.u64", (1n << 64n) - 1n).addI64("t.i64", -(1n << 63n)).addF64("t.f64", Math.PI);
    w.addArray("t.arr", GgufValueType.INT32, [1, -2, 3]);
    const { bytes } = w.serialize();
    const r = readGguf(bytes);
    expect(bytes.subarray(0, 4).toString()).toBe("GGUF");
    expect(r.version).toBe(3);
    expect(r.kvs.map((k) => k.type)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 9]);
    expect(r.kv("t.u8")).toBe(255);
    expect(r.kv("t.i8")).toBe(-128);
    expect(r.kv("t.u16")).toBe(65535);
    expect(r.kv("t.i16")).toBe(-32768);
    expect(r.kv("t.u32")).toBe(0xffffffff);
    expect(r.kv("t.i32")).toBe(-0x80000000);
    expect(r.kv("t.f32")).toBe(1.5);
    expect(r.kv("t.bool")).toBe(true);
    expect(r.kv("t.str")).toBe("héllo ▁wörld");
    expect(r.kv("t.u64")).toBe((1n << 64n) - 1n);
    expect(r.kv("t.i64")).toBe(-(1n << 63n));
    expect(r.kv("t.f64")).toBe(Math.PI);
    expect(r.kv("t.arr")).toEqual([1, -2, 3]);
    expect(r.tensors).toEqual([]);
  });

  test("nested arrays of arrays and empty arrays", () => {
    const w = new GgufWriter();
    w.addArray("nested", GgufValueType.ARRAY, [
      ggufArray(GgufValueType.UINT32, [1, 2]),
      ggufArray(GgufValueType.STRING, ["x"]),
      ggufArray(GgufValueType.ARRAY, [ggufArray(GgufValueType.BOOL, [true, false])]),
      ggufArray(GgufValueType.FLOAT64, []),
    ]);
    w.addArray("empty", GgufValueType.STRING, []);
    const r = readGguf(w.serialize().bytes);
    expect(r.kv("nested")).toEqual([[1, 2], ["x"], [[true, false]], []]);
    expect(r.kv("empty")).toEqual([]);
  });

  test("v2 and v3 differ only in the version field", () => {
    const a = sampleWriter({ version: 2 }).serialize();
    const b = sampleWriter({ version: 3 }).serialize();
    expect(a.bytes.length).toBe(b.bytes.length);
    expect(a.bytes.readUInt32LE(4)).toBe(2);
    expect(b.bytes.readUInt32LE(4)).toBe(3);
    a.bytes.writeUInt32LE(3, 4);
    expect(a.bytes.equals(b.bytes)).toBe(true);
    expect(() => new GgufWriter({ version: 1 as 2 })).toThrow(/version must be 2 or 3/);
  });

  test("field spans are contiguous, cover the header up to the data section and name every field", () => {
    const w = sampleWriter();
    w.addArray("nested", GgufValueType.ARRAY, [ggufArray(GgufValueType.UINT8, [1])]);
    const { bytes, fields, dataOffset } = w.serialize();
    let at = 0;
    for (const f of fields) {
      expect(f.offset).toBe(at);
      at += f.size;
    }
    expect(at).toBe(dataOffset);
    const r = readGguf(bytes);
    expect(fields.find((f) => f.path === "tensor[2].offset")!.offset + 8).toBe(r.headerEnd);
    const paths = new Set(fields.map((f) => f.path));
    for (const p of ["magic", "version", "tensor_count", "kv_count", "header_padding"]) expect(paths.has(p)).toBe(true);
    r.kvs.forEach((kv, i) => {
      for (const part of ["key_len", "key", "type", "value"]) expect(paths.has(`kv[${i}].${part}`)).toBe(true);
      if (kv.type === GgufValueType.STRING) expect(paths.has(`kv[${i}].value_len`)).toBe(true);
      if (kv.type === GgufValueType.ARRAY) {
        expect(paths.has(`kv[${i}].array_type`)).toBe(true);
        expect(paths.has(`kv[${i}].array_len`)).toBe(true);
      }
    });
    for (let i = 0; i < 3; i++) {
      for (const part of ["name_len", "name", "n_dims", "dims", "type", "offset"]) expect(paths.has(`tensor[${i}].${part}`)).toBe(true);
    }
    const span = (p: string): Buffer => {
      const f = fields.find((x) => x.path === p)!;
      return bytes.subarray(f.offset, f.offset + f.size);
    };
    expect(span("magic").toString()).toBe("GGUF");
    expect(span("version").readUInt32LE(0)).toBe(3);
    expect(span("kv[0].key").toString()).toBe("general.architecture");
    expect(span("kv[0].value").toString()).toBe("llama");
    expect(span("kv[2].array_len").readBigUInt64LE(0)).toBe(3n);
    expect(span("tensor[1].name").toString()).toBe("b");
    expect(span("tensor[0].dims").length).toBe(16);
    expect(span("tensor[0].type").readUInt32LE(0)).toBe(GgmlType.Q8_0);
  });

  test("data section and every tensor offset are aligned; bytes land where the header says", () => {
    for (const alignment of [32, 64, 8]) {
      const w = sampleWriter({ alignment });
      const { bytes, dataOffset, tensorOffsets } = w.serialize();
      const r = readGguf(bytes);
      expect(r.alignment).toBe(alignment);
      expect(dataOffset).toBe(r.dataOffset);
      expect(dataOffset % alignment).toBe(0);
      expect(bytes.length % alignment).toBe(0);
      r.tensors.forEach((t, i) => {
        expect(Number(t.offset) % alignment).toBe(0);
        expect(Number(t.offset)).toBe(tensorOffsets[i].dataOffset);
        expect(tensorOffsets[i].absoluteOffset).toBe(dataOffset + Number(t.offset));
      });
      const b = tensorOffsets[1];
      expect(Array.from(new Float32Array(bytes.buffer.slice(bytes.byteOffset + b.absoluteOffset, bytes.byteOffset + b.absoluteOffset + 20)))).toEqual([1, 2, 3, 4, 5]);
      expect(bytes[tensorOffsets[2].absoluteOffset]).toBe(2);
      // general.alignment is written (as kv[0]) only when it is not the default
      expect(r.kvs[0].key.toString() === "general.alignment").toBe(alignment !== 32);
    }
    const forced = readGguf(sampleWriter({ writeAlignmentKey: true }).serialize().bytes);
    expect(forced.kvs[0].key.toString()).toBe("general.alignment");
    expect(forced.kvs[0].type).toBe(GgufValueType.UINT32);
    expect(forced.kvs[0].value).toBe(32);
  });

  test("addTensorF32 stores exactly what the quantizer produces", () => {
    const x = new Rng(3).fillNormal(new Float32Array(64 * 2));
    const w = new GgufWriter();
    w.addTensorF32("q", [64, 2], x, "Q4_0");
    const { bytes, tensorOffsets } = w.serialize();
    const t = tensorOffsets[0];
    expect(t.size).toBe(2 * 2 * 18);
    expect(Buffer.from(bytes.subarray(t.absoluteOffset, t.absoluteOffset + t.size)).equals(Buffer.from(quantize("Q4_0", x)))).toBe(true);
    expect(readGguf(bytes).tensors[0]).toEqual({ name: "q", dims: [64n, 2n], type: GgmlType.Q4_0, offset: 0n });
  });
});

describe("GgufWriter validation", () => {
  test("rejects data of the wrong size, ragged rows, bad dims, long names and duplicates", () => {
    const w = new GgufWriter();
    expect(() => w.addTensor("x", [32], "Q8_0", new Uint8Array(33))).toThrow(/needs 34 bytes; got 33/);
    expect(() => w.addTensor("x", [33], "Q8_0", new Uint8Array(34))).toThrow(/multiple of 32/);
    expect(() => w.addTensor("x", [1, 1, 1, 1, 1], "F32", new Uint8Array(4))).toThrow(/1..4 dimensions/);
    expect(() => w.addTensor("n".repeat(64), [1], "F32", new Uint8Array(4))).toThrow(/longer than 63/);
    expect(() => w.addTensorF32("x", [4], new Float32Array(3))).toThrow(/needs 4 values; got 3/);
    w.addTensor("x", [1], "F32", new Uint8Array(4));
    expect(() => w.addTensor("x", [1], "F32", new Uint8Array(4))).toThrow(/duplicate tensor name/);
    expect(() => w.addU8("k", 256)).toThrow(/integer in \[0, 255\]/);
    expect(() => w.addI32("k", 1.5)).toThrow(/integer/);
    expect(() => w.addU64("k", -1)).toThrow(/\[0, 18446744073709551615\]/);
    expect(() => w.add("k", 99, 1)).toThrow(/unknown GGUF value type 99/);
    expect(() => w.addArray("k", GgufValueType.UINT8, [1, 300])).toThrow(/\[1\]/);
    w.addU32("k", 1);
    expect(() => w.addU32("k", 2)).toThrow(/duplicate metadata key "k"/);
    expect(() => new GgufWriter({ alignment: 0 })).toThrow(/alignment/);
  });
});

describe("GgufWriter escape hatches for hostile files", () => {
  test("raw key bytes, raw value type ids, raw values and duplicate keys", () => {
    const w = new GgufWriter();
    const badKey = Uint8Array.from([0xff, 0xfe, 0x41]);
    w.addRawKv(badKey, 0xdead, Uint8Array.from([1, 2, 3]));
    w.addU32(Uint8Array.from([0xc3, 0x28]), 5); // invalid UTF-8 key
    w.add("dup", GgufValueType.UINT8, 1);
    w.add("dup", GgufValueType.UINT8, 2, { allowDuplicateKey: true });
    const { bytes, fields } = w.serialize();
    const f = (p: string): Buffer => {
      const s = fields.find((x) => x.path === p)!;
      return bytes.subarray(s.offset, s.offset + s.size);
    };
    expect(Array.from(f("kv[0].key"))).toEqual([0xff, 0xfe, 0x41]);
    expect(f("kv[0].type").readUInt32LE(0)).toBe(0xdead);
    expect(Array.from(f("kv[0].value"))).toEqual([1, 2, 3]);
    expect(Array.from(f("kv[1].key"))).toEqual([0xc3, 0x28]);
    expect(f("kv_count").readBigUInt64LE(0)).toBe(4n);
  });

  test("arbitrary tensor type id, explicit offset, unchecked shapes and rawVersion", () => {
    const w = new GgufWriter({ rawVersion: 7 });
    w.addTensor("t0", [4], "F32", new Uint8Array(16), { rawTypeId: 1234 });
    w.addTensor("t1", [4], "F32", new Uint8Array(16), { explicitOffset: (1n << 62n) + 1n });
    w.addTensor("t1", [1, 2, 3, 4, 5, 1n << 62n], "F32", new Uint8Array(3), { unchecked: true });
    const { bytes, tensorOffsets } = w.serialize();
    const r = readGguf(bytes);
    expect(r.version).toBe(7);
    expect(r.tensors[0].type).toBe(1234);
    expect(r.tensors[1].offset).toBe((1n << 62n) + 1n);
    expect(tensorOffsets[1].dataOffset).toBe(32); // the bytes themselves stay in place
    expect(r.tensors[2].dims).toEqual([1n, 2n, 3n, 4n, 5n, 1n << 62n]);
    expect(r.tensors[2].name).toBe("t1");
    expect(tensorOffsets[2].size).toBe(3);
  });

  test("omitPadding packs the data section right after the header and tensors back to back", () => {
    const w = new GgufWriter({ omitPadding: true });
    w.addTensor("a", [3], "I8", new Uint8Array([1, 2, 3]));
    w.addTensor("b", [1], "F32", new Uint8Array([4, 5, 6, 7]));
    const { bytes, dataOffset, fields, tensorOffsets } = w.serialize();
    const r = readGguf(bytes);
    expect(dataOffset).toBe(r.headerEnd);
    expect(fields.some((f) => f.path === "header_padding")).toBe(false);
    expect(r.tensors.map((t) => t.offset)).toEqual([0n, 3n]);
    expect(bytes.length).toBe(dataOffset + 7);
    expect(Array.from(bytes.subarray(tensorOffsets[1].absoluteOffset))).toEqual([4, 5, 6, 7]);
  });
});

describe("GgufWriter streaming", () => {
  test("writeFile produces the same bytes as serialize, pulling lazy tensor chunks", () => {
    const file = tmpFile("stream.gguf");
    const make = (): GgufWriter => {
      const w = sampleWriter();
      w.addTensor("lazy", [32, 4], "Q8_0", function* () {
        for (let r = 0; r < 4; r++) yield new Uint8Array(34).fill(r + 1);
      });
      w.addTensorF32("lazyf", [64, 3], () => [new Float32Array(64).fill(1), new Float32Array(128).fill(-2)], "Q4_K" as never);
      return w;
    };
    expect(() => make()).toThrow(/multiple of 256/);
    const make2 = (): GgufWriter => {
      const w = sampleWriter();
      w.addTensor("lazy", [32, 4], "Q8_0", function* () {
        for (let r = 0; r < 4; r++) yield new Uint8Array(34).fill(r + 1);
      });
      w.addTensorF32("lazyf", [64, 3], () => [new Float32Array(64).fill(1), new Float32Array(128).fill(-2)], "Q8_0");
      return w;
    };
    const res = make2().writeFile(file);
    const mem = make2().serialize();
    const disk = fs.readFileSync(file);
    expect(disk.equals(mem.bytes)).toBe(true);
    expect(res.size).toBe(disk.length);
    expect(res.tensorOffsets).toEqual(mem.tensorOffsets);
    const t = mem.tensorOffsets[4];
    const got = Array.from(dequantize("Q8_0", disk.subarray(t.absoluteOffset, t.absoluteOffset + t.size)).subarray(60, 68));
    expect(got.map((v) => Math.round(v * 100) / 100)).toEqual([1, 1, 1, 1, -2, -2, -2, -2]);
  });

  test("a lazy source of the wrong size fails and leaves no file behind", () => {
    const file = tmpFile("bad.gguf");
    const w = new GgufWriter();
    w.addTensor("x", [8], "F32", () => new Uint8Array(31));
    expect(() => w.writeFile(file)).toThrow(/produced 31 bytes; expected 32/);
    expect(fs.existsSync(file)).toBe(false);
    const w2 = new GgufWriter();
    w2.addTensor("x", [8], "F32", () => [new Uint8Array(32), new Uint8Array(1)]);
    expect(() => w2.serialize()).toThrow(/more than 32 bytes/);
  });
});

describe("random llama models", () => {
  const base = { nLayer: 2, nEmbd: 64, nHead: 4, nHeadKv: 2, nFf: 96, nVocab: 300, contextLength: 128 };

  test("metadata, vocab and tensor shapes are what llama.cpp expects", () => {
    const { bytes } = buildLlamaModel({ ...base, weightType: "Q8_0", slidingWindow: 32 }).serialize();
    const r = readGguf(bytes);
    expect(r.kv("general.architecture")).toBe("llama");
    expect(r.kv("llama.block_count")).toBe(2);
    expect(r.kv("llama.embedding_length")).toBe(64);
    expect(r.kv("llama.attention.head_count_kv")).toBe(2);
    expect(r.kv("llama.rope.dimension_count")).toBe(16);
    expect(r.kv("llama.attention.sliding_window")).toBe(32);
    expect(r.kv("general.file_type")).toBe(LLAMA_FILE_TYPE.Q8_0);
    expect(r.kv("llama.rope.freq_base")).toBe(10000);
    const tokens = r.kv("tokenizer.ggml.tokens") as string[];
    const types = r.kv("tokenizer.ggml.token_type") as number[];
    expect(tokens.length).toBe(300);
    expect(new Set(tokens).size).toBe(300);
    expect(tokens.slice(0, 4)).toEqual(["<unk>", "<s>", "</s>", "<0x00>"]);
    expect(tokens[258]).toBe("<0xFF>");
    expect(types.slice(0, 3)).toEqual([2, 3, 3]);
    expect(types.slice(3, 259).every((t) => t === 6)).toBe(true);
    expect(types.slice(259).every((t) => t === 1)).toBe(true);
    expect((r.kv("tokenizer.ggml.scores") as number[]).length).toBe(300);
    const shapes = Object.fromEntries(r.tensors.map((t) => [t.name, [t.dims.map(Number), t.type]]));
    expect(shapes["token_embd.weight"]).toEqual([[64, 300], GgmlType.Q8_0]);
    expect(shapes["output.weight"]).toEqual([[64, 300], GgmlType.Q8_0]);
    expect(shapes["output_norm.weight"]).toEqual([[64], GgmlType.F32]);
    expect(shapes["blk.1.attn_k.weight"]).toEqual([[64, 32], GgmlType.Q8_0]);
    expect(shapes["blk.1.attn_v.weight"]).toEqual([[64, 32], GgmlType.Q8_0]);
    expect(shapes["blk.0.attn_q.weight"]).toEqual([[64, 64], GgmlType.Q8_0]);
    expect(shapes["blk.0.ffn_gate.weight"]).toEqual([[64, 96], GgmlType.Q8_0]);
    expect(shapes["blk.0.ffn_down.weight"]).toEqual([[96, 64], GgmlType.Q8_0]);
    expect(r.tensors.length).toBe(1 + 2 * 9 + 2);
    const norm = r.tensors.find((t) => t.name === "blk.0.ffn_norm.weight")!;
    const at = r.dataOffset + Number(norm.offset);
    expect(new Float32Array(bytes.buffer.slice(bytes.byteOffset + at, bytes.byteOffset + at + 256)).every((v) => v === 1)).toBe(true);
  });

  test("the same seed gives the same bytes; another seed gives other weights", () => {
    const a = buildLlamaModel({ ...base, seed: 5, weightType: "Q4_0" }).serialize().bytes;
    const b = buildLlamaModel({ ...base, seed: 5, weightType: "Q4_0" }).serialize().bytes;
    const c = buildLlamaModel({ ...base, seed: 6, weightType: "Q4_0" }).serialize().bytes;
    expect(a.equals(b)).toBe(true);
    expect(a.length).toBe(c.length);
    expect(a.equals(c)).toBe(false);
    const file = tmpFile("m.gguf");
    writeLlamaModel(file, { ...base, seed: 5, weightType: "Q4_0" });
    expect(fs.readFileSync(file).equals(a)).toBe(true);
  });

  test("tied embeddings omit output.weight; per-tensor type overrides apply", () => {
    const r = readGguf(buildLlamaModel({ ...base, tiedEmbeddings: true, weightType: "Q8_0", tensorTypes: { "ffn_down.weight": "F16" } }).serialize().bytes);
    expect(r.tensors.some((t) => t.name === "output.weight")).toBe(false);
    expect(r.tensors.find((t) => t.name === "blk.1.ffn_down.weight")!.type).toBe(GgmlType.F16);
    expect(r.tensors.find((t) => t.name === "blk.1.ffn_up.weight")!.type).toBe(GgmlType.Q8_0);
  });

  test("the F32 twin holds exactly the dequantized weights of the quantized model", () => {
    const q = buildLlamaModel({ ...base, seed: 9, weightType: "Q4_1" }).serialize();
    const f = buildLlamaModel({ ...base, seed: 9, simulateType: "Q4_1" }).serialize();
    const qi = q.tensorOffsets.find((t) => t.name === "blk.1.attn_q.weight")!;
    const fi = f.tensorOffsets.find((t) => t.name === "blk.1.attn_q.weight")!;
    expect(fi.typeId).toBe(GgmlType.F32);
    const want = dequantize("Q4_1", q.bytes.subarray(qi.absoluteOffset, qi.absoluteOffset + qi.size));
    const got = new Float32Array(f.bytes.buffer.slice(f.bytes.byteOffset + fi.absoluteOffset, f.bytes.byteOffset + fi.absoluteOffset + fi.size));
    expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer))).toBe(true);
  });

  test("invalid shapes are explained", () => {
    expect(() => buildLlamaModel({ ...base, weightType: "Q4_K" })).toThrow(/token_embd.weight \[64, 300\] cannot be Q4_K: .*multiple of 256/);
    expect(() => buildLlamaModel({ ...base, nVocab: 258 })).toThrow(/nVocab must be an integer >= 259/);
    expect(() => buildLlamaModel({ ...base, nHeadKv: 3 })).toThrow(/multiple of nHeadKv/);
    expect(() => makeSpmVocab(100)).toThrow(/>= 259/);
  });

  test("the type table covers the documented ggml block sizes", () => {
    expect(ggmlTypeInfo("Q4_K")).toEqual({ name: "Q4_K", id: 12, blockSize: 256, typeSize: 144 });
    expect(ggmlTypeInfo(39).name).toBe("MXFP4");
    expect(() => ggmlTypeInfo(4)).toThrow(/unknown ggml tensor type 4/);
  });
});
