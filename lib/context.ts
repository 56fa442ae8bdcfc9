// Context: decode and generate over a loaded model.
import { stat } from "node:fs/promises";

import { describe, fromNative, RingllmError } from "./errors";
import { abortedError, checkOptions, checkPath, isAbortSignal, isFunction, isIntegerIn } from "./validate";
import type { Check } from "./validate";
import type { Vocab, TokenDecoder } from "./vocab";
import { Grammar } from "./grammar/index";
import { partialMarkerLength } from "./text";

/** How each layer's KV cache holds tokens (see docs in README "Long context"). */
export type KvPolicyName = "auto" | "full" | "window" | "sinks" | "h2o" | "recall";
export type KvTypeName = "f16" | "q8_0" | "q4_0";

export interface KvOptions {
  /**
   * - `auto` (default): what the model was trained with — layers with a sliding window keep a ring
   *   of exactly that many tokens, the others keep every token up to `contextSize` (then CONTEXT_FULL).
   * - `full`: every layer keeps every token (window layers still attend only to their window).
   * - `window`: every layer keeps the last `window` tokens (a ring); never fills.
   * - `sinks`: StreamingLLM — the first `sinks` tokens plus the last `recent`, positions assigned
   *   inside the cache; for models trained without a window. Never fills.
   * - `h2o`: heavy hitters — per KV head the `recent` newest tokens plus the `heavy` older tokens
   *   that received the most attention. Never fills.
   * - `recall`: sinks + recent as `sinks`, and evicted tokens are kept (moved once) in a store in
   *   blocks of `blockSize`; every query, per KV head, also attends to the `topBlocks` blocks whose
   *   keys can score highest against it (per-dimension min/max bound, as Quest). Attention work per
   *   token stays bounded by sinks + recent + (topBlocks + 1) x blockSize; the store grows with the
   *   stream (`stats().storeBytes`). Never fills. Contexts cannot save their state (UNSUPPORTED).
   * `sinks`, `h2o` and `recall` apply to layers without a trained window; those keep their window ring.
   *
   * @example
   * const ctx = await model.createContext({ contextSize: Infinity,
   *   kv: { policy: "recall", sinks: 4, recent: 256, blockSize: 64, topBlocks: 8, positions: "remap" } });
   */
  policy?: KvPolicyName;
  /** `window`: tokens kept per layer (default: the model's sliding window, else min(contextSize, trained context)). */
  window?: number;
  /** `sinks`: leading tokens always kept (default 4). */
  sinks?: number;
  /** `sinks`: recent tokens kept (default: budget - sinks); `h2o`: recent budget (default: budget - heavy). The budget is min(contextSize, trained context). */
  recent?: number;
  /** `h2o`: heavy-hitter budget (default: half the budget). */
  heavy?: number;
  /** `recall`: tokens per stored block, a positive multiple of 32 (default 64). */
  blockSize?: number;
  /** `recall`: blocks each query attends besides sinks and recent tokens, at least 1 (default 8). */
  topBlocks?: number;
  /**
   * `recall`: "remap" (default) places the selected blocks just before the recent tokens, so every
   * distance stays within sinks + recent + (topBlocks + 1) x blockSize (InfLLM); "absolute" keeps true
   * positions (with every block selected it equals the full cache).
   */
  positions?: "remap" | "absolute";
  /**
   * `recall`: where evicted rows live: "memory" (default), or a file path: the file is created
   * (truncated), unlinked at once and mapped in segments, so a stream can outgrow RAM (the kernel
   * pages the rows). An unwritable path fails createContext with EACCES, ENOENT, EISDIR or EIO.
   */
  store?: "memory" | (string & {});
  /** Storage of K and V: "f16" (default), "q8_0" (8.5 bits/value) or "q4_0" (4.5); quantized needs head dimensions divisible by 32. */
  type?: KvTypeName;
}

