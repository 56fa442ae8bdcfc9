// loadModel and the Model class.
import { readFileSync } from "node:fs";
import { freemem } from "node:os";

import { type ApplyChatTemplateOptions, type ChatMessage, renderChat } from "./chat-template";
import { Chat, type ChatOptions, createChat } from "./chat";
import { BatchStats, Context, ContextOptions, NativeContextHandle } from "./context";
import { defaultModelPath } from "./default-model";
import { describe, fromNative, invalidArgument, RingllmError } from "./errors";
import { GgufInfo, MetadataValue, TensorInfo, toGgufInfo, DEFAULT_MAX_ARRAY_LENGTH } from "./gguf";
import { HyperParameters, readHyperParameters } from "./hparams";
import { log } from "./log";
import { type GpuDevice, native, NativeModelHandle } from "./native";
import { abortedError, checkOptions, checkPath, isAbortSignal, isBoolean, isFunction, isIntegerIn, isOneOf } from "./validate";
import { TokenDecoder, Vocab } from "./vocab";

export interface TokenizeOptions {
  /** Add BOS/EOS as the vocabulary asks (vocab.addBos / addEos). Default false. */
  addSpecial?: boolean;
  /**
   * Turn special-token text such as "<|im_end|>" into its control token. Default false: user text
   * is tokenized as plain text, so it cannot inject control tokens.
   */
  parseSpecial?: boolean;
}

export interface DetokenizeOptions {
  /** Drop a leading BOS and trailing EOS that tokenize({ addSpecial: true }) would add. Default false. */
  removeSpecial?: boolean;
  /** Render control tokens as their text ("<|im_end|>"); default false renders them as "". */
  unparseSpecial?: boolean;
}

type TokenList = Uint32Array | Int32Array | readonly number[];

export interface EmbedOptions {
  /** default: the model's `{arch}.pooling_type`, else "mean" */
  pooling?: "mean" | "cls" | "last" | "none";
  /** scale each pooled vector to length 1 (default true) */
  normalize?: boolean;
  /** prompt chunk size in tokens */
  batchSize?: number;
  threads?: number;
  signal?: AbortSignal;
}

export interface LoadModelOptions {
  /** Read only the header (metadata, vocabulary): no tensor data is mapped. Default false. */
  vocabOnly?: boolean;
  /** Map the file (default true). false reads it into native memory instead. */
  useMmap?: boolean;
  /** Aborting rejects the load with code ABORTED and releases the file. */
  signal?: AbortSignal;
  /** Called on the main thread with the load fraction in [0, 1]; a throw aborts the load with that error. */
  onProgress?: (fraction: number) => void;
  /**
   * Run layers on a GPU. "auto" (default; RINGLLM_GPU=off in the environment makes it false): a
   * discrete or integrated GPU found through Vulkan, else
   * the CPU (never a CPU-type Vulkan device such as lavapipe; `model.gpuNote` says why none was
   * used). "vulkan": a Vulkan GPU or GPU_UNAVAILABLE (RINGLLM_VULKAN_DEVICE=<name or index> picks
   * any device, lavapipe included). "cuda": an NVIDIA GPU through the CUDA plugin (libringllm_cuda,
   * built when the CUDA toolkit is present; GPU_UNAVAILABLE naming what is missing otherwise; "auto"
   * never picks it yet). false: CPU only.
   */
  gpu?: "auto" | "vulkan" | "cuda" | false;
  /**
   * Which device: a part of its name (case-insensitive) or its index in `listGpus()`; it may name a
   * CPU-type device (lavapipe) to run on it anyway. Default: RINGLLM_VULKAN_DEVICE, else the first
   * discrete GPU, else the first integrated one.
   */
  gpuDevice?: string | number;
  /**
   * How many layers (the last ones) go to the GPU: a count, "max" (default: every layer) or "auto"
   * (as many as fit in 80% of its memory). The CPU runs the rest, the output projection and sampling.
   */
  gpuLayers?: number | "max" | "auto";
}

/** `model.estimateMemory()`: bytes. */
export interface MemoryEstimate {
  weights: number;
  kv: number;
  compute: number;
  total: number;
  /** the context size the estimate is for (Infinity: every cache bounded) */
  contextSize: number;
  /** memory available to a new allocation now (MemAvailable on Linux, else free memory) */
  available: number;
  /** kv + compute <= available */
  fits: boolean;
}

