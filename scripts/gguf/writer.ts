// GGUF v2/v3 writer for tests and benchmarks: typed metadata, tensors from bytes, floats or
// callbacks, a byte span for every header field, and named escape hatches for hostile files.

import * as fs from "node:fs";
import { QuantType, quantize } from "./quants";
import {
  GGML_MAX_DIMS,
  GGUF_DEFAULT_ALIGNMENT,
  GgmlTypeName,
  GgufValueType,
  ggmlTensorSize,
  ggmlTypeInfo,
  ggufScalarSize,
} from "./types";

/** An array value: element type id plus elements (nested arrays are GgufArray elements). */
export interface GgufArray {
  readonly elemType: number;
  readonly values: readonly GgufValue[];
}
/** STRING values may be raw bytes (Uint8Array) to write non-UTF-8 text. */
export type GgufValue = number | bigint | boolean | string | Uint8Array | GgufArray;

export function ggufArray(elemType: number, values: readonly GgufValue[]): GgufArray {
  return { elemType, values };
}

/** One header field's byte span, e.g. { path: "kv[3].array_len", offset: 120, size: 8 }. */
export interface FieldSpan {
  path: string;
  offset: number;
  size: number;
}

export interface TensorPlacement {
  name: string;
  /** Type id as written. */
  typeId: number;
  shape: (number | bigint)[];
  /** Offset written in the tensor info (relative to the data section). */
  offset: number | bigint;
  /** Where the bytes really are, relative to the data section. */
  dataOffset: number;
  /** Where the bytes really are, from the start of the file. */
  absoluteOffset: number;
  size: number;
}

export interface WriteResult {
  fields: FieldSpan[];
  /** Start of the data section (header end padded to the alignment). */
  dataOffset: number;
  tensorOffsets: TensorPlacement[];
  /** Total file size. */
  size: number;
}

export interface SerializeResult extends WriteResult {
  bytes: Buffer;
}

export interface GgufWriterOptions {
  /** 2 or 3 (default 3); both use 64-bit counts and lengths. */
  version?: 2 | 3;
  /** Data alignment (default 32). `general.alignment` is written as kv[0] when it differs from 32. */
  alignment?: number;
  /** Write `general.alignment` even when it is the default 32. */
  writeAlignmentKey?: boolean;
  /** Hostile-file escape hatch: write this version number instead (layout stays v3). */
  rawVersion?: number;
  /** Hostile-file escape hatch: no padding after the header, between tensors or at the end. */
  omitPadding?: boolean;
}

export interface KvOptions {
  /** Hostile-file escape hatch: allow a key that is already present. */
  allowDuplicateKey?: boolean;
}

export interface TensorOptions {
  /** Hostile-file escape hatch: write this type id instead of the type's (data size still follows `type`). */
  rawTypeId?: number;
  /** Hostile-file escape hatch: write this offset instead of the real, aligned one (bytes stay where they are). */
  explicitOffset?: number | bigint;
  /**
   * Hostile-file escape hatch: skip validation of name, shape (any count, bigint dims) and data size;
   * `data` must then be a Uint8Array and is written as is.
   */
  unchecked?: boolean;
}

/** Tensor bytes: a buffer, or a callback run at write time returning a buffer or chunks of one. */
export type TensorSource = Uint8Array | (() => Uint8Array | Iterable<Uint8Array>);
/** Float data: an array, or a callback run at write time returning an array or chunks (whole blocks each). */
export type FloatSource = Float32Array | (() => Float32Array | Iterable<Float32Array>);

interface KvEntry {
  key: Uint8Array;
  typeId: number;
  value?: GgufValue;
  rawValue?: Uint8Array;
}

interface TensorEntry {
  name: Uint8Array;
  shape: (number | bigint)[];
  typeId: number;
  size: number;
  explicitOffset?: number | bigint;
  source: TensorSource;
}

const ALIGNMENT_KEY = "general.alignment";
const MAX_TENSOR_NAME = 63; // ggml keeps names in 64 bytes with a NUL

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

function keyBytes(key: string | Uint8Array): Uint8Array {
  return typeof key === "string" ? textEncoder.encode(key) : key;
}

