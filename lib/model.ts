// loadModel and the Model class.
import { fromNative, RingllmError } from "./errors";
import { GgufInfo, MetadataValue, TensorInfo, toGgufInfo, DEFAULT_MAX_ARRAY_LENGTH } from "./gguf";
import { HyperParameters, readHyperParameters } from "./hparams";
import { native, NativeModelHandle } from "./native";
import { abortedError, checkOptions, checkPath, isAbortSignal, isBoolean, isFunction } from "./validate";

export interface LoadModelOptions {
  /** Read only the header (metadata, vocabulary): no tensor data is mapped. Default false. */
  vocabOnly?: boolean;
  /** Map the file (default true). false reads it into native memory instead. */
  useMmap?: boolean;
  /** Aborting rejects the load with code ABORTED and releases the file. */
  signal?: AbortSignal;
  /** Called on the main thread with the load fraction in [0, 1]; a throw aborts the load with that error. */
  onProgress?: (fraction: number) => void;
}

/**
 * A loaded GGUF model. Weights stay in native memory (mapped from the file); nothing here copies
 * tensor data into JS. Close it to unmap the file; using a closed model throws MODEL_CLOSED.
 */
export class Model {
  #handle: NativeModelHandle;
  #info: GgufInfo & { vocabOnly: boolean; mapped: boolean };
  #hparams: HyperParameters;
  #closed = false;

  /** @internal use loadModel() */
  constructor(handle: NativeModelHandle) {
    this.#handle = handle;
    const raw = handle.info(DEFAULT_MAX_ARRAY_LENGTH);
    this.#info = { ...toGgufInfo(raw), vocabOnly: raw.vocabOnly, mapped: raw.mapped };
    this.#hparams = readHyperParameters(this.#info.architecture, this.#info.metadata);
  }

  #live(): void {
    if (this.#closed) throw new RingllmError("MODEL_CLOSED", "the model was closed; load it again to use it");
  }

  /** general.architecture, e.g. "llama" ("" when the file does not say). */
  get architecture(): string {
    this.#live();
    return this.#info.architecture;
  }

  /** All metadata; arrays longer than 1024 entries are MetadataArrayRef markers (see getMetadataArray). */
  get metadata(): Record<string, MetadataValue> {
    this.#live();
    return this.#info.metadata;
  }

  /** GGUF value type of each metadata key, e.g. "uint32" or "array<string>". */
  get metadataTypes(): Record<string, string> {
    this.#live();
    return this.#info.metadataTypes;
  }

  /** Tensor table in file order (empty for vocabulary-only files). */
  get tensors(): TensorInfo[] {
    this.#live();
    return this.#info.tensors;
  }

  /** Hyper-parameters from the architecture's metadata keys. */
  get hparams(): HyperParameters {
    this.#live();
    return this.#hparams;
  }

  /** Bytes of tensor data in the file. */
  get sizeBytes(): number {
    this.#live();
    return this.#info.tensors.reduce((sum, t) => sum + t.sizeBytes, 0);
  }

  get fileSize(): number {
    this.#live();
    return this.#info.fileSize;
  }

  /** GGUF header facts: version, alignment, data offset. */
  get gguf(): { version: number; alignment: number; dataOffset: number; headerBytes: number } {
    this.#live();
    const { version, alignment, dataOffset, headerBytes } = this.#info;
    return { version, alignment, dataOffset, headerBytes };
  }

  /** True when loaded with vocabOnly. */
  get vocabOnly(): boolean {
    this.#live();
    return this.#info.vocabOnly;
  }

  /** True when the file is memory-mapped (false: read into memory). */
  get mapped(): boolean {
    this.#live();
    return this.#info.mapped;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The full value of a metadata key, including arrays of any length (e.g. the vocabulary).
   * Returns undefined for a missing key.
   *
   * @example
   * const tokens = model.getMetadataArray("tokenizer.ggml.tokens") as string[];
   */
  getMetadataArray(key: string): MetadataValue | undefined {
    this.#live();
    if (typeof key !== "string") {
      throw new RingllmError("INVALID_ARGUMENT", "getMetadataArray: key must be a string");
    }
    try {
      return this.#handle.metadataArray(key) as MetadataValue | undefined;
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** Throws MODEL_UNSUPPORTED_TYPE naming the first tensor whose type the engine cannot compute yet. */
  assertComputable(): void {
    this.#live();
    try {
      this.#handle.checkComputable();
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** Unmaps the file (off the main thread). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#handle.close();
  }

  async [Symbol.asyncDispose ?? Symbol.for("Symbol.asyncDispose")](): Promise<void> {
    await this.close();
  }
}

/**
 * Loads a GGUF model off the main thread: maps the file, validates every header field and tensor
 * extent, and pre-faults the weights (reporting progress).
 *
 * @example
 * const model = await loadModel("model.gguf", { onProgress: (f) => console.log(`${Math.round(f * 100)}%`) });
 * console.log(model.architecture, model.hparams.blockCount);
 * await model.close();
 */
export async function loadModel(path: string | URL, options?: LoadModelOptions): Promise<Model> {
  const callSite = new Error();
  const file = checkPath("loadModel", path);
  checkOptions("loadModel", options, {
    vocabOnly: isBoolean,
    useMmap: isBoolean,
    signal: isAbortSignal,
    onProgress: isFunction,
  });
  const signal = options?.signal;
  if (signal?.aborted) throw abortedError("loadModel", signal);

  const userProgress = options?.onProgress;
  let progressError: unknown;
  let job: { promise: Promise<NativeModelHandle>; cancel(): void };
  const onProgress = userProgress
    ? (fraction: number) => {
        try {
          userProgress(fraction);
        } catch (err) {
          progressError ??= err;
          job.cancel();
        }
      }
    : undefined;
  try {
    job = native().loadModel(file, { vocabOnly: options?.vocabOnly ?? false, useMmap: options?.useMmap ?? true }, onProgress);
  } catch (err) {
    throw fromNative(err, callSite);
  }
  const onAbort = () => job.cancel();
  signal?.addEventListener("abort", onAbort, { once: true });
  let handle: NativeModelHandle;
  try {
    handle = await job.promise;
  } catch (err) {
    if (progressError !== undefined) throw progressError;
    if (signal?.aborted) throw abortedError("loadModel", signal);
    throw fromNative(err, callSite);
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  if (progressError !== undefined || signal?.aborted) {
    await handle.close();
    if (progressError !== undefined) throw progressError;
    throw abortedError("loadModel", signal!);
  }
  return new Model(handle);
}
