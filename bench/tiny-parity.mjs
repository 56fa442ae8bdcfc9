#!/usr/bin/env node
// Greedy parity of the embedded default model (models/ringllm-tiny-fortunes.gguf), ringllm vs
// llama.cpp (node-llama-cpp 3.21.1, CPU prebuilt): the same prompt (BOS + prompt, tokenized by each
// library) and 50 greedy steps. Prompt + steps stay below the model's 128-token sliding window, so
// llama.cpp running its full cache computes exactly what ringllm's windowed cache does. A run ends at
// </s> or at <|im_end|> (the EOT token of the ChatML turns the model also learned).
// Prints both token lists and the number of leading steps that agree; exits 1 on any difference.
// Usage: node tiny-parity.mjs [--prompt TEXT] [--steps N] [--chat]
// --chat: the prompt is a user message, rendered as the model's ChatML and tokenized with special-token
// parsing by both libraries; the greedy answer normally ends at <|im_end|>.
// Needs `npm run build` in the repository root and `npm ci` here.
import { createRequire } from "node:module";
import { spawnSync } from "node:child_process";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const require = createRequire(import.meta.url);
const ringllm = require(join(root, "dist", "cjs", "index.js"));

const { values } = parseArgs({
  options: {
    prompt: { type: "string", default: "Q: What do you call a" },
    steps: { type: "string", default: "50" },
    chat: { type: "boolean", default: false },
  },
});
const steps = Number(values.steps);
const prompt = values.chat ? `<|im_start|>user\n${values.prompt}<|im_end|>\n<|im_start|>assistant\n` : values.prompt;
const file = ringllm.defaultModelPath();

// llama.cpp in a child process (check-load.mjs): node-llama-cpp may crash on dispose + reload.
const r = spawnSync(process.execPath, [join(here, "check-load.mjs"), file, "--json", "--quiet",
  "--prompt", prompt, ...(values.chat ? ["--special"] : []), "--tokens", String(steps), "--context", "256"], { encoding: "utf8", maxBuffer: 64 << 20 });
if (r.status !== 0) throw new Error(`check-load failed: ${r.stderr}`);
const ref = JSON.parse(r.stdout.trim().split("\n").pop());

const model = await ringllm.loadModel(file);
const window = model.hparams.slidingWindow;
const input = [...model.tokenize(prompt, { addSpecial: true, parseSpecial: values.chat })];
if (input.length + steps > window) throw new Error(`prompt (${input.length} tokens) + ${steps} steps exceed the ${window}-token window`);
const ctx = await model.createContext({ contextSize: 256 });
const ours = [];
for await (const c of ctx.generate(input, { maxTokens: steps, temperature: 0 })) ours.push(c.token);
// Either end token stops a run: </s> (plain text) or <|im_end|> (end of a chat turn, the EOT id).
const eog = new Set([model.vocab.eos, model.vocab.eot].filter((t) => t !== null));
await ctx.close();
await model.close();

// llama.cpp's list includes the EOS/EOT that ends generation; ringllm stops before yielding it.
const theirs = ref.generatedTokens.filter((t) => !eog.has(t));
let agree = 0;
while (agree < Math.min(ours.length, theirs.length) && ours[agree] === theirs[agree]) agree++;
const sameInput = JSON.stringify(input) === JSON.stringify(ref.inputTokens);
const pass = sameInput && agree === ours.length && agree === theirs.length;
const report = {
  file, prompt, window, inputTokens: input, llamacppInputTokens: ref.inputTokens,
  ringllm: ours, llamacpp: ref.generatedTokens, stepsCompared: Math.max(ours.length, theirs.length), agree,
  endedByEog: ref.generatedTokens.some((t) => eog.has(t)), text: ref.text, pass,
};
console.log(Object.entries(report).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join("\n"));
if (!pass) process.exitCode = 1;
