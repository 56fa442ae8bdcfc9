#!/usr/bin/env node
// llama.cpp's embeddings (node-llama-cpp createEmbeddingContext, CPU prebuilt) of texts with a GGUF
// model, as JSON: { vectors: number[][] } — the oracle for test/engine/goldens/embed-llamacpp.json.
// Usage: node embed-check.mjs <file.gguf> <text> [<text> ...]
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const [file, ...texts] = process.argv.slice(2);
if (!file || texts.length === 0) {
  console.error("usage: node embed-check.mjs <file.gguf> <text> [<text> ...]");
  process.exit(2);
}
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
const ctx = await model.createEmbeddingContext({ contextSize: 256, threads: 2 });
const vectors = [];
for (const t of texts) vectors.push(Array.from((await ctx.getEmbeddingFor(t)).vector));
console.log(JSON.stringify({ vectors }));
await ctx.dispose();
await model.dispose();
