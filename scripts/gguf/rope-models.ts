// Seeded llama models with RoPE scaling metadata, for the parity test of linear and YaRN scaling
// (test/engine/rope-scaling.test.ts; goldens by scripts/make-rope-goldens.ts).
import { buildLlamaModel } from "./llama-model";
import { WriteResult } from "./writer";

export interface RopeModel {
  type: "none" | "linear" | "yarn";
  factor?: number;
  /** YaRN: rope.scaling.original_context_length */
  originalContext?: number;
}

export const ROPE_TEST_MODELS: Record<string, RopeModel> = {
  none: { type: "none" },
  linear2: { type: "linear", factor: 2 },
  yarn4: { type: "yarn", factor: 4, originalContext: 64 },
  yarn8: { type: "yarn", factor: 8, originalContext: 32 },
};

/** Teacher-forced ids: BOS then 150 tokens, well past the original contexts above. */
export const ROPE_SCORED_IDS = [1, ...Array.from({ length: 150 }, (_, i) => 3 + ((i * 53) % 290))];
/** Positions whose next-token distributions are compared. */
export const ROPE_POSITIONS = [0, 10, 31, 32, 33, 63, 64, 65, 100, 127, 150];

export function writeRopeModel(path: string, m: RopeModel): WriteResult {
  const w = buildLlamaModel({ nLayer: 2, nEmbd: 128, nHead: 4, nHeadKv: 2, nFf: 256, nVocab: 300, contextLength: 512, seed: 9 });
  if (m.type !== "none") {
    w.addString("llama.rope.scaling.type", m.type);
    w.addF32("llama.rope.scaling.factor", m.factor ?? 1);
    if (m.originalContext !== undefined) w.addU32("llama.rope.scaling.original_context_length", m.originalContext);
  }
  return w.writeFile(path);
}
