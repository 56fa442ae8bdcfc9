// Random-but-seeded encoder models (bert, nomic-bert) with the tensor names, shapes and metadata keys
// llama.cpp reads for them, and an uncased WordPiece vocabulary laid out like BERT's (PAD 0,
// [unusedN] 1..99, UNK 100, CLS 101, SEP 102, MASK 103). Norm weights and biases are random (norms
// around 1), so a bias or norm applied in the wrong place changes the output. Used for embedding
// parity with llama.cpp (scripts/make-embed-goldens.ts) and the encoder tests.

import { randomRows, tensorSeed, TOKEN_TYPE } from "./llama-model";
import { QuantType } from "./quants";
import { Rng } from "./rng";
import { GgufValueType } from "./types";
import { GgufWriter, WriteResult } from "./writer";

export interface BertModelOptions {
  arch: "bert" | "nomic-bert";
  /** PRNG seed (default 1). */
  seed?: number;
  nLayer: number;
  nEmbd: number;
  nHead: number;
  nFf: number;
  /** Positions (bert: rows of position_embd). */
  contextLength: number;
  /** {arch}.pooling_type: 0 none, 1 mean, 2 cls, 3 last; omitted when undefined. */
  pooling?: number;
  /** Type of every 2-D weight (default F32); 1-D tensors stay F32. */
  weightType?: QuantType;
  /** nomic-bert: rope.freq_base (default 1000, nomic-embed's). */
  ropeFreqBase?: number;
  name?: string;
  /** Tensors to leave out (tests of damaged files). */
  omit?: string[];
}

const WORDS = [
  "a", "cat", "sat", "on", "the", "mat", "embeddings", "map", "text", "to", "vectors", "x", "ok", "naive",
  "cafe", "kitten", "dog", "search", "query", "document", "is", "of", "and", "in", "it", "for", "with",
  "model", "tokens", "sentence", "similar", "different", "word", "piece", "hello", "world",
];

/** WordPiece vocabulary: word-start pieces prefixed by U+2581 (as GGUF stores them), continuations bare. */
export function makeWpmVocab(nVocab: number): string[] {
  const tokens = ["[PAD]"];
  for (let i = 0; i < 99; i++) tokens.push(`[unused${i}]`);
  tokens.push("[UNK]", "[CLS]", "[SEP]", "[MASK]");
  const seen = new Set(tokens);
  const push = (t: string): void => {
    if (tokens.length < nVocab && !seen.has(t)) {
      seen.add(t);
      tokens.push(t);
    }
  };
  const lower = "abcdefghijklmnopqrstuvwxyz".split("");
  for (const w of WORDS) push("\u2581" + w);
  for (const c of [...lower, ..."0123456789.,!?'\"-:;()–".split("")]) push("\u2581" + c);
  for (const c of lower) push(c);
  for (const c of ["東", "京", "🚀"]) push("\u2581" + c);
  for (const a of lower) for (const b of lower) push(a + b);
  for (const a of lower) for (const b of lower) push("\u2581" + a + b);
  for (let i = 0; tokens.length < nVocab; i++) push(`\u2581w${i}`);
  return tokens;
}

export function buildBertModel(o: BertModelOptions): GgufWriter {
  const seed = o.seed ?? 1;
  if (o.nEmbd % o.nHead !== 0) throw new Error(`nEmbd (${o.nEmbd}) must be a multiple of nHead (${o.nHead})`);
  const nVocab = 1000;
  const tokens = makeWpmVocab(nVocab);
  const a = o.arch + ".";
  const w = new GgufWriter();
  w.addString("general.architecture", o.arch);
  w.addString("general.name", o.name ?? `ringllm-random-${o.arch}-${o.nLayer}x${o.nEmbd}-seed${seed}`);
  w.addU32(a + "context_length", o.contextLength);
  w.addU32(a + "embedding_length", o.nEmbd);
  w.addU32(a + "block_count", o.nLayer);
  w.addU32(a + "feed_forward_length", o.nFf);
  w.addU32(a + "attention.head_count", o.nHead);
  w.addF32(a + "attention.layer_norm_epsilon", 1e-12);
  w.addBool(a + "attention.causal", false);
  if (o.pooling !== undefined) w.addU32(a + "pooling_type", o.pooling);
  if (o.arch === "nomic-bert") w.addF32(a + "rope.freq_base", o.ropeFreqBase ?? 1000);
  w.addString("tokenizer.ggml.model", "bert");
  w.addArray("tokenizer.ggml.tokens", GgufValueType.STRING, tokens);
  w.addArray("tokenizer.ggml.token_type", GgufValueType.INT32,
    tokens.map((t) => (t.startsWith("[") && t.endsWith("]") ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.NORMAL)));
  w.addU32("tokenizer.ggml.token_type_count", 2);
  w.addU32("tokenizer.ggml.padding_token_id", 0);
  w.addU32("tokenizer.ggml.unknown_token_id", 100);
  w.addU32("tokenizer.ggml.bos_token_id", 101);
  w.addU32("tokenizer.ggml.cls_token_id", 101);
  w.addU32("tokenizer.ggml.seperator_token_id", 102);
  w.addU32("tokenizer.ggml.mask_token_id", 103);

  const E = o.nEmbd, F = o.nFf;
  let index = 0;
  const omit = new Set(o.omit ?? []);
  const matrix = (name: string, rowLen: number, nRows: number, std = 1 / Math.sqrt(rowLen), type = o.weightType ?? "F32"): void => {
    if (omit.has(name)) return void index++;
    w.addTensorF32(name, [rowLen, nRows], randomRows(tensorSeed(seed, index++), rowLen, nRows, std), type);
  };
  const vector = (name: string, n: number, mean: number, std: number): void => {
    if (omit.has(name)) return void index++;
    const x = new Rng(tensorSeed(seed, index++)).fillNormal(new Float32Array(n), std);
    for (let i = 0; i < n; i++) x[i] += mean;
    w.addTensorF32(name, [n], x, "F32");
  };
  const norm = (name: string): void => {
    vector(name + ".weight", E, 1, 0.1);
    vector(name + ".bias", E, 0, 0.1);
  };
  matrix("token_embd.weight", E, nVocab, 1);
  matrix("token_types.weight", E, 2, 0.5, "F32");  // llama.cpp adds its row as is: it must be F32
  if (o.arch === "bert") matrix("position_embd.weight", E, o.contextLength, 0.5);
  norm("token_embd_norm");
  for (let l = 0; l < o.nLayer; l++) {
    const p = `blk.${l}.`;
    if (o.arch === "bert") {
      for (const t of ["attn_q", "attn_k", "attn_v"]) {
        matrix(p + t + ".weight", E, E);
        vector(p + t + ".bias", E, 0, 0.1);
      }
    } else {
      matrix(p + "attn_qkv.weight", E, 3 * E);
    }
    matrix(p + "attn_output.weight", E, E);
    if (o.arch === "bert") vector(p + "attn_output.bias", E, 0, 0.1);
    norm(p + "attn_output_norm");
    matrix(p + "ffn_up.weight", E, F);
    if (o.arch === "bert") vector(p + "ffn_up.bias", F, 0, 0.1);
    else matrix(p + "ffn_gate.weight", E, F);
    matrix(p + "ffn_down.weight", F, E);
    if (o.arch === "bert") vector(p + "ffn_down.bias", E, 0, 0.1);
    norm(p + "layer_output_norm");
  }
  return w;
}

export function writeBertModel(path: string, o: BertModelOptions): WriteResult {
  return buildBertModel(o).writeFile(path);
}
