// Seeded models for embedding parity with llama.cpp (scripts/make-embed-goldens.ts,
// test/engine/embed.test.ts): decoder (llama) shapes with and without `llama.pooling_type`, and
// encoders (bert with learned positions, nomic-bert with RoPE and SwiGLU) of a few shapes.
import { buildBertModel, type BertModelOptions } from "./bert-models";
import { buildLlamaModel, type LlamaModelOptions } from "./llama-model";

export const EMBED_TEXTS = ["a cat sat on the mat", "Embeddings map text to vectors.", "x", "naïve café – 東京 🚀 ok"];

export interface EmbedModel {
  llama?: LlamaModelOptions;
  encoder?: BertModelOptions;
  /** `{arch}.pooling_type` written to a llama file (encoders carry it in their options). */
  pooling?: number;
  /** The pooling llama.cpp applies to this file, by our name. */
  ours: "mean" | "cls" | "last";
}

export const EMBED_MODELS: Record<string, EmbedModel> = {
  // no pooling_type: llama.cpp takes the last token's vector
  "llama-last": { llama: { seed: 21, nLayer: 2, nEmbd: 64, nHead: 4, nHeadKv: 2, nFf: 128, nVocab: 320, contextLength: 256 }, ours: "last" },
  "llama-mean": { llama: { seed: 22, nLayer: 3, nEmbd: 96, nHead: 4, nHeadKv: 1, nFf: 192, nVocab: 400, contextLength: 256 }, pooling: 1, ours: "mean" },
  "llama-cls": { llama: { seed: 23, nLayer: 2, nEmbd: 128, nHead: 8, nHeadKv: 2, nFf: 256, nVocab: 320, contextLength: 256 }, pooling: 2, ours: "cls" },
  // MiniLM-like (mean) and BGE-like (cls) BERTs, and a nomic-embed-like encoder
  "bert-mean": { encoder: { arch: "bert", seed: 31, nLayer: 2, nEmbd: 64, nHead: 4, nFf: 256, contextLength: 128, pooling: 1 }, ours: "mean" },
  "bert-cls": { encoder: { arch: "bert", seed: 32, nLayer: 3, nEmbd: 96, nHead: 6, nFf: 192, contextLength: 64, pooling: 2 }, ours: "cls" },
  "bert-f16": { encoder: { arch: "bert", seed: 33, nLayer: 2, nEmbd: 128, nHead: 4, nFf: 256, contextLength: 256, pooling: 1, weightType: "F16" }, ours: "mean" },
  "nomic-mean": { encoder: { arch: "nomic-bert", seed: 34, nLayer: 2, nEmbd: 64, nHead: 4, nFf: 192, contextLength: 256, pooling: 1 }, ours: "mean" },
  "nomic-q8": { encoder: { arch: "nomic-bert", seed: 35, nLayer: 2, nEmbd: 128, nHead: 8, nFf: 256, contextLength: 256, pooling: 1, weightType: "Q8_0" }, ours: "mean" },
};

export function writeEmbedModel(path: string, name: string): void {
  const m = EMBED_MODELS[name];
  if (m.encoder) {
    buildBertModel(m.encoder).writeFile(path);
    return;
  }
  const w = buildLlamaModel(m.llama!);
  if (m.pooling !== undefined) w.addU32("llama.pooling_type", m.pooling);
  w.writeFile(path);
}
