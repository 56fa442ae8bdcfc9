// Random-but-seeded tiny models of the non-llama architectures the engine runs (qwen2, qwen3, phi3,
// gemma, gemma2, gemma3, cohere2), with the tensor names, shapes and metadata keys llama.cpp reads for each.
// Norm weights and biases are random too (norms around 1), so a convention applied twice or not at
// all (e.g. gemma's stored 1 + w) shows up as a different output.

import { LLAMA_FILE_TYPE, addSpmVocab, makeSpmVocab, randomRows, tensorSeed } from "./llama-model";
import { QuantType } from "./quants";
import { Rng } from "./rng";
import { GgufWriter, WriteResult } from "./writer";

export const ARCH_NAMES = ["qwen2", "qwen3", "phi3", "gemma", "gemma2", "gemma3", "cohere2"] as const;
export type ArchName = (typeof ARCH_NAMES)[number];

export interface ArchModelOptions {
  arch: ArchName;
  /** PRNG seed (default 1): same options and seed give the same bytes. */
  seed?: number;
  nLayer: number;
  nEmbd: number;
  nHead: number;
  /** Default nHead. */
  nHeadKv?: number;
  /** attention.key_length = value_length (gemma*, qwen3); default nEmbd / nHead. */
  headDim?: number;
  nFf: number;
  /** At least 259 (SentencePiece vocab of makeSpmVocab). */
  nVocab: number;
  contextLength: number;
  /** Type of every 2-D weight (default F32); 1-D tensors stay F32. */
  weightType?: QuantType;
  /** Omit output.weight (qwen2, phi3, gemma3; gemma, gemma2 and cohere2 are always tied). */
  tiedEmbeddings?: boolean;
  /** Default 10000 (gemma3: the global layers' base; its local layers use 10000). */
  ropeFreqBase?: number;
  /** Default 1e-6 for gemma*, else 1e-5 (cohere2: attention.layer_norm_epsilon). */
  rmsEps?: number;
  /** gemma2, gemma3, cohere2: attention.sliding_window (default 4096 / 512 / 4096). */
  slidingWindow?: number;
  /** cohere2: logit_scale (default 0.25, Command R7B's). */
  logitScale?: number;
  /** gemma2: attn_logit_softcapping (default 50). */
  attnSoftcap?: number;
  /** gemma2: final_logit_softcapping (default 30). */
  finalSoftcap?: number;
  /** Mean of the gemma* and cohere2 output_norm weights (default 3; std 0.5): how decisive the logits are. */
  outputNormMean?: number;
  name?: string;
}

function check(o: ArchModelOptions): void {
  if (!(ARCH_NAMES as readonly string[]).includes(o.arch)) throw new Error(`arch must be one of ${ARCH_NAMES.join(", ")}; got ${o.arch}`);
  for (const [k, v] of Object.entries({ nLayer: o.nLayer, nEmbd: o.nEmbd, nHead: o.nHead, nFf: o.nFf, contextLength: o.contextLength })) {
    if (!Number.isSafeInteger(v) || v < 1) throw new Error(`${k} must be a positive integer; got ${v}`);
  }
  const kv = o.nHeadKv ?? o.nHead;
  if (o.nHead % kv !== 0) throw new Error(`nHead (${o.nHead}) must be a multiple of nHeadKv (${kv})`);
  if (o.headDim === undefined && o.nEmbd % o.nHead !== 0) throw new Error(`nEmbd (${o.nEmbd}) must be a multiple of nHead (${o.nHead})`);
  if (o.headDim !== undefined && !o.arch.startsWith("gemma") && o.arch !== "qwen3") throw new Error("headDim is only written for gemma* and qwen3");
}

