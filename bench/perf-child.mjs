#!/usr/bin/env node
// One measurement of bench/perf.mjs, in its own process (peak RSS is per process, and node-llama-cpp
// crashes on dispose + reload): one engine, one model file, one thread count. Prints progress on
// stderr and one line "@@RESULT {json}" on stdout.
//
//   --mode speed:   prefill = one decode() of each --prompts length from an empty cache (--runs
//                   times, reset before each); decode = --steps single-token calls after a
//                   --decode-prompt-token prompt (2 warm-ups first). Logits of the last token only.
//   --mode latency: per-token time of greedy generation from JS (--gen-tokens tokens after
//                   --prompt-ids, --runs times; first token excluded, it carries the prompt), and of
//                   single-token decode calls.
//
// ringllm: loadModel + createContext({ threads, batchSize, contextSize }) + ctx.decode(tokens,
// { logits: "last" }) / ctx.generate(ids, { temperature: 0 }). llama.cpp: getLlama({ gpu: false,
// build: "never" }), gpuLayers 0, threads { ideal, min }, sequence.controlledEvaluate with
// generateNext.token on the last token (so it computes the output layer and samples, as ringllm
// returns logits; evaluateWithoutGeneratingNewTokens would skip the output matrix) and
// sequence.evaluate(ids, { temperature: 0 }).
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { median, randomTokens } from "./common.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");

const { values } = parseArgs({
  options: {
    engine: { type: "string" },
    mode: { type: "string", default: "speed" },
    model: { type: "string" },
    threads: { type: "string", default: "1" },
    prompts: { type: "string", default: "128,512" },
    "decode-prompt": { type: "string", default: "128" },
    steps: { type: "string", default: "32" },
    runs: { type: "string", default: "3" },
    budget: { type: "string", default: "240" },
    "gen-tokens": { type: "string", default: "64" },
    "prompt-ids": { type: "string", default: "" },
  },
});

const THREADS = Number(values.threads);
const PROMPTS = values.prompts.split(",").filter(Boolean).map(Number);
const DECODE_PROMPT = Number(values["decode-prompt"]);
const STEPS = Number(values.steps);
const RUNS = Math.max(1, Number(values.runs));
const BUDGET_S = Number(values.budget);
const GEN_TOKENS = Number(values["gen-tokens"]);
const WARMUP = 2;

const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).map(Number);
const now = () => performance.now();
const log = (msg) => process.stderr.write(`  [${values.engine} t${THREADS}] ${msg}\n`);


// ---------------------------------------------------------------------------------------------
// Engines: the same small interface over both libraries. evalLast(ids) runs ids after what the
// cache holds and computes the last token's logits; generate(ids, n, onToken) generates greedily.

async function openRingllm(file, contextSize, batchSize) {
  const require = createRequire(import.meta.url);
  const ringllm = require(join(root, "dist", "cjs", "index.js"));
  const model = await ringllm.loadModel(file);
  const ctx = await model.createContext({ contextSize, batchSize, threads: THREADS });
  const sys = ringllm.systemInfo();
  const eos = model.vocab.eos;
  return {
    vocab: model.vocab.size,
    info: { kernels: sys.kernels, addonPath: sys.addonPath },
    reset: () => ctx.reset(),
    evalLast: (ids) => ctx.decode(ids, { logits: "last" }),
    async generate(ids, n, onToken) {
      const logitBias = eos === null ? {} : { [eos]: -Infinity }; // exactly n tokens
      for await (const chunk of ctx.generate(ids, { maxTokens: n, temperature: 0, logitBias })) onToken(chunk.token);
    },
  };
}