/** Bytes a new allocation can take now: Linux's MemAvailable (free plus reclaimable cache), else free memory. */
export function availableMemory(): number {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return freemem();
}

/** Where a model's layers run when some are on a GPU (`model.gpu`). */
export interface ModelGpu {
  backend: "vulkan" | "cuda";
  /** the device's name */
  device: string;
  type: GpuDevice["type"];
  /** layers on the device (the model's last ones) */
  layers: number;
  /** the final norm and output projection run there too (with every layer offloaded, when it fits) */
  output: boolean;
  /** device bytes their weights take */
  bytes: number;
}

/**
 * A loaded GGUF model. Weights stay in native memory (mapped from the file); nothing here copies
 * tensor data into JS. Close it to unmap the file; using a closed model throws MODEL_CLOSED.
 */
export class Model {
  #handle: NativeModelHandle;
  #info: GgufInfo & { vocabOnly: boolean; mapped: boolean; gpu: ModelGpu | null; gpuNote: string | null };
  #hparams: HyperParameters;
  #closed = false;
  #vocab: Vocab | undefined;
  #vocabError: RingllmError | undefined;

  /** @internal use loadModel() */
  constructor(handle: NativeModelHandle) {
    this.#handle = handle;
    const raw = handle.info(DEFAULT_MAX_ARRAY_LENGTH);
    this.#info = { ...toGgufInfo(raw), vocabOnly: raw.vocabOnly, mapped: raw.mapped, gpu: raw.gpu, gpuNote: raw.gpuNote };
    this.#hparams = readHyperParameters(this.#info.architecture, this.#info.metadata);
    try {
      const info = handle.vocabInfo();
      this.#vocab = new Vocab(info, (text) => handle.tokenId(text));
      for (const w of info.warnings) log("warn", w);
    } catch (err) {
      this.#vocabError = fromNative(err); // no usable tokenizer: thrown when the vocabulary is used
    }
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

  /** The GPU running some of its layers, or null when every layer runs on the CPU. */
  get gpu(): ModelGpu | null {
    return this.#info.gpu;
  }

  /** Why `gpu: "auto"` left every layer on the CPU (no GPU, an unsupported model), else null. */
  get gpuNote(): string | null {
    return this.#info.gpuNote;
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

  /**
   * The vocabulary: size, special ids, token types. Throws TOKENIZER_MISSING / TOKENIZER_UNSUPPORTED /
   * TOKENIZER_INVALID when the file's tokenizer metadata is absent or unusable.
   */
  get vocab(): Vocab {
    this.#live();
    if (!this.#vocab) throw this.#vocabError!;
    return this.#vocab;
  }

  /**
   * Text to token ids, exactly as the model's reference tokenizer (synchronous: for long texts use
   * tokenizeAsync, which runs off the main thread).
   *
   * @example
   * const ids = model.tokenize("Hello world", { addSpecial: true }); // Uint32Array [1, 15043, 3186]
   */
  tokenize(text: string, options?: TokenizeOptions): Uint32Array {
    this.#live();
    checkText("tokenize", text);
    checkOptions("tokenize", options, { addSpecial: isBoolean, parseSpecial: isBoolean });
    return this.#native(() => this.#handle.tokenize(text, options?.addSpecial ?? false, options?.parseSpecial ?? false));
  }

  /** tokenize() on the thread pool: the event loop keeps running while a large text is tokenized. */
  async tokenizeAsync(text: string, options?: TokenizeOptions): Promise<Uint32Array> {
    const callSite = new Error();
    this.#live();
    checkText("tokenizeAsync", text);
    checkOptions("tokenizeAsync", options, { addSpecial: isBoolean, parseSpecial: isBoolean });
    try {
      return await this.#handle.tokenizeAsync(text, options?.addSpecial ?? false, options?.parseSpecial ?? false);
    } catch (err) {
      throw fromNative(err, callSite);
    }
  }

  /**
   * Token ids to text. Ids out of range throw INVALID_ARGUMENT. A character split across tokens
   * that never completes becomes U+FFFD.
   *
   * @example
   * model.detokenize(model.tokenize("Hello")) === "Hello"
   */
  detokenize(tokens: TokenList, options?: DetokenizeOptions): string {
    this.#live();
    checkOptions("detokenize", options, { removeSpecial: isBoolean, unparseSpecial: isBoolean });
    const ids = this.#checkTokens("detokenize", tokens);
    return this.#native(() => this.#handle.detokenize(ids, options?.removeSpecial ?? false, options?.unparseSpecial ?? false));
  }

  /** The text of one token as detokenize renders it; `special: true` renders control tokens too. */
  tokenToText(id: number, options?: { special?: boolean }): string {
    this.#live();
    checkOptions("tokenToText", options, { special: isBoolean });
    this.#checkTokens("tokenToText", [id]);
    return this.#native(() => this.#handle.tokenToPiece(id, options?.special ?? false));
  }

  /**
   * Creates an inference context (KV cache) off the main thread. Fails with MODEL_UNSUPPORTED_ARCH
   * or MODEL_UNSUPPORTED_TYPE (naming the tensor) when the engine cannot run this file.
   *
   * @example
   * const ctx = await model.createContext({ contextSize: 2048, threads: 2, seed: 1 });
   */
  async createContext(options?: ContextOptions): Promise<Context> {
    const callSite = new Error();
    this.#live();
    checkOptions("createContext", options, {
      contextSize: (v, name) => {
        if (v !== Infinity && v !== "auto") isIntegerIn(0, 1 << 24)(v, name);
      },
      batchSize: isIntegerIn(1, 1 << 16),
      threads: isIntegerIn(0, 1024),
      seed: isIntegerIn(0, Number.MAX_SAFE_INTEGER),
      attentionSplits: isIntegerIn(0, 256),
      batching: isBoolean,
      kv: (v, name) => {
        if (typeof v !== "object" || v === null || Array.isArray(v)) {
          throw new RingllmError("INVALID_ARGUMENT", `${name} must be an object such as { policy: "sinks" }`);
        }
        checkOptions("createContext: kv", v, {
          policy: isOneOf(["auto", "full", "window", "sinks", "h2o", "recall"]),
          type: isOneOf(["f16", "q8_0", "q4_0"]),
          window: isIntegerIn(1, 1 << 24),
          sinks: isIntegerIn(0, 1 << 24),
          recent: isIntegerIn(0, 1 << 24),
          heavy: isIntegerIn(0, 1 << 24),
          blockSize: (b, n) => {
            isIntegerIn(32, 1 << 20)(b, n);
            if ((b as number) % 32 !== 0) throw new RingllmError("INVALID_ARGUMENT", `${n} must be a multiple of 32 (a block is whole attention tiles of 32 positions), got ${String(b)}`);
          },
          topBlocks: isIntegerIn(1, 1 << 20),
          positions: isOneOf(["remap", "absolute"]),
          store: (s, n) => {
            if (typeof s !== "string" || s === "") throw new RingllmError("INVALID_ARGUMENT", `${n} must be "memory" or a file path; received ${JSON.stringify(s)}`);
          },
        });
      },
    });
    if (options?.contextSize === "auto") options = { ...options, contextSize: this.#autoContextSize(options) };
    try {
      const handle = (await this.#handle.createContext({ ...options })) as NativeContextHandle;
      const note = this.#info.gpu ? handle.stats().gpuNote : null;
      if (note) log("warn", `createContext: this context runs every layer on the CPU: ${note}`);
      return new Context(handle, this);
    } catch (err) {
      throw fromNative(err, callSite);
    }
  }

  /**
   * Memory a context with these options would take, before creating it: the weights (the file's
   * tensor data, mapped by this model already), the KV caches with every slot written, the scratch
   * of a forward pass (`compute`) and their `total`, next to the memory `available` now
   * (MemAvailable on Linux, else free memory). `fits`: what a new context adds (kv + compute) fits
   * in what is available. CPU memory; a GPU's layers also take device memory (`model.gpu`).
   *
   * @example
   * const e = model.estimateMemory({ contextSize: 32768, kv: { type: "q8_0" } });
   * if (!e.fits) console.log(`needs ${e.kv + e.compute} bytes, ${e.available} available`);
   */
  estimateMemory(options?: ContextOptions): MemoryEstimate {
    this.#live();
    if (options?.contextSize === "auto") throw new RingllmError("INVALID_ARGUMENT", 'estimateMemory: contextSize "auto" is for createContext; give a number');
    try {
      const e = this.#handle.estimateMemory({ ...options });
      const available = availableMemory();
      return { ...e, total: e.weights + e.kv + e.compute, available, fits: e.kv + e.compute <= available };
    } catch (err) {
      throw fromNative(err, new Error());
    }
  }

  #autoContextSize(options: ContextOptions): number {
    const train = this.hparams.contextLength ?? 2048;
    const budget = availableMemory() * 0.9;
    const need = (n: number) => {
      const e = this.#handle.estimateMemory({ ...options, contextSize: n });
      return e.kv + e.compute;
    };
    let lo = 0, hi = Math.max(1, Math.floor(train / 256));  // in units of 256 tokens
    if (need(hi * 256) <= budget) return Math.min(train, hi * 256);
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (need(mid * 256) <= budget) lo = mid;
      else hi = mid - 1;
    }
    if (lo === 0) {
      throw new RingllmError("OUT_OF_MEMORY", `createContext: not even 256 tokens of context fit in the ${Math.round(budget / 2 ** 20)} MiB available; free memory, or use kv.type "q8_0" or a bounded kv.policy`);
    }
    return lo * 256;
  }

  /**
   * The model's batched decoding: one entry per thread count its batched contexts use (contexts
   * batch with those of the same `threads`), with the steps run, rows decoded, sequences per step
   * (mean, most, latest) and calls queued or running now. Empty when no batched context is alive.
   */
  stats(): { batches: (BatchStats & { threads: number })[] } {
    this.#live();
    return { batches: this.#handle.batchStats() };
  }

  /** The model's chat template (`tokenizer.chat_template`), or null when the file has none. */
  get chatTemplate(): string | null {
    this.#live();
    const t = this.#info.metadata["tokenizer.chat_template"];
    return typeof t === "string" ? t : null;
  }

  /** Named template variants (`tokenizer.chat_template.<name>`, e.g. "tool_use"). */
  get chatTemplates(): Record<string, string> {
    this.#live();
    const out: Record<string, string> = {};
    const prefix = "tokenizer.chat_template.";
    for (const [key, value] of Object.entries(this.#info.metadata)) {
      if (key.startsWith(prefix) && typeof value === "string") out[key.slice(prefix.length)] = value;
    }
    return out;
  }

  /**
   * Renders messages with the model's chat template (or `options.template`: Jinja source or a
   * built-in format name) and its BOS/EOS token text. See applyChatTemplate.
   */
  async applyChatTemplate(messages: ChatMessage[], options?: ApplyChatTemplateOptions): Promise<string> {
    return this.renderChatTemplate(messages, options);
  }

  /** @internal applyChatTemplate, synchronously (rendering is pure JavaScript). */
  renderChatTemplate(messages: ChatMessage[], options?: ApplyChatTemplateOptions): string {
    this.#live();
    const vocab = this.vocab;
    const text = (id: number | null) => (id === null ? "" : this.tokenToText(id, { special: true }));
    return renderChat(messages, {
      bosToken: text(vocab.bos),
      eosToken: text(vocab.eos),
      ...options,
      template: options?.template ?? this.chatTemplate ?? undefined,
    });
  }


  /**
   * A chat session over a new context (options: the context's, plus system, template, keepSystem,
   * tools). See Chat.
   *
   * @example
   * const chat = await model.createChat({ system: "You are a fortune cookie." });
   * console.log((await chat.ask("Tell me about cats")).content);
   */
  async createChat(options?: ChatOptions): Promise<Chat> {
    this.#live();
    return createChat(this, options);
  }

  /**
   * Embedding vectors of one text or several: the final norm's output per token, pooled —
   * `pooling` "mean" | "cls" (first token) | "last" | "none" (one vector per token, concatenated),
   * default the model's `{arch}.pooling_type`, else "mean". `normalize` (default true) scales each
   * vector to length 1 (not with "none"). The text is tokenized as the model asks (BOS/EOS added;
   * [CLS]/[SEP] for BERT). Runs off the main thread. Architectures: decoder models (llama, qwen2, ...)
   * and encoders (bert, nomic-bert); encoders run several texts per forward pass, up to `batchSize`
   * tokens (default 512), each text attending only to itself.
   *
   * @example
   * const [a, b] = await model.embed(["a cat", "a kitten"]);
   * const cosine = a.reduce((s, x, i) => s + x * b[i], 0); // normalized: the dot product
   */
  embed(text: string, options?: EmbedOptions): Promise<Float32Array>;
  embed(texts: string[], options?: EmbedOptions): Promise<Float32Array[]>;
  async embed(input: string | string[], options?: EmbedOptions): Promise<Float32Array | Float32Array[]> {
    this.#live();
    const texts = typeof input === "string" ? [input] : input;
    if (!Array.isArray(texts) || texts.some((t) => typeof t !== "string")) {
      throw new RingllmError("INVALID_ARGUMENT", `embed: give a string or an array of strings; received ${describe(input)}`);
    }
    checkOptions("embed", options, {
      pooling: isOneOf(["mean", "cls", "last", "none"]),
      normalize: isBoolean,
      batchSize: isIntegerIn(1, 1 << 16),
      threads: isIntegerIn(0, 1024),
      signal: isAbortSignal,
    });
    const pooling = options?.pooling ?? this.#defaultPooling();
    const code = { none: 0, mean: 1, cls: 2, last: 3 }[pooling];
    const normalize = options?.normalize ?? true;
    const ids = await Promise.all(texts.map((t) => this.tokenizeAsync(t, { addSpecial: true })));
    if (ids.some((t) => t.length === 0)) throw new RingllmError("INVALID_ARGUMENT", "embed: a text gives no tokens (an empty string without BOS)");
    const longest = Math.max(1, ...ids.map((t) => t.length));
    const batchSize = options?.batchSize ?? 512;
    const ctx = await this.createContext({
      contextSize: Math.ceil(longest / 64) * 64,
      batchSize: Math.min(batchSize, Math.ceil(longest / 64) * 64),
      threads: options?.threads,
      kv: { policy: "full" },
    });
    try {
      const out: Float32Array[] = [];
      // texts in groups of about batchSize tokens: encoders run a group in one forward pass
      for (let first = 0; first < ids.length; ) {
        let last = first + 1, rows = ids[first].length;
        while (last < ids.length && rows + ids[last].length <= batchSize) rows += ids[last++].length;
        const group = ids.slice(first, last);
        const lengths = Uint32Array.from(group, (t) => t.length);
        const tokens = new Uint32Array(rows);
        group.reduce((at, t) => (tokens.set(t, at), at + t.length), 0);
        const flat = await ctx.embedTokens(tokens, code, options?.signal, group.length > 1 ? lengths : undefined);
        const dims = flat.length / (pooling === "none" ? rows : group.length);
        let at = 0;
        for (const t of group) {
          const n = pooling === "none" ? t.length * dims : dims;
          const v = flat.slice(at, at + n);
          at += n;
          if (normalize && pooling !== "none") {
            let s = 0;
            for (let i = 0; i < v.length; i++) s += v[i] * v[i];
            const k = s > 0 ? 1 / Math.sqrt(s) : 0;
            for (let i = 0; i < v.length; i++) v[i] *= k;
          }
          out.push(v);
        }
        first = last;
      }
      return typeof input === "string" ? out[0] : out;
    } finally {
      await ctx.close();
    }
  }

  /**
   * The pooling embed() uses when none is given: the file's `{arch}.pooling_type` (llama.cpp's
   * numbering: 0 none, 1 mean, 2 cls, 3 last), else "mean".
   */
  get poolingType(): "mean" | "cls" | "last" | "none" {
    this.#live();
    return this.#defaultPooling();
  }

  #defaultPooling(): "mean" | "cls" | "last" | "none" {
    const v = this.#info.metadata[`${this.#info.architecture}.pooling_type`];
    // llama.cpp's enum: 0 none, 1 mean, 2 cls, 3 last (4 rank is a reranker's: not an embedding)
    return v === 0 ? "none" : v === 2 ? "cls" : v === 3 ? "last" : "mean";
  }

  /** @internal Every token's text as UTF-8 bytes (for grammars' token tries). */
  tokenPieces(): { bytes: Uint8Array; offsets: Uint32Array } {
    this.#live();
    return this.#native(() => this.#handle.tokenPieces());
  }

  /**
   * A streaming detokenizer for generated tokens (see TokenDecoder). `after`: the token the
   * decoded text continues (generation after a prompt), so a SentencePiece word's leading space is
   * kept as in the whole text; without it the tokens start a text.
   */
  createTokenDecoder(options?: DetokenizeOptions & { after?: number }): TokenDecoder {
    this.#live();
    checkOptions("createTokenDecoder", options, { removeSpecial: isBoolean, unparseSpecial: isBoolean, after: isIntegerIn(-1, 2 ** 31 - 1) });
    const size = this.vocab.size;
    return new TokenDecoder(
      this.#native(() => this.#handle.createDecoder(options?.removeSpecial ?? false, options?.unparseSpecial ?? false, options?.after ?? -1)),
      size,
    );
  }

  #checkTokens(fn: string, tokens: TokenList): Uint32Array | Int32Array | number[] {
    const size = this.vocab.size;
    // tag check, not instanceof: typed arrays may come from another realm (vm contexts, workers)
    const tag = Object.prototype.toString.call(tokens);
    if (tag !== "[object Uint32Array]" && tag !== "[object Int32Array]" && !Array.isArray(tokens)) {
      throw new RingllmError("INVALID_ARGUMENT", `${fn}: tokens must be a Uint32Array, Int32Array or array of numbers`);
    }
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (typeof t !== "number" || !Number.isInteger(t) || t < 0 || t >= size) {
        throw new RingllmError(
          "INVALID_ARGUMENT",
          `${fn}: token at index ${i} must be an integer id from 0 to ${size - 1}; received ${String(t)}`,
        );
      }
    }
    return tokens as Uint32Array | Int32Array | number[];
  }

  #native<T>(fn: () => T): T {
    try {
      return fn();
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

function checkText(fn: string, text: unknown): void {
  if (typeof text !== "string") {
    throw new RingllmError("INVALID_ARGUMENT", `${fn}: text must be a string; received ${describe(text)}`);
  }
}

/**
 * Loads a GGUF model off the main thread: maps the file, validates every header field and tensor
 * extent, and pre-faults the weights (reporting progress). With no path (undefined) it loads the
 * embedded default model, defaultModelPath().
 *
 * @example
 * const model = await loadModel("model.gguf", { onProgress: (f) => console.log(`${Math.round(f * 100)}%`) });
 * console.log(model.architecture, model.hparams.blockCount);
 * await model.close();
 * const tiny = await loadModel(); // the embedded fortune-cookie model
 */
export async function loadModel(path?: string | URL, options?: LoadModelOptions): Promise<Model> {
  const callSite = new Error();
  const file = path === undefined ? defaultModelPath() : checkPath("loadModel", path);
  checkOptions("loadModel", options, {
    vocabOnly: isBoolean,
    useMmap: isBoolean,
    signal: isAbortSignal,
    onProgress: isFunction,
    gpu: (v, name) => {
      if (v !== false) isOneOf(["auto", "vulkan", "cuda"])(v, name);
    },
    gpuDevice: (v, name) => {
      if (typeof v !== "string" && !(typeof v === "number" && Number.isInteger(v) && v >= 0)) {
        invalidArgument(name, "a device name or index", v);
      }
    },
    gpuLayers: (v, name) => {
      if (v !== "max" && v !== "auto" && (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 1 << 20)) {
        invalidArgument(name, 'a layer count (an integer >= 0), "max" or "auto"', v);
      }
    },
  });
  const signal = options?.signal;
  if (signal?.aborted) throw abortedError("loadModel", signal);
  // RINGLLM_GPU=off (or 0) turns the default "auto" off for the whole process
  const gpu = options?.gpu ?? (["off", "0", "false"].includes(process.env.RINGLLM_GPU ?? "") ? false : "auto");
  const gpuLayers = options?.gpuLayers === undefined || options.gpuLayers === "max" ? -1 : options.gpuLayers === "auto" ? -2 : options.gpuLayers;

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
    job = native().loadModel(
      file,
      { vocabOnly: options?.vocabOnly ?? false, useMmap: options?.useMmap ?? true, gpu: gpu === false ? "" : gpu, gpuDevice: String(options?.gpuDevice ?? ""), gpuLayers },
      onProgress,
    );
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
