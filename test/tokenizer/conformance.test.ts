// Every shared conformance vector tokenizes exactly as the reference tokenizer did, and the
// detokenizer and streaming decoder agree with it.
import { basename } from "node:path";

import { loadModel, Model } from "../../lib";
import { sharedTest, VOCABS } from "../helpers";
import { readVectors } from "./vectors";

const models = new Map<string, Model>();
afterAll(async () => {
  for (const m of models.values()) await m.close();
});

async function vocabModel(file: string): Promise<Model> {
  let m = models.get(file);
  if (!m) {
    m = await loadModel(file, { vocabOnly: true });
    models.set(file, m);
  }
  return m;
}

for (const file of VOCABS) {
  const name = basename(file, ".gguf").replace("ggml-vocab-", "");
  describe(name, () => {
    sharedTest("every vector tokenizes to the reference ids", [file, `${file}.inp`, `${file}.out`], async () => {
      const model = await vocabModel(file);
      const failures: string[] = [];
      const vectors = readVectors(file);
      for (const v of vectors) {
        const got = Array.from(model.tokenize(v.input));
        if (got.join(" ") !== v.expected.join(" ")) {
          failures.push(`${JSON.stringify(v.input)}\n    expected ${v.expected.join(" ")}\n    got      ${got.join(" ")}`);
        }
      }
      expect(vectors.length).toBeGreaterThan(40);
      if (failures.length) throw new Error(`${failures.length}/${vectors.length} vectors differ:\n  ${failures.join("\n  ")}`);
    });

    sharedTest("detokenize(tokenize(s)) gives s back", [file, `${file}.inp`], async () => {
      const model = await vocabModel(file);
      for (const v of readVectors(file)) {
        const text = model.detokenize(model.tokenize(v.input));
        expect(text).toBe(v.input);
      }
    });

    sharedTest("the streaming decoder fed one token at a time equals detokenize of all", [file, `${file}.inp`], async () => {
      const model = await vocabModel(file);
      for (const v of readVectors(file)) {
        for (const opts of [{}, { unparseSpecial: true }]) {
          const ids = model.tokenize(v.input, { addSpecial: true });
          const dec = model.createTokenDecoder(opts);
          let streamed = "";
          for (const id of ids) streamed += dec.push(id);
          streamed += dec.finish();
          expect(streamed).toBe(model.detokenize(ids, opts));
        }
      }
    });

    sharedTest("tokenizeAsync gives the same ids as tokenize", [file, `${file}.inp`], async () => {
      const model = await vocabModel(file);
      for (const v of readVectors(file).slice(0, 10)) {
        expect(await model.tokenizeAsync(v.input)).toEqual(model.tokenize(v.input));
      }
    });
  });
}