async function openLlama(file, contextSize, batchSize) {
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  const context = await model.createContext({ contextSize, batchSize, threads: { ideal: THREADS, min: THREADS }, sequences: 1 });
  const sequence = context.getSequence();
  const next = { generateNext: { token: true, options: { temperature: 0 } } };
  return {
    vocab: model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length ?? model.tokens?.length,
    info: { llamaCppRelease: llama.llamaCppRelease?.release ?? null, threads: context.currentThreads ?? null, batchSize: context.batchSize },
    reset: () => sequence.clearHistory(),
    evalLast: (ids) => sequence.controlledEvaluate(Array.from(ids, (t, i) => (i === ids.length - 1 ? [t, next] : t))),
    async generate(ids, n, onToken) {
      let k = 0;
      // yieldEogToken: an end token does not stop it, so exactly n tokens
      for await (const token of sequence.evaluate(Array.from(ids), { temperature: 0, yieldEogToken: true })) {
        onToken(token);
        if (++k >= n) break;
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------

// Runs `fn` up to `runs` times (at least once), stopping once `budgetS` seconds have passed.
async function repeat(runs, budgetS, fn) {
  const t0 = now();
  for (let r = 0; r < runs; r++) {
    if (r > 0 && (now() - t0) / 1000 > budgetS) break;
    await fn(r);
  }
}

async function measureSpeed(engine) {
  const seq = randomTokens(Math.max(...PROMPTS, DECODE_PROMPT) + WARMUP + STEPS + 8, engine.vocab, 4242);
  // untimed: touch every weight page once (the file may just have been read from disk)
  await engine.evalLast(seq.subarray(0, 8));
  const prefill = [];
  for (const n of PROMPTS) {
    const ms = [];
    await repeat(RUNS, BUDGET_S / (2 * PROMPTS.length), async () => {
      await engine.reset();
      const t = now();
      await engine.evalLast(seq.subarray(0, n));
      ms.push(now() - t);
    });
    const p = { tokens: n, runsMs: ms.map((x) => +x.toFixed(2)), medianTokS: (n * 1000) / median(ms), bestTokS: (n * 1000) / Math.min(...ms) };
    prefill.push(p);
    log(`prefill ${n}: ${p.medianTokS.toFixed(1)} tok/s (median of ${ms.length}; best ${p.bestTokS.toFixed(1)})`);
  }
  await engine.reset();
  await engine.evalLast(seq.subarray(0, DECODE_PROMPT));
  const ms = [];
  const t0 = now();
  for (let i = 0; i < WARMUP + STEPS; i++) {
    if (ms.length >= 4 && (now() - t0) / 1000 > BUDGET_S / 2) break;
    const at = DECODE_PROMPT + i;
    const t = now();
    await engine.evalLast(seq.subarray(at, at + 1));
    if (i >= WARMUP) ms.push(now() - t);
  }
  const decode = {
    promptTokens: DECODE_PROMPT, steps: ms.length, medianMs: median(ms), minMs: Math.min(...ms), maxMs: Math.max(...ms), tokS: 1000 / median(ms),
  };
  log(`decode after ${DECODE_PROMPT}: ${decode.tokS.toFixed(1)} tok/s (median of ${ms.length}: ${decode.medianMs.toFixed(2)} ms; fastest ${decode.minMs.toFixed(2)})`);
  return { prefill, decode };
}

async function measureLatency(engine) {
  const ids = Uint32Array.from(values["prompt-ids"].split(",").filter(Boolean).map(Number));
  if (ids.length === 0) throw new Error("--prompt-ids is required for --mode latency");
  const gaps = [];
  const generated = [];
  await repeat(RUNS, BUDGET_S / 2, async (r) => {
    await engine.reset();
    let last = null;
    await engine.generate(ids, GEN_TOKENS, (token) => {
      const t = now();
      if (last !== null) gaps.push(t - last);
      last = t;
      if (r === 0) generated.push(token);
    });
  });
  // single-token decode calls after the prompt, as in --mode speed
  const seq = randomTokens(WARMUP + STEPS, engine.vocab, 4242);
  await engine.reset();
  await engine.evalLast(ids);
  const ms = [];
  for (let i = 0; i < WARMUP + STEPS; i++) {
    const t = now();
    await engine.evalLast(seq.subarray(i, i + 1));
    if (i >= WARMUP) ms.push(now() - t);
  }
  const out = {
    promptIds: Array.from(ids), generated: generated.slice(0, 16),
    generate: { tokens: gaps.length, medianMs: median(gaps), meanMs: gaps.reduce((a, b) => a + b, 0) / gaps.length, minMs: Math.min(...gaps) },
    decode: { steps: ms.length, medianMs: median(ms), minMs: Math.min(...ms) },
  };
  log(`generate: ${out.generate.medianMs.toFixed(3)} ms/token (median of ${gaps.length}); decode(1): ${out.decode.medianMs.toFixed(3)} ms`);
  return out;
}

const loadBefore = loadavg();
const t0 = now();
const maxPrompt = Math.max(...PROMPTS, DECODE_PROMPT);
// room for every measurement, rounded up to a multiple of 256 (llama.cpp pads its context to 256)
const promptIdCount = values["prompt-ids"].split(",").filter(Boolean).length;
const contextSize = Math.ceil((Math.max(maxPrompt, promptIdCount) + Math.max(WARMUP + STEPS, GEN_TOKENS) + 16) / 256) * 256;
const open = { ringllm: openRingllm, "llama.cpp": openLlama }[values.engine];
if (!open) throw new Error(`--engine must be ringllm or llama.cpp; got ${values.engine}`);
const engine = await open(values.model, contextSize, Math.max(...PROMPTS, DECODE_PROMPT, 32));
const loadS = (now() - t0) / 1000;
const res = values.mode === "latency" ? await measureLatency(engine) : await measureSpeed(engine);
const result = {
  engine: values.engine, mode: values.mode, model: values.model, threads: THREADS, contextSize, loadS, ...res, info: engine.info,
  peakRssBytes: process.resourceUsage().maxRSS * 1024, load: { before: loadBefore, after: loadavg() }, totalS: (now() - t0) / 1000,
};
process.stdout.write("\n@@RESULT " + JSON.stringify(result) + "\n");
// no dispose: node-llama-cpp is unreliable on dispose; the process exits instead
process.exit(0);
