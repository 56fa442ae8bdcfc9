// After the last layer's attention only the rows whose logits are read are computed
// (native/engine/transformer.cpp forward_layers): "last" logits must still equal the last row of
// "all" logits bit for bit, also when the prompt runs in several chunks (the non-final chunks skip
// the last layer's tail entirely) and when the model has a single layer (the cut is most of it).
import { join } from "node:path";

import { loadModel } from "../../lib";
import { writeLlamaModel } from "../../scripts/gguf/llama-model";
import { tempDir } from "../helpers";

const SHAPE = { seed: 5, nEmbd: 64, nHead: 4, nHeadKv: 2, nFf: 128, nVocab: 300, contextLength: 128 };
const TOKENS = [1, 17, 250, 3, 99, 42, 7, 150, 201, 64, 12, 280, 5];

let dir: { path: string; cleanup(): void };
beforeAll(() => { dir = tempDir("ringllm-last-rows-"); });
afterAll(() => dir.cleanup());

for (const nLayer of [1, 3]) {
  for (const weightType of ["F32", "Q4_0"] as const) {
    test(`${nLayer} layer(s), ${weightType}: last logits = last row of all logits, in one call and in chunks`, async () => {
      const path = join(dir.path, `m-${nLayer}-${weightType}.gguf`);
      writeLlamaModel(path, { ...SHAPE, nLayer, weightType });
      const model = await loadModel(path);
      try {
        const all = await (await model.createContext({ contextSize: 64, threads: 1 })).decode(TOKENS, { logits: "all" });
        const V = SHAPE.nVocab;
        const lastRow = all.slice((TOKENS.length - 1) * V, TOKENS.length * V);
        const last = await (await model.createContext({ contextSize: 64, threads: 1 })).decode(TOKENS);
        expect(Array.from(last)).toEqual(Array.from(lastRow));
        const chunked = await (await model.createContext({ contextSize: 64, threads: 1, batchSize: 4 })).decode(TOKENS);
        expect(Array.from(chunked)).toEqual(Array.from(lastRow));
        // and every row of "all" is a real, distinct distribution (the cut did not leave stale rows)
        expect(all.slice(0, V)).not.toEqual(lastRow);
        expect(all.every((v) => Number.isFinite(v))).toBe(true);
      } finally {
        await model.close();
      }
    });
  }
}
