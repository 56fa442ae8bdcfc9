// readGgufInfo: a GGUF file's metadata and tensor table, without mapping its weights.
import { fromNative } from "./errors";
import { native, NativeGgufInfo } from "./native";
import { checkOptions, checkPath, isIntegerIn } from "./validate";

/**
 * A metadata array longer than `maxArrayLength` is not copied into JS; this marker stands in.
 * Fetch the full array with `model.getMetadataArray(key)`.
 */
export interface MetadataArrayRef {
  kind: "array";
  /** GGUF type, e.g. "array<string>" */
  type: string;
  length: number;
  truncated: true;
}

/**
 * GGUF metadata value. Integers beyond Number.MAX_SAFE_INTEGER are bigint; string values that
 * are not valid UTF-8 have U+FFFD in place of the bad bytes.
 */
export type MetadataValue = number | bigint | boolean | string | MetadataValue[] | MetadataArrayRef;

export interface TensorInfo {
  name: string;
  /** ggml type name, e.g. "Q4_K" */
  type: string;
  typeId: number;
  /** ggml order: shape[0] is the row length (contiguous dimension) */
  shape: number[];
  elements: number;
  /** absolute byte offset of the tensor's data in the file */
  offset: number;
  sizeBytes: number;
}

export interface GgufInfo {
  /** GGUF format version: 2 or 3 */
  version: number;
  alignment: number;
  /** bytes of the header (metadata + tensor infos) */
  headerBytes: number;
  /** absolute offset of the tensor data section */
  dataOffset: number;
  fileSize: number;
  /** general.architecture, or "" when absent */
  architecture: string;
  metadata: Record<string, MetadataValue>;
  /** GGUF value type per key: "uint32", "string", "array<string>", "array<array<int32>>", ... */
  metadataTypes: Record<string, string>;
  tensors: TensorInfo[];
}

export interface ReadGgufInfoOptions {
  /** Arrays longer than this are replaced by a MetadataArrayRef (default 1024; Infinity: never). */
  maxArrayLength?: number;
}

export const DEFAULT_MAX_ARRAY_LENGTH = 1024;

export function toGgufInfo(raw: NativeGgufInfo): GgufInfo {
  const arch = raw.metadata["general.architecture"];
  return {
    version: raw.version,
    alignment: raw.alignment,
    headerBytes: raw.headerBytes,
    dataOffset: raw.dataOffset,
    fileSize: raw.fileSize,
    architecture: typeof arch === "string" ? arch : "",
    metadata: raw.metadata as Record<string, MetadataValue>,
    metadataTypes: raw.metadataTypes,
    tensors: raw.tensors,
  };
}

export function nativeMaxArray(n: number | undefined): number {
  return n === undefined ? DEFAULT_MAX_ARRAY_LENGTH : n === Infinity ? 0xffffffff : n;
}

/**
 * Reads a GGUF file's header (metadata and tensor table) off the main thread. Only the header
 * bytes are read; tensor data is neither read nor mapped.
 *
 * @example
 * const info = await readGgufInfo("model.gguf");
 * console.log(info.architecture, info.metadata["llama.block_count"], info.tensors.length);
 */
export async function readGgufInfo(path: string | URL, options?: ReadGgufInfoOptions): Promise<GgufInfo> {
  const callSite = new Error();
  const file = checkPath("readGgufInfo", path);
  checkOptions("readGgufInfo", options, { maxArrayLength: isIntegerIn(0, Infinity) });
  try {
    return toGgufInfo(await native().readGgufInfo(file, nativeMaxArray(options?.maxArrayLength)));
  } catch (err) {
    throw fromNative(err, callSite);
  }
}