export interface KvLayerStats {
  policy: "full" | "window" | "sinks" | "h2o" | "recall";
  /** slots allocated (tokens) */
  capacity: number;
  /** tokens held now */
  held: number;
  window?: number;
  sinks?: number;
  recent?: number;
  heavy?: number;
  blockSize?: number;
  topBlocks?: number;
  positions?: "remap" | "absolute";
}

export interface ContextStats {
  /** tokens run through the model since creation or the last reset */
  tokensProcessed: number;
  /** bytes of K/V storage allocated over all layers (address space: rows are mapped as they are first written) */
  kvBytes: number;
  /** bytes of K/V rows written so far over all layers: the memory the cache occupies (grows with the tokens held) */
  kvUsedBytes: number;
  kvType: KvTypeName;
  /**
   * Bytes of weight copies the model holds in the packed 8-row layout of the matrix kernels
   * (Q4_0, Q8_0, Q4_K, Q5_K, Q6_K, F16, F32 matrices, made once at the first context and shared by every context
   * of the model; 0 with RINGLLM_REPACK=0). The mapped file's pages of those matrices are not read
   * after that.
   */
  repackedBytes: number;
  layers: KvLayerStats[];
  /** `recall`: bytes of evicted K/V rows in the stores, all layers (evicted tokens x row bytes); else 0 */
  storeBytes: number;
  /** `recall`: complete blocks in the stores, all layers */
  blocks: number;
  /** `recall`: blocks selected since the last reset, summed over queries, layers and KV heads */
  selections: number;
  /** `recall`: most keys one query attended in one layer and KV head since the last reset (bounded) */
  attendedKeys: number;
  /**
   * The batched steps this context takes part in (shared by the model's batched contexts of the
   * same thread count; null with `batching: false` or for an encoder): forward passes run, rows
   * they decoded, sequences per step (mean, most, latest) and calls queued or running now.
   */
  batch: BatchStats | null;
  /** layers this context runs on a GPU (the model's last ones; see `model.gpu`) */
  gpuLayers: number;
  /** device memory this context holds: the KV caches of its GPU layers and their scratch */
  deviceBytes: number;
  /**
   * Why the model's GPU layers run on the CPU in this context (a KV option the device does not run
   * yet: kv.type "q4_0", kv.policy "h2o"; or its KV cache did not fit in device memory), else null.
   * createContext logs it as a warning.
   */
  gpuNote: string | null;
}

export interface BatchStats {
  steps: number;
  rows: number;
  meanSequences: number;
  maxSequences: number;
  lastSequences: number;
  running: number;
}

export interface ContextOptions {
  /**
   * Capacity in tokens of layers that keep every token (default 2048; 0: the model's training
   * context length). Infinity is allowed when every layer's cache is bounded (a windowed model
   * with policy "auto", or policy "window", "sinks" or "h2o"). "auto": the largest multiple of 256
   * up to the training context whose cache fits in 90% of the memory available now
   * (`model.estimateMemory`); OUT_OF_MEMORY when not even 256 tokens fit.
   */
  contextSize?: number | "auto";
  /** KV cache policy and storage type (default: { policy: "auto", type: "f16" }). */
  kv?: KvOptions;
  /**
   * Split a single token's attention over this many KV ranges (flash-decoding), merged exactly;
   * default 0 = automatic (splits long contexts across threads). A tuning and testing knob.
   */
  attentionSplits?: number;
  /** Prefill chunk size in tokens (default 512). */
  batchSize?: number;
  /** Worker threads (default: physical cores). */
  threads?: number;
  /** Sampler seed (default 0). */
  seed?: number;
  /**
   * Decode together with the model's other contexts that decode at the same time (default true):
   * one pass over the weights per step for all of them, each with its own cache, sampling and
   * abort; results are bit for bit those of the context alone. Contexts batch together when they
   * have the same `threads`. false: this context runs its own forward passes on its own threads.
   */
  batching?: boolean;
}

