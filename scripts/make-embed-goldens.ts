// Writes test/engine/goldens/embed-llamacpp.json: llama.cpp's embeddings (node-llama-cpp
// createEmbeddingContext, through bench/embed-check.mjs) of EMBED_TEXTS with each EMBED_MODELS
// entry: seeded decoder models written by buildLlamaModel (plus `<arch>.pooling_type` when given)
// and encoders (bert, nomic-bert) written by buildBertModel.
// Needs bench/ installed (cd bench && npm ci). Usage: npx tsx scripts/make-embed-goldens.ts
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { EMBED_MODELS, EMBED_TEXTS, writeEmbedModel } from "./gguf/embed-models";

const ROOT = resolve(__dirname, "..");
const OUT = join(ROOT, "test/engine/goldens/embed-llamacpp.json");
const dir = mkdtempSync(join(tmpdir(), "ringllm-embed-goldens-"));
try {
  const models: Record<string, number[][]> = {};
  for (const name of Object.keys(EMBED_MODELS)) {
    const file = join(dir, `${name}.gguf`);
    writeEmbedModel(file, name);
    const res = JSON.parse(execFileSync("node", ["embed-check.mjs", file, ...EMBED_TEXTS], { cwd: join(ROOT, "bench"), maxBuffer: 1 << 26 }).toString());
    models[name] = res.vectors.map((v: number[]) => v.map((x) => Math.round(x * 1e6) / 1e6));
    console.log(name, res.vectors[0].slice(0, 4));
  }
  writeFileSync(OUT, JSON.stringify({
    about: "llama.cpp (node-llama-cpp 3.21.1, prebuilt CPU binary) embeddings of EMBED_TEXTS for each EMBED_MODELS entry of " +
      "scripts/gguf/embed-models.ts (llama decoders and bert / nomic-bert encoders), raw (not normalized), rounded to 6 decimals. Written by `npx tsx scripts/make-embed-goldens.ts` " +
      "through bench/embed-check.mjs (createEmbeddingContext + getEmbeddingFor; llama.cpp pools as the file's pooling_type says, " +
      "the last token when it says nothing).",
    texts: EMBED_TEXTS,
    models,
  }) + "\n");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
