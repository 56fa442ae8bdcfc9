// Hyper-parameters read from `{architecture}.*` metadata keys.
import type { MetadataValue } from "./gguf";

export interface HyperParameters {
  /** training context length ({arch}.context_length) */
  contextLength: number | undefined;
  embeddingLength: number | undefined;
  blockCount: number | undefined;
  feedForwardLength: number | undefined;
  headCount: number | undefined;
  /** KV heads; equals headCount when the file does not say (no GQA) */
  headCountKv: number | undefined;
  /** per-head key dimension: attention.key_length, else embeddingLength / headCount */
  headDim: number | undefined;
  ropeDimensionCount: number | undefined;
  ropeFreqBase: number | undefined;
  rmsNormEpsilon: number | undefined;
  /** sliding attention window, when the model was trained with one */
  slidingWindow: number | undefined;
  /** tokens in the vocabulary (tokenizer.ggml.tokens length, else {arch}.vocab_size) */
  vocabSize: number | undefined;
}

function num(v: MetadataValue | undefined): number | undefined {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  // per-layer arrays (e.g. head_count_kv in some files): use the first entry
  if (Array.isArray(v) && v.length > 0) return num(v[0]);
  return undefined;
}

function arrayLength(v: MetadataValue | undefined): number | undefined {
  if (Array.isArray(v)) return v.length;
  if (v && typeof v === "object" && "kind" in v) return v.length;
  return undefined;
}

export function readHyperParameters(arch: string, meta: Record<string, MetadataValue>): HyperParameters {
  const k = (name: string) => num(meta[`${arch}.${name}`]);
  const headCount = k("attention.head_count");
  const embd = k("embedding_length");
  const keyLength = k("attention.key_length");
  return {
    contextLength: k("context_length"),
    embeddingLength: embd,
    blockCount: k("block_count"),
    feedForwardLength: k("feed_forward_length"),
    headCount,
    headCountKv: k("attention.head_count_kv") ?? headCount,
    headDim: keyLength ?? (embd !== undefined && headCount ? embd / headCount : undefined),
    ropeDimensionCount: k("rope.dimension_count"),
    ropeFreqBase: k("rope.freq_base"),
    rmsNormEpsilon: k("attention.layer_norm_rms_epsilon"),
    slidingWindow: k("attention.sliding_window"),
    vocabSize: arrayLength(meta["tokenizer.ggml.tokens"]) ?? k("vocab_size"),
  };
}
