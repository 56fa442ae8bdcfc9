// Random-but-seeded llama-architecture GGUF models that llama.cpp loads: metadata, a tiny
// SentencePiece-style vocab and weights generated row-chunk by row-chunk at write time.

import { QuantType, dequantize, quantize } from "./quants";
import { Rng } from "./rng";
import { GgufValueType, ggmlTensorSize } from "./types";
import { GgufWriter, WriteResult } from "./writer";

export interface LlamaModelOptions {
  /** PRNG seed (default 1): same options and seed give the same bytes. */
  seed?: number;
  nLayer: number;
  nEmbd: number;
  nHead: number;
  /** Default nHead (no GQA). */
  nHeadKv?: number;
  nFf: number;
  /** At least 259: <unk>, <s>, </s> and 256 byte tokens. */
  nVocab: number;
  contextLength: number;
  /** Type of every 2-D weight (default F32); 1-D norm weights stay F32. */
  weightType?: QuantType;
  /** Per-tensor overrides by full name or by the part after "blk.N." (e.g. "ffn_down.weight"). */
  tensorTypes?: Record<string, QuantType>;
  /** general.file_type to write (default: LLAMA_FILE_TYPE of weightType), e.g. 15 for a Q4_K_M mix. */
  fileType?: number;
  slidingWindow?: number;
  /**
   * llama.attention.sliding_window_pattern: a period n (layer il slides when il % n < n - 1) or a
   * per-layer bool array. Needs slidingWindow.
   */
  slidingWindowPattern?: number | boolean[];
  /** Default 10000. */
  ropeFreqBase?: number;
  /** Default 1e-5. */
  rmsEps?: number;
  /**
   * Write an F32 twin of a quantized model: every matrix is rounded through this type's quantizer
   * and dequantizer, then stored as F32. Same seed and shapes give the same weights llama.cpp
   * would decode from the quantized file, so outputs of the two files can be compared.
   */
  simulateType?: QuantType;
  /** Omit output.weight; llama.cpp then reuses token_embd. */
  tiedEmbeddings?: boolean;
  /**
   * Standard deviation of every random matrix. Default: 1/sqrt(row length) (unit-variance outputs),
   * 1 for token_embd and 3/sqrt(nEmbd) for output (and for token_embd when tied), so logits are
   * decisive rather than near-uniform.
   */
  weightStd?: number;
  name?: string;
  version?: 2 | 3;
  alignment?: number;
}

/** llama.cpp's general.file_type ("mostly X") for a file whose 2-D weights are all of one type. */
export const LLAMA_FILE_TYPE: Record<QuantType, number | undefined> = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q8_0: 7,
  Q5_0: 8,
  Q5_1: 9,
  Q2_K: 10,
  Q3_K: 11, // Q3_K_S
  Q4_K: 14, // Q4_K_S
  Q5_K: 16, // Q5_K_S
  Q6_K: 18,
  BF16: 32,
  Q8_1: undefined,
  Q8_K: undefined,
};

/** llama.cpp's LLAMA_FTYPE_MOSTLY_Q4_K_M. */
export const LLAMA_FILE_TYPE_Q4_K_M = 15;

/**
 * Whether llama.cpp's k-quant "_M" mixes give layer i of n more bits: the first and last eighth of
 * the layers and every third layer in between (10 of TinyLlama's 22 layers: 0 1 4 7 10 13 16 19 20 21).
 */
export function kQuantUsesMoreBits(i: number, n: number): boolean {
  const eighth = Math.floor(n / 8);
  return i < eighth || i >= Math.floor((7 * n) / 8) || (i - eighth) % 3 === 2;
}

/**
 * Options for a Q4_K_M-like mix, as llama.cpp's quantizer chooses it for a llama model (our own
 * statement of its rules, not its code): every matrix Q4_K (token_embd included), except
 * output.weight (Q6_K) and attn_v.weight and ffn_down.weight in the layers kQuantUsesMoreBits picks
 * (Q6_K); with tied embeddings token_embd serves as the output and takes Q6_K. Norms stay F32.
 */