/** Builds (but does not write) a model of `opts.arch`; tensor data is generated when written. */
export function buildArchModel(opts: ArchModelOptions): GgufWriter {
  check(opts);
  const arch = opts.arch;
  const seed = opts.seed ?? 1;
  const gemma = arch.startsWith("gemma");
  const weightType = opts.weightType ?? "F32";
  const nHeadKv = opts.nHeadKv ?? opts.nHead;
  const headDim = opts.headDim ?? opts.nEmbd / opts.nHead;
  const qDim = opts.nHead * headDim;
  const kvDim = nHeadKv * headDim;
  const cohere = arch === "cohere2";
  const tied = arch === "gemma" || arch === "gemma2" || cohere || (opts.tiedEmbeddings ?? false);
  const vocab = makeSpmVocab(opts.nVocab);
  if (arch === "phi3") {
    // llama.cpp's phi3 vocabulary loading looks these up; they replace the last word pieces.
    const special = ["<|endoftext|>", "<|end|>", "<|user|>", "<|assistant|>", "<|system|>"];
    if (opts.nVocab < 259 + special.length) throw new Error(`phi3 needs nVocab >= ${259 + special.length}`);
    special.forEach((t, i) => {
      const id = opts.nVocab - special.length + i;
      vocab.tokens[id] = t;
      vocab.tokenTypes[id] = 3; // CONTROL
      vocab.scores[id] = 0;
    });
  }
  const a = `${arch}.`;

  const w = new GgufWriter();
  w.addString("general.architecture", arch);
  w.addString("general.name", opts.name ?? `ringllm-random-${arch}-${opts.nLayer}x${opts.nEmbd}-${weightType}-seed${seed}`);
  const fileType = LLAMA_FILE_TYPE[weightType];
  if (fileType !== undefined) w.addU32("general.file_type", fileType);
  w.addU32("general.quantization_version", 2);
  w.addU32(a + "context_length", opts.contextLength);
  w.addU32(a + "embedding_length", opts.nEmbd);
  w.addU32(a + "block_count", opts.nLayer);
  w.addU32(a + "feed_forward_length", opts.nFf);
  w.addU32(a + "attention.head_count", opts.nHead);
  w.addU32(a + "attention.head_count_kv", nHeadKv);
  w.addF32(a + (cohere ? "attention.layer_norm_epsilon" : "attention.layer_norm_rms_epsilon"), opts.rmsEps ?? (gemma ? 1e-6 : 1e-5));
  if (gemma || arch === "qwen3") {
    w.addU32(a + "attention.key_length", headDim);
    w.addU32(a + "attention.value_length", headDim);
  }
  if (!gemma) {
    w.addU32(a + "rope.dimension_count", headDim);
  }
  if (arch !== "gemma" && arch !== "gemma2") w.addF32(a + "rope.freq_base", opts.ropeFreqBase ?? 10000);
  if (arch === "phi3") w.addU32(a + "rope.scaling.original_context_length", opts.contextLength);
  if (arch === "gemma2") {
    w.addF32(a + "attn_logit_softcapping", opts.attnSoftcap ?? 50);
    w.addF32(a + "final_logit_softcapping", opts.finalSoftcap ?? 30);
  }
  if (arch === "gemma2" || arch === "gemma3" || cohere) w.addU32(a + "attention.sliding_window", opts.slidingWindow ?? (arch === "gemma3" ? 512 : 4096));
  if (cohere) {
    // What convert_hf_to_gguf.py's Cohere2Model adds; no sliding_window_pattern (llama.cpp fixes it at 4).
    w.addF32(a + "logit_scale", opts.logitScale ?? 0.25);
    w.addU32(a + "vocab_size", opts.nVocab);
  }
  addSpmVocab(w, vocab);

  let index = 0;
  const matrix = (name: string, rowLen: number, nRows: number, gain = 1): void => {
    const rows = randomRows(tensorSeed(seed, index++), rowLen, nRows, gain / Math.sqrt(rowLen));
    w.addTensorF32(name, [rowLen, nRows], rows, weightType);
  };
  // 1-D tensors: mean + std * N(0, 1); norms as stored in the file (gemma's already hold 1 + w).
  const vector = (name: string, n: number, mean: number, std: number): void => {
    const x = new Rng(tensorSeed(seed, index++)).fillNormal(new Float32Array(n), std);
    for (let i = 0; i < n; i++) x[i] += mean;
    w.addTensorF32(name, [n], x, "F32");
  };
  const norm = (name: string, n: number): void => vector(name, n, 1, 0.2);

  // Gemma multiplies embeddings by sqrt(nEmbd) and ties the output: a small table keeps the input
  // token from dominating the residual stream (and so every prediction), and output_norm weights
  // around 3 make the logits decisive again.
  matrix("token_embd.weight", opts.nEmbd, opts.nVocab, gemma ? 0.5 : tied ? 3 : Math.sqrt(opts.nEmbd));
  for (let l = 0; l < opts.nLayer; l++) {
    const p = `blk.${l}.`;
    norm(p + "attn_norm.weight", opts.nEmbd);
    if (arch === "phi3") {
      matrix(p + "attn_qkv.weight", opts.nEmbd, qDim + 2 * kvDim);
    } else {
      matrix(p + "attn_q.weight", opts.nEmbd, qDim);
      matrix(p + "attn_k.weight", opts.nEmbd, kvDim);
      matrix(p + "attn_v.weight", opts.nEmbd, kvDim);
    }
    if (arch === "qwen2") {
      vector(p + "attn_q.bias", qDim, 0, 0.5);
      vector(p + "attn_k.bias", kvDim, 0, 0.5);
      vector(p + "attn_v.bias", kvDim, 0, 0.5);
    }
    if (arch === "gemma3" || arch === "qwen3") {
      norm(p + "attn_q_norm.weight", headDim);
      norm(p + "attn_k_norm.weight", headDim);
    }
    matrix(p + "attn_output.weight", qDim, opts.nEmbd);
    if (arch === "gemma2" || arch === "gemma3") norm(p + "post_attention_norm.weight", opts.nEmbd);
    if (!cohere) norm(p + "ffn_norm.weight", opts.nEmbd); // cohere2's FFN reads attn_norm's output
    if (arch === "phi3") {
      matrix(p + "ffn_up.weight", opts.nEmbd, 2 * opts.nFf); // gate rows, then up rows
    } else {
      matrix(p + "ffn_gate.weight", opts.nEmbd, opts.nFf);
      matrix(p + "ffn_up.weight", opts.nEmbd, opts.nFf);
    }
    matrix(p + "ffn_down.weight", opts.nFf, opts.nEmbd);
    if (arch === "gemma2" || arch === "gemma3") norm(p + "post_ffw_norm.weight", opts.nEmbd);
  }
  if (gemma || cohere) vector("output_norm.weight", opts.nEmbd, opts.outputNormMean ?? 3, 0.5);
  else norm("output_norm.weight", opts.nEmbd);
  if (!tied) matrix("output.weight", opts.nEmbd, opts.nVocab, 3);
  return w;
}