function describeKey(key: Uint8Array): string {
  return JSON.stringify(textDecoder.decode(key));
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

const INT_RANGES: Record<number, [number, number]> = {
  [GgufValueType.UINT8]: [0, 0xff],
  [GgufValueType.INT8]: [-0x80, 0x7f],
  [GgufValueType.UINT16]: [0, 0xffff],
  [GgufValueType.INT16]: [-0x8000, 0x7fff],
  [GgufValueType.UINT32]: [0, 0xffffffff],
  [GgufValueType.INT32]: [-0x80000000, 0x7fffffff],
};

function validateValue(type: number, value: GgufValue, where: string): void {
  const fail = (what: string): never => {
    throw new Error(`${where}: expected ${what}; got ${typeof value === "object" ? JSON.stringify(value) : String(value)}`);
  };
  const range = INT_RANGES[type];
  if (range !== undefined) {
    if (typeof value !== "number" || !Number.isInteger(value) || value < range[0] || value > range[1]) {
      fail(`an integer in [${range[0]}, ${range[1]}]`);
    }
    return;
  }
  switch (type) {
    case GgufValueType.FLOAT32:
    case GgufValueType.FLOAT64:
      if (typeof value !== "number") fail("a number");
      return;
    case GgufValueType.BOOL:
      if (typeof value !== "boolean") fail("a boolean");
      return;
    case GgufValueType.STRING:
      if (typeof value !== "string" && !(value instanceof Uint8Array)) fail("a string or raw bytes");
      return;
    case GgufValueType.UINT64:
    case GgufValueType.INT64: {
      const signed = type === GgufValueType.INT64;
      const v = typeof value === "number" && Number.isInteger(value) ? BigInt(value) : value;
      if (typeof v !== "bigint") return void fail("an integer or bigint");
      const lo = signed ? -(1n << 63n) : 0n;
      const hi = signed ? (1n << 63n) - 1n : (1n << 64n) - 1n;
      if (v < lo || v > hi) fail(`an integer in [${lo}, ${hi}]`);
      return;
    }
    case GgufValueType.ARRAY: {
      if (typeof value !== "object" || value instanceof Uint8Array || !Array.isArray(value.values)) {
        return void fail("a GgufArray { elemType, values }");
      }
      const arr = value as GgufArray;
      if (ggufScalarSize(arr.elemType) === undefined && arr.elemType !== GgufValueType.STRING && arr.elemType !== GgufValueType.ARRAY) {
        throw new Error(`${where}: unknown array element type ${arr.elemType} (use addRawKv for hostile values)`);
      }
      arr.values.forEach((v, i) => validateValue(arr.elemType, v, `${where}[${i}]`));
      return;
    }
    default:
      throw new Error(`${where}: unknown GGUF value type ${type} (use addRawKv for hostile values)`);
  }
}

/** Growable little-endian byte buffer that records named field spans. */
class HeaderBuilder {
  private buf = Buffer.alloc(1 << 16);
  len = 0;
  readonly fields: FieldSpan[] = [];

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = Buffer.alloc(cap);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  field(path: string, write: () => void): void {
    const offset = this.len;
    write();
    this.fields.push({ path, offset, size: this.len - offset });
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf.writeUInt8(v, this.len);
    this.len += 1;
  }
  i8(v: number): void {
    this.ensure(1);
    this.buf.writeInt8(v, this.len);
    this.len += 1;
  }
  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16LE(v, this.len);
    this.len += 2;
  }
  i16(v: number): void {
    this.ensure(2);
    this.buf.writeInt16LE(v, this.len);
    this.len += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.len);
    this.len += 4;
  }
  i32(v: number): void {
    this.ensure(4);
    this.buf.writeInt32LE(v, this.len);
    this.len += 4;
  }
  f32(v: number): void {
    this.ensure(4);
    this.buf.writeFloatLE(v, this.len);
    this.len += 4;
  }
  f64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.len);
    this.len += 8;
  }
  u64(v: number | bigint): void {
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)), this.len);
    this.len += 8;
  }
  i64(v: number | bigint): void {
    this.ensure(8);
    this.buf.writeBigInt64LE(BigInt.asIntN(64, BigInt(v)), this.len);
    this.len += 8;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  result(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

function stringBytes(v: GgufValue): Uint8Array {
  return typeof v === "string" ? textEncoder.encode(v) : (v as Uint8Array);
}

/** Writes a value's payload (no type id) with no field spans. */
function writeValue(h: HeaderBuilder, type: number, v: GgufValue): void {
  switch (type) {
    case GgufValueType.UINT8: return h.u8(v as number);
    case GgufValueType.INT8: return h.i8(v as number);
    case GgufValueType.UINT16: return h.u16(v as number);
    case GgufValueType.INT16: return h.i16(v as number);
    case GgufValueType.UINT32: return h.u32(v as number);
    case GgufValueType.INT32: return h.i32(v as number);
    case GgufValueType.FLOAT32: return h.f32(v as number);
    case GgufValueType.BOOL: return h.u8(v ? 1 : 0);
    case GgufValueType.UINT64: return h.u64(v as number | bigint);
    case GgufValueType.INT64: return h.i64(v as number | bigint);
    case GgufValueType.FLOAT64: return h.f64(v as number);
    case GgufValueType.STRING: {
      const b = stringBytes(v);
      h.u64(b.length);
      return h.bytes(b);
    }
    case GgufValueType.ARRAY: {
      const a = v as GgufArray;
      h.u32(a.elemType);
      h.u64(a.values.length);
      for (const e of a.values) writeValue(h, a.elemType, e);
      return;
    }
    default:
      throw new Error(`unknown GGUF value type ${type}`);
  }
}

export class GgufWriter {
  readonly version: number;
  readonly alignment: number;
  private readonly writeAlignmentKey: boolean;
  private readonly omitPadding: boolean;
  private readonly kvs: KvEntry[] = [];
  private readonly tensors: TensorEntry[] = [];

  constructor(options: GgufWriterOptions = {}) {
    const version = options.version ?? 3;
    if (version !== 2 && version !== 3) throw new Error(`version must be 2 or 3; got ${String(version)} (rawVersion writes others)`);
    if (options.rawVersion !== undefined && (!Number.isInteger(options.rawVersion) || options.rawVersion < 0 || options.rawVersion > 0xffffffff)) {
      throw new Error(`rawVersion must be a uint32; got ${options.rawVersion}`);
    }
    this.version = options.rawVersion ?? version;
    this.alignment = options.alignment ?? GGUF_DEFAULT_ALIGNMENT;
    if (!Number.isSafeInteger(this.alignment) || this.alignment < 1 || this.alignment > 0xffffffff) {
      throw new Error(`alignment must be a positive uint32; got ${this.alignment}`);
    }
    this.writeAlignmentKey = options.writeAlignmentKey ?? false;
    this.omitPadding = options.omitPadding ?? false;
  }

  get kvCount(): number {
    return this.kvs.length + (this.autoAlignmentKey() ? 1 : 0);
  }

  get tensorCount(): number {
    return this.tensors.length;
  }

  hasKey(key: string | Uint8Array): boolean {
    const k = Buffer.from(keyBytes(key));
    return this.kvs.some((e) => k.equals(e.key));
  }

  /** Adds a metadata value of an explicit GGUF type (GgufValueType.*); validated now. */
  add(key: string | Uint8Array, type: number, value: GgufValue, options: KvOptions = {}): this {
    const k = keyBytes(key);
    if (!options.allowDuplicateKey && this.hasKey(k)) throw new Error(`duplicate metadata key ${describeKey(k)}`);
    validateValue(type, value, `metadata ${describeKey(k)}`);
    this.kvs.push({ key: k, typeId: type, value });
    return this;
  }

  /**
   * Hostile-file escape hatch: key bytes, type id and value payload written verbatim
   * (any type id, non-UTF-8 keys, truncated or lying payloads, duplicates).
   */
  addRawKv(key: string | Uint8Array, typeId: number, valueBytes: Uint8Array): this {
    if (!Number.isInteger(typeId) || typeId < 0 || typeId > 0xffffffff) throw new Error(`typeId must be a uint32; got ${typeId}`);
    this.kvs.push({ key: keyBytes(key), typeId, rawValue: valueBytes });
    return this;
  }

  addU8(key: string | Uint8Array, v: number): this { return this.add(key, GgufValueType.UINT8, v); }
  addI8(key: string | Uint8Array, v: number): this { return this.add(key, GgufValueType.INT8, v); }
  addU16(key: string | Uint8Array, v: number): this { return this.add(key, GgufValueType.UINT16, v); }
  addI16(key: string | Uint8Array, v: number): this { return this.add(key, GgufValueType.INT16, v); }
  addU32(key: string | Uint8Array, v: number): this { return this.add(key, GgufValueType.UINT32, v); }
  addI32(key: string | Uint8Array, v: number): this { return this.add(key, GgufValueType.INT32, v); }
  addF32(key: string | Uint8Array, v: number): this { return this.add(key, GgufValueType.FLOAT32, v); }
  addBool(key: string | Uint8Array, v: boolean): this { return this.add(key, GgufValueType.BOOL, v); }
  addString(key: string | Uint8Array, v: string | Uint8Array): this { return this.add(key, GgufValueType.STRING, v); }
  addU64(key: string | Uint8Array, v: number | bigint): this { return this.add(key, GgufValueType.UINT64, v); }
  addI64(key: string | Uint8Array, v: number | bigint): this { return this.add(key, GgufValueType.INT64, v); }
  addF64(key: string | Uint8Array, v: number): this { return this.add(key, GgufValueType.FLOAT64, v); }
  /** Array of `elemType` (GgufValueType.*); for arrays of arrays pass ARRAY and GgufArray elements. */
  addArray(key: string | Uint8Array, elemType: number, values: readonly GgufValue[]): this {
    return this.add(key, GgufValueType.ARRAY, ggufArray(elemType, values));
  }

  /**
   * Adds a tensor from pre-quantized bytes. `shape` is in ggml order (ne[0] = row length, innermost).
   * `data` may be a callback producing the bytes (or chunks of them) at write time.
   */
  addTensor(name: string | Uint8Array, shape: readonly (number | bigint)[], type: GgmlTypeName, data: TensorSource, options: TensorOptions = {}): this {
    const nameBytes = keyBytes(name);
    const info = ggmlTypeInfo(type);
    let size: number;
    if (options.unchecked) {
      if (!(data instanceof Uint8Array)) throw new Error("unchecked tensors need their data as a Uint8Array");
      size = data.length;
    } else {
      if (nameBytes.length > MAX_TENSOR_NAME) throw new Error(`tensor name ${describeKey(nameBytes)} is longer than ${MAX_TENSOR_NAME} bytes`);
      if (this.tensors.some((t) => Buffer.from(t.name).equals(nameBytes))) throw new Error(`duplicate tensor name ${describeKey(nameBytes)}`);
      if (shape.length < 1 || shape.length > GGML_MAX_DIMS) throw new Error(`tensor ${describeKey(nameBytes)}: expected 1..${GGML_MAX_DIMS} dimensions; got ${shape.length}`);
      if (shape.some((d) => typeof d !== "number")) throw new Error(`tensor ${describeKey(nameBytes)}: dims must be numbers (bigint dims need unchecked)`);
      size = ggmlTensorSize(type, shape as number[]);
      if (data instanceof Uint8Array && data.length !== size) {
        throw new Error(`tensor ${describeKey(nameBytes)} of shape [${shape.join(", ")}] and type ${type} needs ${size} bytes; got ${data.length}`);
      }
    }
    if (options.rawTypeId !== undefined && (!Number.isInteger(options.rawTypeId) || options.rawTypeId < 0 || options.rawTypeId > 0xffffffff)) {
      throw new Error(`rawTypeId must be a uint32; got ${options.rawTypeId}`);
    }
    this.tensors.push({
      name: nameBytes,
      shape: [...shape],
      typeId: options.rawTypeId ?? info.id,
      size,
      explicitOffset: options.explicitOffset,
      source: data,
    });
    return this;
  }

  /**
   * Adds a tensor from float values, quantized to `type` (default F32) with the reference quantizers.
   * An array is quantized now; a callback runs at write time and may yield chunks of whole blocks
   * (e.g. a few rows at a time) so large tensors never sit in memory as floats.
   */
  addTensorF32(name: string, shape: readonly number[], values: FloatSource, type: QuantType = "F32", options: Omit<TensorOptions, "unchecked"> = {}): this {
    const n = shape.reduce((a, b) => a * b, 1);
    if (values instanceof Float32Array) {
      if (values.length !== n) throw new Error(`tensor ${JSON.stringify(name)} of shape [${shape.join(", ")}] needs ${n} values; got ${values.length}`);
      ggmlTensorSize(type, shape); // row-length check before quantizing
      return this.addTensor(name, shape, type, quantize(type, values), options);
    }
    const produce = values;
    return this.addTensor(name, shape, type, function* () {
      const out = produce();
      if (out instanceof Float32Array) yield quantize(type, out);
      else for (const chunk of out) yield quantize(type, chunk);
    }, options);
  }

  private autoAlignmentKey(): boolean {
    return (this.alignment !== GGUF_DEFAULT_ALIGNMENT || this.writeAlignmentKey) && !this.hasKey(ALIGNMENT_KEY);
  }

  private buildHeader(): { header: Buffer; fields: FieldSpan[]; placements: { dataOffset: number }[]; dataOffset: number; end: number } {
    const kvs: KvEntry[] = [...this.kvs];
    if (this.autoAlignmentKey()) kvs.unshift({ key: keyBytes(ALIGNMENT_KEY), typeId: GgufValueType.UINT32, value: this.alignment });

    const placements: { dataOffset: number }[] = [];
    let cur = 0;
    for (const t of this.tensors) {
      if (!this.omitPadding) cur = alignUp(cur, this.alignment);
      placements.push({ dataOffset: cur });
      cur += t.size;
    }
    const end = this.omitPadding ? cur : alignUp(cur, this.alignment);

    const h = new HeaderBuilder();
    h.field("magic", () => h.bytes(textEncoder.encode("GGUF")));
    h.field("version", () => h.u32(this.version));
    h.field("tensor_count", () => h.u64(this.tensors.length));
    h.field("kv_count", () => h.u64(kvs.length));
    kvs.forEach((kv, i) => {
      const p = `kv[${i}]`;
      h.field(`${p}.key_len`, () => h.u64(kv.key.length));
      h.field(`${p}.key`, () => h.bytes(kv.key));
      h.field(`${p}.type`, () => h.u32(kv.typeId));
      if (kv.rawValue !== undefined) {
        h.field(`${p}.value`, () => h.bytes(kv.rawValue!));
      } else if (kv.typeId === GgufValueType.STRING) {
        const b = stringBytes(kv.value!);
        h.field(`${p}.value_len`, () => h.u64(b.length));
        h.field(`${p}.value`, () => h.bytes(b));
      } else if (kv.typeId === GgufValueType.ARRAY) {
        const a = kv.value as GgufArray;
        h.field(`${p}.array_type`, () => h.u32(a.elemType));
        h.field(`${p}.array_len`, () => h.u64(a.values.length));
        h.field(`${p}.value`, () => a.values.forEach((e) => writeValue(h, a.elemType, e)));
      } else {
        h.field(`${p}.value`, () => writeValue(h, kv.typeId, kv.value!));
      }
    });
    this.tensors.forEach((t, i) => {
      const p = `tensor[${i}]`;
      h.field(`${p}.name_len`, () => h.u64(t.name.length));
      h.field(`${p}.name`, () => h.bytes(t.name));
      h.field(`${p}.n_dims`, () => h.u32(t.shape.length));
      h.field(`${p}.dims`, () => t.shape.forEach((d) => h.u64(d)));
      h.field(`${p}.type`, () => h.u32(t.typeId));
      h.field(`${p}.offset`, () => h.u64(t.explicitOffset ?? placements[i].dataOffset));
    });
    const headerLen = h.len;
    const dataOffset = this.omitPadding ? headerLen : alignUp(headerLen, this.alignment);
    if (dataOffset > headerLen) h.field("header_padding", () => h.bytes(new Uint8Array(dataOffset - headerLen)));
    return { header: h.result(), fields: h.fields, placements, dataOffset, end: dataOffset + end };
  }

  /** Header (with padding) then every tensor's bytes and padding, producing lazy data on demand. */
  private *stream(): Generator<Uint8Array, WriteResult> {
    const { header, fields, placements, dataOffset, end } = this.buildHeader();
    yield header;
    let pos = 0; // relative to the data section
    const tensorOffsets: TensorPlacement[] = [];
    for (let i = 0; i < this.tensors.length; i++) {
      const t = this.tensors[i];
      const at = placements[i].dataOffset;
      if (at > pos) yield new Uint8Array(at - pos);
      let written = 0;
      const produced = typeof t.source === "function" ? t.source() : t.source;
      for (const chunk of produced instanceof Uint8Array ? [produced] : produced) {
        written += chunk.length;
        if (written > t.size) break;
        yield chunk;
      }
      const name = textDecoder.decode(t.name);
      if (written !== t.size) throw new Error(`tensor ${JSON.stringify(name)}: data source produced ${written > t.size ? "more than " + t.size : written} bytes; expected ${t.size}`);
      pos = at + t.size;
      tensorOffsets.push({
        name,
        typeId: t.typeId,
        shape: [...t.shape],
        offset: t.explicitOffset ?? at,
        dataOffset: at,
        absoluteOffset: dataOffset + at,
        size: t.size,
      });
    }
    if (dataOffset + pos < end) yield new Uint8Array(end - dataOffset - pos);
    return { fields, dataOffset, tensorOffsets, size: end };
  }

  /** Builds the whole file in memory. */
  serialize(): SerializeResult {
    const parts: Uint8Array[] = [];
    const gen = this.stream();
    for (;;) {
      const r = gen.next();
      if (r.done) return { ...r.value, bytes: Buffer.concat(parts) };
      parts.push(r.value);
    }
  }

  /** Streams the file to disk: header first, then each tensor's data as it is produced. */
  writeFile(path: string): WriteResult {
    const fd = fs.openSync(path, "w");
    let ok = false;
    try {
      const gen = this.stream();
      for (;;) {
        const r = gen.next();
        if (r.done) {
          ok = true;
          return r.value;
        }
        let off = 0;
        while (off < r.value.length) off += fs.writeSync(fd, r.value, off, r.value.length - off);
      }
    } finally {
      fs.closeSync(fd);
      if (!ok) fs.rmSync(path, { force: true }); // no half-written model left behind
    }
  }
}