export interface GenerateOptions {
  /** Tokens to generate at most (default 256). */
  maxTokens?: number;
  /** 0 = greedy (default 0.8). */
  temperature?: number;
  /** default 40; 0 = off */
  topK?: number;
  /** default 0.95; 1 = off */
  topP?: number;
  /** default 0.05; 0 = off */
  minP?: number;
  /** default 1 (off) */
  repeatPenalty?: number;
  /** default 0 (off) */
  frequencyPenalty?: number;
  /** default 0 (off) */
  presencePenalty?: number;
  /** history length the penalties look at (default 64; -1: whole context) */
  penaltyLastN?: number;
  /** token id -> bias added to its logit (-Infinity bans the token) */
  logitBias?: Record<number, number> | Map<number, number>;
  /** reseeds the sampler before this generation: the same seed gives the same tokens */
  seed?: number;
  /** generation ends before any of these strings (not emitted) or after any of these token ids */
  stop?: (string | number)[];
  signal?: AbortSignal;
  /** called while the prompt is read: see {@link PromptProgress} */
  onPromptProgress?: (progress: PromptProgress) => void;
  /**
   * Report each generated token's log-probability (chunk.logprob) and this many most likely
   * alternatives (chunk.topLogprobs; 0 to 20). Default: none.
   */
  logprobs?: number;
  /**
   * Only text this grammar accepts is generated; generation stops when the grammar is complete and
   * allows nothing more (or at an end token once it is complete). See Grammar.
   */
  grammar?: Grammar;
  /** Shorthand for `grammar: Grammar.fromJsonSchema(jsonSchema)`. */
  jsonSchema?: object | boolean;
}

/**
 * Progress of a long prompt through the model: `done` of `total` tokens. Reported at the start
 * ({ done: 0 }), about every 100 ms while chunks complete (a chunk is `batchSize` tokens), and at
 * the end ({ done: total }). The callback runs on the main thread; the work runs off it.
 */
export interface PromptProgress {
  done: number;
  total: number;
}

export interface GeneratedChunk {
  token: number;
  /** text completed by this token (may be "" while a character or a possible stop string is pending) */
  text: string;
  /** with the logprobs option: the token's natural-log probability under the model (raw logits: no temperature, penalties or grammar) */
  logprob?: number;
  /** with the logprobs option: that many most likely tokens and their log-probabilities, best first */
  topLogprobs?: { token: number; logprob: number }[];
}

/**
 * How a generation ended (the return value of the generate() iterator): "stop" at an
 * end-of-generation token or a stop string/id (`stop` says which), "length" at maxTokens.
 */
export interface GenerateResult {
  finishReason: "stop" | "length";
  stop?: string | number;
}

export interface NativeContextHandle {
  decode(tokens: Uint32Array, allLogits: boolean): Promise<Float32Array>;
  step(params: Record<string, unknown>, feedToken: number, logprobs?: number): Promise<number | { token: number; logprob: number; top: [number, number][] }>;
  cancel(): void;
  reset(): void;
  truncate(position: number): void;
  tokens(): Uint32Array | null;
  saveState(pending: number, path?: string): Promise<Buffer | undefined>;
  embed(tokens: Uint32Array, pooling: number, lengths?: Uint32Array): Promise<Float32Array>;
  loadState(source: Uint8Array | string): Promise<number>;
  info(): { position: number; contextSize: number; vocabSize: number };
  setSeed(seed: number): void;
  close(): void;
  stats(): ContextStats;
  kvSlots(layer: number, kvHead: number): { positions: number[]; scores: number[] | null };
}

export interface ContextModel {
  tokenize(text: string, options?: { addSpecial?: boolean; parseSpecial?: boolean }): Uint32Array;
  tokenPieces(): { bytes: Uint8Array; offsets: Uint32Array };
  createTokenDecoder(options?: { after?: number }): TokenDecoder;
  readonly vocab: Vocab;
}

