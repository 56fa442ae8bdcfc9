#!/usr/bin/env node
// Loads a GGUF file with llama.cpp (node-llama-cpp, CPU only), prints its architecture and tensor
// count, and greedily generates N tokens from BOS (or BOS + a prompt) to prove the model computes.
// With --score IDS (comma-separated, BOS included) it instead teacher-forces those tokens and reports,
// per position, the next-token argmax and probabilities (for comparing two files' logits).
// Usage: node check-load.mjs <file.gguf> [--tokens N] [--prompt TEXT] [--score IDS] [--context N] [--json]
//        [--flash-attention on|off] (default: node-llama-cpp's choice)

import { parseArgs } from "node:util";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const USAGE = "usage: node check-load.mjs <file.gguf> [--tokens N] [--prompt TEXT] [--score IDS] [--context N] [--json] [--quiet] [--special] [--flash-attention on|off]";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    tokens: { type: "string", default: "16" },
    prompt: { type: "string" },
    score: { type: "string" },
    context: { type: "string", default: "256" },
    "flash-attention": { type: "string" },
    json: { type: "boolean", default: false },
    quiet: { type: "boolean", default: false },
    special: { type: "boolean", default: false }, // parse special-token text (e.g. <|im_start|>) in --prompt
    help: { type: "boolean", short: "h" },
  },
});
if (values.help || positionals.length !== 1) {
  console.error(USAGE);
  process.exit(values.help ? 0 : 2);
}
const file = positionals[0];
const nTokens = Number(values.tokens);
const contextSize = Number(values.context);
if (!Number.isInteger(nTokens) || nTokens < 0) throw new Error(`--tokens expects a non-negative integer; got ${values.tokens}`);

const llama = await getLlama({
  gpu: false,
  build: "never", // prebuilt binaries only: nothing here can download or compile llama.cpp
  logLevel: values.quiet ? LlamaLogLevel.error : LlamaLogLevel.warn,
});
const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
const meta = model.fileInfo.metadata;
const architecture = meta?.general?.architecture;
const tensorCount = model.fileInfo.tensorInfo?.length ?? null;
const flash = values["flash-attention"];
if (flash !== undefined && flash !== "on" && flash !== "off") throw new Error(`--flash-attention expects on or off; got ${flash}`);
const context = await model.createContext({
  contextSize: Math.max(contextSize, nTokens + 64),
  threads: 4,
  ...(flash !== undefined ? { flashAttention: flash === "on" } : {}),
});
const sequence = context.getSequence();

const bos = model.tokens.bos;
if (bos == null) throw new Error("model has no BOS token");
const input = [bos, ...(values.prompt ? model.tokenize(values.prompt, values.special) : [])];

let scored = null;
if (values.score !== undefined) {
  const ids = values.score.split(",").map(Number);
  if (ids.some((t) => !Number.isInteger(t) || t < 0)) throw new Error(`--score expects comma-separated token ids; got ${values.score}`);
  const nVocab = model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length ?? 0;
  const out = await sequence.controlledEvaluate(ids.map((t) => [t, { generateNext: { probabilities: true } }]));
  scored = out.map((o) => {
    const probs = new Array(nVocab).fill(0);
    let argmax = -1;
    let pmax = -1;
    for (const [tok, p] of o?.next?.probabilities ?? []) {
      if (tok < nVocab) probs[tok] = p;
      if (p > pmax) [argmax, pmax] = [tok, p];
    }
    return { argmax, pmax: Number(pmax.toFixed(6)), probs: nVocab <= 4096 ? probs.map((p) => Number(p.toFixed(6))) : undefined };
  });
  await sequence.clearHistory();
}

const generated = [];
const confidences = [];
if (nTokens > 0) {
  // temperature 0 = greedy (argmax); EOS is yielded too so the count is exact unless EOS ends it.
  for await (const out of sequence.evaluateWithMetadata(input, { confidence: true }, { temperature: 0, yieldEogToken: true })) {
    generated.push(out.token);
    confidences.push(out.confidence);
    if (generated.length >= nTokens || model.isEogToken(out.token)) break;
  }
}
const text = model.detokenize(generated);
const finite = confidences.every((c) => Number.isFinite(c));

const result = {
  file,
  architecture,
  tensorCount,
  fileType: meta?.general?.file_type ?? null,
  inputTokens: input,
  generatedTokens: generated,
  confidences: confidences.map((c) => Number(c.toFixed(4))),
  text,
  finite,
  scored,
};

if (values.json) {
  console.log(JSON.stringify(result));
} else {
  console.log(`file:         ${file}`);
  console.log(`architecture: ${architecture}`);
  console.log(`tensors:      ${tensorCount}`);
  console.log(`input tokens: ${JSON.stringify(input)}`);
  console.log(`generated:    ${JSON.stringify(generated)}`);
  console.log(`confidence:   ${confidences.map((c) => c.toFixed(3)).join(" ")}`);
  console.log(`text:         ${JSON.stringify(text)}`);
  if (scored) console.log(`scored argmax: ${JSON.stringify(scored.map((x) => x.argmax))}\nscored pmax:   ${scored.map((x) => x.pmax.toFixed(3)).join(" ")}`);
}
await context.dispose();
await model.dispose();
await llama.dispose();
if (!finite) process.exitCode = 1;