export function q4KMMix(nLayer: number, tied = false): Pick<LlamaModelOptions, "weightType" | "tensorTypes" | "fileType"> {
  const tensorTypes: Record<string, QuantType> = { [tied ? "token_embd.weight" : "output.weight"]: "Q6_K" };
  for (let l = 0; l < nLayer; l++) {
    if (!kQuantUsesMoreBits(l, nLayer)) continue;
    tensorTypes[`blk.${l}.attn_v.weight`] = "Q6_K";
    tensorTypes[`blk.${l}.ffn_down.weight`] = "Q6_K";
  }
  return { weightType: "Q4_K", tensorTypes, fileType: LLAMA_FILE_TYPE_Q4_K_M };
}

export const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

const COMMON_WORDS = [
  "the", "a", "and", "to", "of", "was", "he", "she", "it", "in", "they", "his", "her", "that", "with",
  "on", "for", "is", "you", "said", "one", "day", "Once", "upon", "time", "there", "little", "girl",
  "boy", "named", "Lily", "Tim", "happy", "big", "play", "went", "saw", "very", "friend", "mom",
  "dog", "cat", "tree", "sun", "not", "had", "were", "be", "are", "at", "so", "but", "all", "like",
];

export interface SpmVocab {
  tokens: string[];
  scores: number[];
  tokenTypes: number[];
}

/** "<unk>", "<s>", "</s>", "<0x00>".."<0xFF>", then unique word pieces until nVocab. */
/** Writes an SPM vocabulary as llama-family tokenizer metadata (<unk>=0, <s>=1, </s>=2, BOS added). */
export function addSpmVocab(w: GgufWriter, vocab: SpmVocab): void {
  w.addString("tokenizer.ggml.model", "llama");
  w.addArray("tokenizer.ggml.tokens", GgufValueType.STRING, vocab.tokens);
  w.addArray("tokenizer.ggml.scores", GgufValueType.FLOAT32, vocab.scores);
  w.addArray("tokenizer.ggml.token_type", GgufValueType.INT32, vocab.tokenTypes);
  w.addU32("tokenizer.ggml.unknown_token_id", 0);
  w.addU32("tokenizer.ggml.bos_token_id", 1);
  w.addU32("tokenizer.ggml.eos_token_id", 2);
  w.addBool("tokenizer.ggml.add_bos_token", true);
  w.addBool("tokenizer.ggml.add_eos_token", false);
}

export function makeSpmVocab(nVocab: number): SpmVocab {
  if (!Number.isInteger(nVocab) || nVocab < 259) throw new Error(`nVocab must be an integer >= 259; got ${nVocab}`);
  const tokens = ["<unk>", "<s>", "</s>"];
  const tokenTypes: number[] = [TOKEN_TYPE.UNKNOWN, TOKEN_TYPE.CONTROL, TOKEN_TYPE.CONTROL];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    tokenTypes.push(TOKEN_TYPE.BYTE);
  }
  const seen = new Set(tokens);
  const firstNormal = tokens.length;
  const push = (t: string): boolean => {
    if (tokens.length >= nVocab) return false;
    if (!seen.has(t)) {
      seen.add(t);
      tokens.push(t);
      tokenTypes.push(TOKEN_TYPE.NORMAL);
    }
    return true;
  };
  const lower = "abcdefghijklmnopqrstuvwxyz".split("");
  const chars = [...lower, ..."ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'\"-:;()".split("")];
  const gen = function* (): Generator<string> {
    yield "▁";
    for (const w of COMMON_WORDS) yield "▁" + w;
    for (const c of chars) yield c;
    for (const c of chars) yield "▁" + c;
    for (const a of lower) for (const b of lower) yield a + b;
    for (const a of lower) for (const b of lower) yield "▁" + a + b;
    for (const a of lower) for (const b of lower) for (const c of lower) yield a + b + c;
    for (const a of lower) for (const b of lower) for (const c of lower) yield "▁" + a + b + c;
    for (let i = 0; ; i++) yield `▁tok${i}`;
  };
  for (const t of gen()) if (!push(t)) break;
  // SentencePiece scores: earlier (more frequent) pieces merge first.
  const scores = tokens.map((_, i) => (i < firstNormal ? 0 : -(i - firstNormal)));
  return { tokens, scores, tokenTypes };
}