export function writeArchModel(path: string, opts: ArchModelOptions): WriteResult {
  return buildArchModel(opts).writeFile(path);
}

/**
 * The models test/engine/architectures.test.ts compares with llama.cpp (F32, 12 scored positions):
 * GQA or MQA everywhere, a head size other than nEmbd/nHead for gemma, sliding windows shorter than
 * the scored sequence, soft-caps small enough to bend the values, gemma3 with 6 layers so both
 * its local and global layers (and their two RoPE bases) run, and cohere2 with 5 layers (sliding
 * 0-2 and 4 with RoPE, global 3 without) and a window of 5, so the 12 scored and 32 greedy
 * positions run well past it, through the ring's wrap.
 */
export const ARCH_TEST_MODELS: Record<ArchName, ArchModelOptions> = {
  qwen2: { arch: "qwen2", seed: 11, nLayer: 2, nEmbd: 128, nHead: 4, nHeadKv: 2, nFf: 256, nVocab: 320, contextLength: 256, tiedEmbeddings: true, ropeFreqBase: 1000000 },
  // qwen3: per-head Q/K RMSNorm before RoPE, no biases, a head size other than nEmbd / nHead (as Qwen3-0.6B: 1024 / 16 heads of 128)
  qwen3: { arch: "qwen3", seed: 17, nLayer: 2, nEmbd: 96, nHead: 4, nHeadKv: 2, headDim: 32, nFf: 192, nVocab: 320, contextLength: 256, tiedEmbeddings: true, ropeFreqBase: 1000000 },
  phi3: { arch: "phi3", seed: 12, nLayer: 2, nEmbd: 96, nHead: 4, nHeadKv: 2, nFf: 192, nVocab: 320, contextLength: 256 },
  gemma: { arch: "gemma", seed: 13, nLayer: 2, nEmbd: 128, nHead: 4, nHeadKv: 1, headDim: 48, nFf: 256, nVocab: 320, contextLength: 256 },
  gemma2: {
    arch: "gemma2", seed: 14, nLayer: 2, nEmbd: 128, nHead: 4, nHeadKv: 2, headDim: 32, nFf: 256, nVocab: 320, contextLength: 256,
    slidingWindow: 5, attnSoftcap: 4, finalSoftcap: 10,
  },
  gemma3: {
    arch: "gemma3", seed: 15, nLayer: 6, nEmbd: 64, nHead: 2, nHeadKv: 1, headDim: 32, nFf: 128, nVocab: 320, contextLength: 256,
    slidingWindow: 5, ropeFreqBase: 1000000, outputNormMean: 1.5,
  },
  cohere2: {
    arch: "cohere2", seed: 16, nLayer: 5, nEmbd: 128, nHead: 4, nHeadKv: 2, nFf: 256, nVocab: 320, contextLength: 256,
    slidingWindow: 5, ropeFreqBase: 50000, logitScale: 0.25, rmsEps: 1e-5,
  },
};