const isFiniteNumber: Check = (v, name) => {
  if (typeof v !== "number" || Number.isNaN(v)) throw new RingllmError("INVALID_ARGUMENT", `${name} must be a number; received ${describe(v)}`);
};
const isNonNegative: Check = (v, name) => {
  isFiniteNumber(v, name);
  if ((v as number) < 0) throw new RingllmError("INVALID_ARGUMENT", `${name} must be >= 0; received ${v}`);
};
const isUnit: Check = (v, name) => {
  isFiniteNumber(v, name);
  if ((v as number) < 0 || (v as number) > 1) throw new RingllmError("INVALID_ARGUMENT", `${name} must be in [0, 1]; received ${v}`);
};

/**
 * An inference context: a KV cache and a position over one model. Calls on one context are
 * queued and run one at a time (a call never fails with CONTEXT_BUSY through this API).
 *
 * @example
 * const ctx = await model.createContext({ contextSize: 1024 });
 * for await (const { text } of ctx.generate("Once upon a time", { maxTokens: 50, temperature: 0 })) {
 *   process.stdout.write(text);
 * }
 * await ctx.close();
 */
export class Context {
  #handle: NativeContextHandle;
  #model: ContextModel;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  /** a sampled token not yet run through the model (fed at the start of the next call) */
  #pending = -1;
  #last = -1; // the last token taken (decoded or sampled), -1 when unknown or none
  #contextSize: number;
  #vocabSize: number;

  /** @internal use model.createContext() */
  constructor(handle: NativeContextHandle, model: ContextModel) {
    this.#handle = handle;
    this.#model = model;
    const info = handle.info();
    this.#contextSize = info.contextSize;
    this.#vocabSize = info.vocabSize;
  }

  /** Tokens the context can hold before CONTEXT_FULL; Infinity when every layer's cache is bounded. */
  get contextSize(): number {
    return this.#contextSize;
  }

  /**
   * KV cache figures: tokens processed, bytes allocated, and per layer its policy, slots and tokens
   * held. A snapshot taken after the last model call, so it is safe to read during generation.
   */
  stats(): ContextStats {
    this.#live();
    return this.#handle.stats();
  }

  /**
   * Introspection of one layer's cache: the token position held in each slot (-1: empty) and, for
   * h2o, each slot's accumulated attention score. For KV head `kvHead` (h2o keeps a different set
   * per KV head; the other policies hold the same positions for every head). Throws CONTEXT_BUSY
   * while a call runs; await it first.
   */
  kvSlots(layer: number, kvHead = 0): { positions: number[]; scores: number[] | null } {
    this.#live();
    const layers = this.#handle.stats().layers.length;
    isIntegerIn(0, layers - 1)(layer, "kvSlots: layer");
    isIntegerIn(0, 1 << 16)(kvHead, "kvSlots: kvHead");
    try {
      return this.#handle.kvSlots(layer, kvHead);
    } catch (err) {
      throw fromNative(err, new Error());
    }
  }

  /** Tokens in the context so far (including the last generated token). */
  get position(): number {
    this.#live();
    return this.#handle.info().position + (this.#pending >= 0 ? 1 : 0);
  }

  #live(): void {
    if (this.#closed) throw new RingllmError("CONTEXT_CLOSED", "the context was closed; create a new one");
  }