function checkOptions(o: LlamaModelOptions): Required<Pick<LlamaModelOptions, "nHeadKv">> {
  const pos = (name: string, v: number | undefined): void => {
    if (v === undefined || !Number.isSafeInteger(v) || v < 1) throw new Error(`${name} must be a positive integer; got ${v}`);
  };
  pos("nLayer", o.nLayer);
  pos("nEmbd", o.nEmbd);
  pos("nHead", o.nHead);
  pos("nFf", o.nFf);
  pos("contextLength", o.contextLength);
  const nHeadKv = o.nHeadKv ?? o.nHead;
  pos("nHeadKv", nHeadKv);
  if (o.nEmbd % o.nHead !== 0) throw new Error(`nEmbd (${o.nEmbd}) must be a multiple of nHead (${o.nHead})`);
  if (o.nHead % nHeadKv !== 0) throw new Error(`nHead (${o.nHead}) must be a multiple of nHeadKv (${nHeadKv})`);
  if (o.slidingWindow !== undefined) pos("slidingWindow", o.slidingWindow);
  const pattern = o.slidingWindowPattern;
  if (pattern !== undefined) {
    if (o.slidingWindow === undefined) throw new Error("slidingWindowPattern needs slidingWindow");
    if (Array.isArray(pattern)) {
      if (pattern.length !== o.nLayer) throw new Error(`slidingWindowPattern has ${pattern.length} entries for ${o.nLayer} layers`);
    } else {
      pos("slidingWindowPattern", pattern);
    }
  }
  return { nHeadKv };
}

/** Stable 32-bit seed per (model seed, tensor index), independent of write order. */
export function tensorSeed(seed: number, index: number): number {
  let h = Math.imul((seed | 0) ^ 0x5bd1e995, 0x9e3779b1) ^ Math.floor(seed / 0x100000000);
  h = Math.imul(h ^ (index + 0x7f4a7c15), 0x85ebca6b);
  return (h ^ (h >>> 15)) >>> 0;
}

const CHUNK_ELEMENTS = 1 << 20;

/** Normal weights produced a few rows at a time, so only one chunk of floats exists at once. */
export function randomRows(seed: number, rowLen: number, nRows: number, std: number, through?: QuantType): () => Iterable<Float32Array> {
  return function* () {
    const rng = new Rng(seed);
    const rowsPerChunk = Math.max(1, Math.floor(CHUNK_ELEMENTS / rowLen));
    for (let r = 0; r < nRows; r += rowsPerChunk) {
      const n = Math.min(rowsPerChunk, nRows - r) * rowLen;
      const x = rng.fillNormal(new Float32Array(n), std);
      yield through === undefined ? x : dequantize(through, quantize(through, x));
    }
  };
}

