// GGUF value types and the ggml tensor type table (ids, block size, bytes per block).

export const GGUF_MAGIC = "GGUF";
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml supports at most 4 dimensions per tensor. */
export const GGML_MAX_DIMS = 4;

/** GGUF metadata value type ids, in file order. */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufValueTypeName = keyof typeof GgufValueType;
export type GgufValueTypeId = (typeof GgufValueType)[GgufValueTypeName];

/** Byte size of a fixed-size GGUF scalar type, or undefined for STRING/ARRAY/unknown. */
export function ggufScalarSize(type: number): number | undefined {
  switch (type) {
    case GgufValueType.UINT8:
    case GgufValueType.INT8:
    case GgufValueType.BOOL:
      return 1;
    case GgufValueType.UINT16:
    case GgufValueType.INT16:
      return 2;
    case GgufValueType.UINT32:
    case GgufValueType.INT32:
    case GgufValueType.FLOAT32:
      return 4;
    case GgufValueType.UINT64:
    case GgufValueType.INT64:
    case GgufValueType.FLOAT64:
      return 8;
    default:
      return undefined;
  }
}

export interface GgmlTypeInfo {
  readonly name: GgmlTypeName;
  readonly id: number;
  /** Elements per block; a row (ne[0]) must be a multiple of it. */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly typeSize: number;
}

/** ggml tensor type ids (ids 4, 5, 31-33, 36-38 are retired and absent). */
export const GgmlType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q8_1: 9,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  Q8_K: 15,
  IQ2_XXS: 16,
  IQ2_XS: 17,
  IQ3_XXS: 18,
  IQ1_S: 19,
  IQ4_NL: 20,
  IQ3_S: 21,
  IQ2_S: 22,
  IQ4_XS: 23,
  I8: 24,
  I16: 25,
  I32: 26,
  I64: 27,
  F64: 28,
  IQ1_M: 29,
  BF16: 30,
  TQ1_0: 34,
  TQ2_0: 35,
  MXFP4: 39,
} as const;
export type GgmlTypeName = keyof typeof GgmlType;

const QK_K = 256;

// [blockSize, typeSize] per type; sizes follow the public block struct definitions.
const SIZES: Record<GgmlTypeName, readonly [number, number]> = {
  F32: [1, 4],
  F16: [1, 2],
  Q4_0: [32, 18], // fp16 d + 16 bytes of nibbles
  Q4_1: [32, 20], // fp16 d, m + 16
  Q5_0: [32, 22], // fp16 d + u32 qh + 16
  Q5_1: [32, 24], // fp16 d, m + u32 qh + 16
  Q8_0: [32, 34], // fp16 d + 32 int8
  Q8_1: [32, 36], // fp16 d, s + 32 int8
  Q2_K: [QK_K, 84], // scales[16] qs[64] d dmin
  Q3_K: [QK_K, 110], // hmask[32] qs[64] scales[12] d
  Q4_K: [QK_K, 144], // d dmin scales[12] qs[128]
  Q5_K: [QK_K, 176], // d dmin scales[12] qh[32] qs[128]
  Q6_K: [QK_K, 210], // ql[128] qh[64] scales[16] d
  Q8_K: [QK_K, 292], // f32 d, qs[256], i16 bsums[16]
  IQ2_XXS: [QK_K, 66],
  IQ2_XS: [QK_K, 74],
  IQ3_XXS: [QK_K, 98],
  IQ1_S: [QK_K, 50],
  IQ4_NL: [32, 18],
  IQ3_S: [QK_K, 110],
  IQ2_S: [QK_K, 82],
  IQ4_XS: [QK_K, 136],
  I8: [1, 1],
  I16: [1, 2],
  I32: [1, 4],
  I64: [1, 8],
  F64: [1, 8],
  IQ1_M: [QK_K, 56],
  BF16: [1, 2],
  TQ1_0: [QK_K, 54],
  TQ2_0: [QK_K, 66],
  MXFP4: [32, 17], // e8m0 shared exponent + 16 bytes of fp4 nibbles
};

export const GGML_TYPES: Readonly<Record<GgmlTypeName, GgmlTypeInfo>> = Object.freeze(
  Object.fromEntries(
    (Object.keys(GgmlType) as GgmlTypeName[]).map((name) => [
      name,
      Object.freeze({ name, id: GgmlType[name], blockSize: SIZES[name][0], typeSize: SIZES[name][1] }),
    ]),
  ) as Record<GgmlTypeName, GgmlTypeInfo>,
);

const BY_ID = new Map<number, GgmlTypeInfo>(Object.values(GGML_TYPES).map((t) => [t.id, t]));

export function isGgmlTypeName(name: string): name is GgmlTypeName {
  return Object.prototype.hasOwnProperty.call(GgmlType, name);
}

/** Looks up a type by name or id; throws on an unknown one. */
export function ggmlTypeInfo(type: GgmlTypeName | number): GgmlTypeInfo {
  const info = typeof type === "number" ? BY_ID.get(type) : isGgmlTypeName(type) ? GGML_TYPES[type] : undefined;
  if (!info) throw new Error(`unknown ggml tensor type ${JSON.stringify(type)}`);
  return info;
}

/** Bytes one row of `rowLength` elements takes; throws unless rowLength is a multiple of the block size. */
export function ggmlRowSize(type: GgmlTypeName | number, rowLength: number): number {
  const info = ggmlTypeInfo(type);
  if (!Number.isSafeInteger(rowLength) || rowLength < 0 || rowLength % info.blockSize !== 0) {
    throw new Error(
      `${info.name} needs rows (ne[0]) that are a multiple of ${info.blockSize} elements; got ${rowLength}`,
    );
  }
  return (rowLength / info.blockSize) * info.typeSize;
}

/** Bytes a tensor of the given ggml shape (ne[0] innermost) takes. */
export function ggmlTensorSize(type: GgmlTypeName | number, shape: readonly number[]): number {
  if (shape.length === 0) throw new Error("a tensor needs at least one dimension");
  let rows = 1;
  for (let i = 1; i < shape.length; i++) {
    const d = shape[i];
    if (!Number.isSafeInteger(d) || d < 0) throw new Error(`dimension ${i} must be a non-negative integer; got ${d}`);
    rows *= d;
  }
  const size = ggmlRowSize(type, shape[0]) * rows;
  if (!Number.isSafeInteger(size)) throw new Error(`tensor of shape [${shape.join(", ")}] is too large`);
  return size;
}