  #enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #checkTokens(fn: string, tokens: Uint32Array | readonly number[]): Uint32Array {
    const tag = Object.prototype.toString.call(tokens);
    if (tag !== "[object Uint32Array]" && !Array.isArray(tokens)) {
      throw new RingllmError("INVALID_ARGUMENT", `${fn}: tokens must be a Uint32Array or an array of numbers`);
    }
    const out = new Uint32Array(tokens.length);
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (typeof t !== "number" || !Number.isInteger(t) || t < 0 || t >= this.#vocabSize) {
        throw new RingllmError("INVALID_ARGUMENT", `${fn}: token at index ${i} must be an integer id from 0 to ${this.#vocabSize - 1}; received ${String(t)}`);
      }
      out[i] = t;
    }
    return out;
  }

  #withPending(tokens: Uint32Array): Uint32Array {
    if (this.#pending < 0) return tokens;
    const out = new Uint32Array(tokens.length + 1);
    out[0] = this.#pending;
    out.set(tokens, 1);
    return out;
  }

  #checkRoom(fn: string, n: number): void {
    const pos = this.#handle.info().position;
    if (pos + n > this.#contextSize) {
      throw new RingllmError(
        "CONTEXT_FULL",
        `${fn}: ${n} tokens at position ${pos} exceed the context size ${this.#contextSize}; ` +
          "create the context with a larger contextSize, or reset() it",
      );
    }
  }

  // Runs a native decode of `total` tokens, reporting its progress from the context's stats (the
  // engine updates them after every chunk) on a timer. An exception thrown by the callback is
  // rethrown once the decode has finished.
  async #withProgress<T>(total: number, onProgress: ((p: PromptProgress) => void) | undefined, fn: () => Promise<T>): Promise<T> {
    if (!onProgress) return fn();
    const start = this.#handle.info().position;
    let thrown: { err: unknown } | undefined;
    let last = -1;
    const report = (done: number) => {
      if (thrown || done === last) return;
      last = done;
      try {
        onProgress({ done, total });
      } catch (err) {
        thrown = { err };
      }
    };
    report(0);
    const timer = setInterval(() => report(Math.min(total, Math.max(0, this.#handle.stats().tokensProcessed - start))), 100);
    let result: T;
    try {
      result = await fn();
    } finally {
      clearInterval(timer);
    }
    report(total);
    if (thrown) throw thrown.err;
    return result;
  }

  async #run<T>(name: string, signal: AbortSignal | undefined, fn: () => Promise<T>, callSite = new Error()): Promise<T> {
    const onAbort = () => this.#handle.cancel();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      return await fn();
    } catch (err) {
      if (signal?.aborted) throw abortedError(name, signal);
      throw fromNative(err, callSite);
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Runs tokens through the model at the current position. Resolves with the logits of the last
   * token (n_vocab floats) or of every token (`logits: "all"`, n_tokens * n_vocab).
   */
  decode(
    tokens: Uint32Array | readonly number[],
    options?: { logits?: "last" | "all"; signal?: AbortSignal; onProgress?: (progress: PromptProgress) => void },
  ): Promise<Float32Array> {
    this.#live();
    checkOptions("decode", options, {
      logits: (v, name) => {
        if (v !== "last" && v !== "all") throw new RingllmError("INVALID_ARGUMENT", `${name} must be "last" or "all"; received ${describe(v)}`);
      },
      signal: isAbortSignal,
      onProgress: isFunction,
    });
    const ids = this.#checkTokens("decode", tokens);
    if (ids.length === 0) return Promise.reject(new RingllmError("INVALID_ARGUMENT", "decode: tokens must not be empty"));
    const signal = options?.signal;
    return this.#enqueue(() =>
      this.#run("decode", signal, async () => {
        if (signal?.aborted) throw abortedError("decode", signal);
        const all = this.#withPending(ids);
        this.#checkRoom("decode", all.length);
        const before = this.#handle.info().position;
        let logits: Float32Array;
        try {
          logits = await this.#withProgress(all.length, options?.onProgress, () => this.#handle.decode(all, options?.logits === "all"));
        } catch (err) {
          // a ring cache keeps the chunks completed before a cancel, the pending token among them
          if (this.#handle.info().position !== before) this.#pending = -1;
          throw err;
        }
        this.#pending = -1;
        this.#last = all[all.length - 1];
        if (options?.logits === "all" && all.length !== ids.length) return logits.slice(this.#vocabSize);
        return logits;
      }),
    );
  }

  /**
   * Generates tokens after a prompt (string or token ids), streaming `{ token, text }`. A string
   * prompt gets BOS when the context is empty and the vocabulary asks for it. Ends at maxTokens,
   * at an end-of-generation token (EOS/EOT), at a stop string or id, or when the signal aborts.
   * Breaking out of the loop stops promptly; the context keeps its position so a later call
   * continues the conversation.
   */
  async *generate(prompt: string | Uint32Array | readonly number[], options?: GenerateOptions): AsyncGenerator<GeneratedChunk, GenerateResult, undefined> {
    this.#live();
    checkOptions("generate", options, {
      maxTokens: isIntegerIn(0, Infinity),
      temperature: isNonNegative,
      topK: isIntegerIn(0, 2 ** 31 - 1),
      topP: isUnit,
      minP: isUnit,
      repeatPenalty: isNonNegative,
      frequencyPenalty: isFiniteNumber,
      presencePenalty: isFiniteNumber,
      penaltyLastN: isIntegerIn(-1, 2 ** 31 - 1),
      logitBias: (v, name) => {
        if (!(v instanceof Map) && (typeof v !== "object" || v === null || Array.isArray(v))) {
          throw new RingllmError("INVALID_ARGUMENT", `${name} must be an object or Map of token id -> number`);
        }
      },
      seed: isIntegerIn(0, Number.MAX_SAFE_INTEGER),
      stop: (v, name) => {
        if (!Array.isArray(v) || v.some((s) => !(typeof s === "string" && s.length > 0) && !(typeof s === "number" && Number.isInteger(s)))) {
          throw new RingllmError("INVALID_ARGUMENT", `${name} must be an array of non-empty strings and token ids`);
        }
      },
      signal: isAbortSignal,
      onPromptProgress: isFunction,
      logprobs: isIntegerIn(0, 20),
      grammar: (v, name) => {
        if (!(v instanceof Grammar)) throw new RingllmError("INVALID_ARGUMENT", `${name} must be a Grammar (Grammar.fromGbnf / fromJsonSchema)`);
      },
      jsonSchema: (v, name) => {
        if ((typeof v !== "object" && typeof v !== "boolean") || v === null) throw new RingllmError("INVALID_ARGUMENT", `${name} must be a JSON schema object`);
      },
    });
    const o = options ?? {};
    if (o.grammar && o.jsonSchema !== undefined) throw new RingllmError("INVALID_ARGUMENT", "generate: give grammar or jsonSchema, not both");
    const grammar = o.grammar ?? (o.jsonSchema !== undefined ? Grammar.fromJsonSchema(o.jsonSchema) : undefined);
    const bias: [number, number][] = [];
    for (const [k, v] of o.logitBias instanceof Map ? o.logitBias : Object.entries(o.logitBias ?? {})) {
      const id = Number(k);
      if (!Number.isInteger(id) || id < 0 || id >= this.#vocabSize || typeof v !== "number" || Number.isNaN(v)) {
        throw new RingllmError("INVALID_ARGUMENT", `generate: logitBias entry ${String(k)} -> ${String(v)} is not a token id and a number`);
      }
      bias.push([id, v]);
    }
    const params = {
      temperature: o.temperature, topK: o.topK, topP: o.topP, minP: o.minP, repeatPenalty: o.repeatPenalty,
      frequencyPenalty: o.frequencyPenalty, presencePenalty: o.presencePenalty, penaltyLastN: o.penaltyLastN,
      logitBias: bias,
    };
    const stopStrings = (o.stop ?? []).filter((s): s is string => typeof s === "string");
    const stopIds = new Set((o.stop ?? []).filter((s): s is number => typeof s === "number"));
    const vocab = this.#model.vocab;
    const endIds = new Set([vocab.eos, vocab.eot, vocab.eom].filter((x): x is number => x !== null));
    const maxTokens = o.maxTokens ?? 256;
    const signal = o.signal;

    const promptIds =
      typeof prompt === "string"
        ? this.#model.tokenize(prompt, { addSpecial: this.#handle.info().position === 0 && this.#pending < 0 })
        : this.#checkTokens("generate", prompt);
    if (typeof prompt !== "string" && promptIds.length === 0 && this.#pending < 0) {
      throw new RingllmError("INVALID_ARGUMENT", "generate: the prompt is empty");
    }

    // One generation at a time per context: wait for earlier calls, hold the queue until done.
    let release!: () => void;
    const done = new Promise<void>((r) => { release = r; });
    const ready = this.#queue;
    this.#queue = ready.then(() => done, () => done);
    await ready.catch(() => undefined);
    try {
      if (signal?.aborted) throw abortedError("generate", signal);
      if (o.seed !== undefined) this.#handle.setSeed(o.seed);
      const first = this.#withPending(promptIds);
      // the token the generated text follows: its kind decides a leading space (SentencePiece)
      const after = first.length > 0 ? first[first.length - 1] : this.#last;
      if (first.length > 0) {
        this.#checkRoom("generate", first.length + 1);
        const before = this.#handle.info().position;
        try {
          await this.#run("generate", signal, () => this.#withProgress(first.length, o.onPromptProgress, () => this.#handle.decode(first, false)));
        } catch (err) {
          // a ring cache keeps the chunks completed before a cancel, the pending token among them
          if (this.#handle.info().position !== before) this.#pending = -1;
          throw err;
        }
        this.#pending = -1;
        this.#last = first[first.length - 1];
      }
      const decoder = this.#model.createTokenDecoder({ after });
      const matcher = grammar?.matcher(this.#model, this.#model, [...endIds]);
      const callSite = new Error(); // one stack capture per generate call, not per token
      let held = ""; // text that may be the start of a stop string
      for (let n = 0; n < maxTokens; n++) {
        if (signal?.aborted) throw abortedError("generate", signal);
        const feed = this.#pending;
        if (feed >= 0) this.#checkRoom("generate", 1);
        const stepParams = matcher ? { ...params, allow: matcher.mask() } : params;
        const stepped = await this.#run("generate", signal, () => this.#handle.step(stepParams, feed, o.logprobs ?? -1), callSite);
        const token = typeof stepped === "number" ? stepped : stepped.token;
        const lp = typeof stepped === "number" ? {} : { logprob: stepped.logprob, topLogprobs: stepped.top.map(([t, l]) => ({ token: t, logprob: l })) };
        this.#pending = token;
        this.#last = token;
        if (matcher && !endIds.has(token) && !matcher.accept(token)) {
          throw new RingllmError("INTERNAL", `generate: the sampler returned token ${token}, which the grammar does not allow`);
        }
        if (endIds.has(token) || stopIds.has(token)) {
          const tail = held + decoder.finish();
          if (tail) yield { token, text: tail };
          return { finishReason: "stop", stop: token };
        }
        held += decoder.push(token);
        let cut = -1;
        for (const s of stopStrings) {
          const at = held.indexOf(s);
          if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        if (cut >= 0) {
          if (cut > 0) yield { token, text: held.slice(0, cut), ...lp };
          return { finishReason: "stop", stop: stopStrings.find((s) => held.startsWith(s, cut)) };
        }
        // emit all but the longest suffix that is a prefix of some stop string
        const keep = partialMarkerLength(held, stopStrings);
        const text = held.slice(0, held.length - keep);
        held = held.slice(held.length - keep);
        yield { token, text, ...lp };
        if (matcher?.finished) {
          const tail = held + decoder.finish();
          if (tail) yield { token, text: tail };
          return { finishReason: "stop" };
        }
      }
      const tail = held + decoder.finish();
      if (tail) yield { token: this.#pending, text: tail };
      return { finishReason: "length" };
    } finally {
      release();
    }
  }

  /**
   * The tokens in the context, oldest first (the last sampled token included), or null when a
   * bounded cache has already let some of them go.
   */
  async tokens(): Promise<Uint32Array | null> {
    this.#live();
    return this.#enqueue(async () => {
      const ids = this.#handle.tokens();
      if (ids === null || this.#pending < 0) return ids;
      const out = new Uint32Array(ids.length + 1);
      out.set(ids);
      out[ids.length] = this.#pending;
      return out;
    });
  }

  /**
   * Goes back to `position`: later tokens are forgotten and the next decode continues there (a chat
   * rewinds to the prefix its next turn shares). Always possible with full caches; with window and
   * sinks caches only while nothing has been evicted, with h2o never — CONTEXT_REWIND then.
   */
  async truncate(position: number): Promise<void> {
    this.#live();
    isIntegerIn(0, Number.MAX_SAFE_INTEGER)(position, "truncate: position");
    await this.#enqueue(async () => {
      const native = this.#handle.info().position;
      const logical = native + (this.#pending >= 0 ? 1 : 0);
      if (position > logical) {
        throw new RingllmError("INVALID_ARGUMENT", `truncate: position ${position} is beyond the context's position ${logical}`);
      }
      if (position === logical) return;
      try {
        this.#handle.truncate(position);
        this.#last = -1;
      } catch (err) {
        throw fromNative(err);
      }
      this.#pending = -1;
    });
  }

  /**
   * Saves the context: its tokens, the KV cache of every layer (ring positions, sinks, h2o scores),
   * the position, the last logits and the sampler's random state, with a header naming the model
   * and a checksum. Without a path it resolves with a Buffer; with a path the state is streamed to
   * that file (a long context's KV cache can be far larger than a Buffer may be).
   *
   * @example
   * await ctx.saveState("conversation.state");
   * // later, with the same model and context options:
   * await ctx2.loadState("conversation.state"); // continues exactly where ctx was
   */
  saveState(): Promise<Buffer>;
  saveState(path: string): Promise<void>;
  async saveState(path?: string): Promise<Buffer | void> {
    this.#live();
    if (path !== undefined) checkPath("saveState", path);
    const callSite = new Error();
    return this.#enqueue(async () => {
      try {
        const out = await this.#handle.saveState(this.#pending, path);
        return path === undefined ? (out as Buffer) : undefined;
      } catch (err) {
        throw fromNative(err, callSite);
      }
    });
  }

  /**
   * Replaces this context's state with one saved by saveState (a Buffer/Uint8Array or a file
   * path). The state must come from the same model and a context with the same KV policy, type and
   * capacity: STATE_MISMATCH says what differs; a damaged or hostile state is STATE_CORRUPT. Either
   * way the context is left as it was.
   */
  async loadState(source: Uint8Array | string): Promise<void> {
    this.#live();
    if (typeof source === "string") checkPath("loadState", source);
    else if (!(source instanceof Uint8Array)) {
      throw new RingllmError("INVALID_ARGUMENT", `loadState: give a Buffer/Uint8Array or a file path; received ${describe(source)}`);
    }
    const callSite = new Error();
    await this.#enqueue(async () => {
      if (typeof source === "string") {
        const st = await stat(source).catch((err: NodeJS.ErrnoException) => {
          throw new RingllmError(err.code === "ENOENT" ? "ENOENT" : err.code === "EACCES" ? "EACCES" : "EIO", `loadState: cannot read ${source}: ${err.message}`);
        });
        if (st.isDirectory()) throw new RingllmError("EISDIR", `loadState: ${source} is a directory, not a saved state`);
      }
      try {
        this.#pending = await this.#handle.loadState(source);
        this.#last = this.#pending;
      } catch (err) {
        throw fromNative(err, callSite);
      }
    });
  }

  /**
   * @internal Embeddings of one text, or of several (`lengths`: tokens per text, one after another
   * in `tokens`; results concatenated in order). See model.embed; the context is left reset.
   */
  async embedTokens(tokens: Uint32Array, pooling: number, signal?: AbortSignal, lengths?: Uint32Array): Promise<Float32Array> {
    this.#live();
    const callSite = new Error();
    return this.#enqueue(() =>
      this.#run("embed", signal, async () => {
        if (signal?.aborted) throw abortedError("embed", signal);
        this.#pending = -1;
        this.#last = -1;
        return this.#handle.embed(tokens, pooling, lengths);
      }, callSite),
    );
  }

  /** Clears the cache: position 0. */
  async reset(): Promise<void> {
    this.#live();
    await this.#enqueue(async () => {
      this.#pending = -1;
      this.#handle.reset();
      this.#last = -1;
    });
  }

  /** Releases the KV cache. Idempotent; a running call is cancelled. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#handle.cancel();
    await this.#queue.catch(() => undefined);
    this.#handle.close();
  }
}
