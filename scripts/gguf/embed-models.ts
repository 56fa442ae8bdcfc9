// Seeded decoder models for embedding parity with llama.cpp (scripts/make-embed-goldens.ts,
// test/engine/embed.test.ts): llama shapes with and without `llama.pooling_type`.
import { buildLlamaModel, type LlamaModelOptions } from "./llama-model";

export const EMBED_TEXTS = ["a cat sat on the mat", "Embeddings map text to vectors.", "x", "naïve café – 東京 🚀 ok"];

export const EMBED_MODELS: Record<string, { options: LlamaModelOptions; pooling?: number; ours: "mean" | "cls" | "last" }> = {
  // no pooling_type: llama.cpp takes the last token's vector
  "llama-last": { options: { seed: 21, nLayer: 2, nEmbd: 64, nHead: 4, nHeadKv: 2, nFf: 128, nVocab: 320, contextLength: 256 }, ours: "last" },
  "llama-mean": { options: { seed: 22, nLayer: 3, nEmbd: 96, nHead: 4, nHeadKv: 1, nFf: 192, nVocab: 400, contextLength: 256 }, pooling: 1, ours: "mean" },
  "llama-cls": { options: { seed: 23, nLayer: 2, nEmbd: 128, nHead: 8, nHeadKv: 2, nFf: 256, nVocab: 320, contextLength: 256 }, pooling: 2, ours: "cls" },
};

export function writeEmbedModel(path: string, name: string): void {
  const m = EMBED_MODELS[name];
  const w = buildLlamaModel(m.options);
  if (m.pooling !== undefined) w.addU32("llama.pooling_type", m.pooling);
  w.writeFile(path);
}