/** Builds (but does not write) a llama model; tensor data is generated when the writer writes. */
export function buildLlamaModel(opts: LlamaModelOptions): GgufWriter {
  const { nHeadKv } = checkOptions(opts);
  const seed = opts.seed ?? 1;
  const weightType = opts.simulateType !== undefined ? "F32" : opts.weightType ?? "F32";
  const headDim = opts.nEmbd / opts.nHead;
  const nEmbdKv = headDim * nHeadKv;
  const vocab = makeSpmVocab(opts.nVocab);

  const w = new GgufWriter({ version: opts.version, alignment: opts.alignment });
  w.addString("general.architecture", "llama");
  w.addString("general.name", opts.name ?? `ringllm-random-llama-${opts.nLayer}x${opts.nEmbd}-${weightType}-seed${seed}`);
  const fileType = opts.simulateType !== undefined ? LLAMA_FILE_TYPE.F32 : opts.fileType ?? LLAMA_FILE_TYPE[weightType];
  if (fileType !== undefined) w.addU32("general.file_type", fileType);
  w.addU32("general.quantization_version", 2);
  w.addU32("llama.context_length", opts.contextLength);
  w.addU32("llama.embedding_length", opts.nEmbd);
  w.addU32("llama.block_count", opts.nLayer);
  w.addU32("llama.feed_forward_length", opts.nFf);
  w.addU32("llama.attention.head_count", opts.nHead);
  w.addU32("llama.attention.head_count_kv", nHeadKv);
  w.addU32("llama.rope.dimension_count", headDim);
  w.addF32("llama.attention.layer_norm_rms_epsilon", opts.rmsEps ?? 1e-5);
  w.addF32("llama.rope.freq_base", opts.ropeFreqBase ?? 10000);
  w.addU32("llama.vocab_size", opts.nVocab);
  if (opts.slidingWindow !== undefined) w.addU32("llama.attention.sliding_window", opts.slidingWindow);
  const pattern = opts.slidingWindowPattern;
  if (Array.isArray(pattern)) w.addArray("llama.attention.sliding_window_pattern", GgufValueType.BOOL, pattern);
  else if (pattern !== undefined) w.addU32("llama.attention.sliding_window_pattern", pattern);
  addSpmVocab(w, vocab);

  let index = 0;
  const typeFor = (name: string): QuantType => {
    const short = name.replace(/^blk\.\d+\./, "");
    return opts.tensorTypes?.[name] ?? opts.tensorTypes?.[short] ?? opts.simulateType ?? weightType;
  };
  const matrix = (name: string, rowLen: number, nRows: number, gain = 1): void => {
    const type = typeFor(name);
    const std = opts.weightStd ?? gain / Math.sqrt(rowLen);
    try {
      ggmlTensorSize(type, [rowLen, nRows]);
    } catch (e) {
      throw new Error(`${name} [${rowLen}, ${nRows}] cannot be ${type}: ${(e as Error).message}`);
    }
    const through = opts.simulateType !== undefined ? type : undefined;
    const rows = randomRows(tensorSeed(seed, index++), rowLen, nRows, std, through);
    w.addTensorF32(name, [rowLen, nRows], rows, through !== undefined ? "F32" : type);
  };
  const norm = (name: string, n: number): void => {
    index++;
    w.addTensorF32(name, [n], new Float32Array(n).fill(1), "F32");
  };

  // Tied: token_embd doubles as the output projection, so it takes output's scale.
  matrix("token_embd.weight", opts.nEmbd, opts.nVocab, opts.tiedEmbeddings ? 3 : Math.sqrt(opts.nEmbd));
  for (let l = 0; l < opts.nLayer; l++) {
    const p = `blk.${l}.`;
    norm(p + "attn_norm.weight", opts.nEmbd);
    matrix(p + "attn_q.weight", opts.nEmbd, opts.nEmbd);
    matrix(p + "attn_k.weight", opts.nEmbd, nEmbdKv);
    matrix(p + "attn_v.weight", opts.nEmbd, nEmbdKv);
    matrix(p + "attn_output.weight", opts.nEmbd, opts.nEmbd);
    norm(p + "ffn_norm.weight", opts.nEmbd);
    matrix(p + "ffn_gate.weight", opts.nEmbd, opts.nFf);
    matrix(p + "ffn_down.weight", opts.nFf, opts.nEmbd);
    matrix(p + "ffn_up.weight", opts.nEmbd, opts.nFf);
  }
  norm("output_norm.weight", opts.nEmbd);
  if (!opts.tiedEmbeddings) matrix("output.weight", opts.nEmbd, opts.nVocab, 3);
  return w;
}

/** Writes a llama model to `path`, streaming: at most one chunk of one tensor's floats in memory. */
export function writeLlamaModel(path: string, opts: LlamaModelOptions): WriteResult {
  return buildLlamaModel(opts).writeFile(path);
}

export const LLAMA_PRESETS: Record<string, Omit<LlamaModelOptions, "seed">> = {
  /** A few hundred KB: quick tests. */
  tiny: { nLayer: 2, nEmbd: 64, nHead: 4, nHeadKv: 2, nFf: 128, nVocab: 512, contextLength: 256 },
  /** TinyLlama 1.1B shapes (about 640 MB as Q4_0). */
  tinyllama: {
    nLayer: 22, nEmbd: 2048, nHead: 32, nHeadKv: 4, nFf: 5632, nVocab: 32000, contextLength: 2048,
    ropeFreqBase: 10000, rmsEps: 1e-5, weightType: "Q4_0",
  },
  /** Mistral 7B v0.1 shapes with its 4096-token sliding window (about 4 GB as Q4_0). */
  "mistral-7b": {
    nLayer: 32, nEmbd: 4096, nHead: 32, nHeadKv: 8, nFf: 14336, nVocab: 32000, contextLength: 32768,
    ropeFreqBase: 10000, rmsEps: 1e-5, slidingWindow: 4096, weightType: "Q4_0",
  },
};
