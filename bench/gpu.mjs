// GPU rows: prefill and decode tok/s and device bandwidth of ringllm's GPU backends, with llama.cpp
// (node-llama-cpp's Vulkan/CUDA prebuilts) on the same device and backend where they load. The model
// is written on the machine by the project's writer (a GPU machine may have no network and carries
// little): a 7B-shaped llama (dim 4096, 32 heads, FFN 11008, vocabulary 32000) with --layers layers.
// Engines alternated, --runs each; greedy.
//
//   node bench/gpu.mjs [--backend vulkan|cuda] [--device NAME] [--layers 4] [--type Q4_0]
//                      [--prompt 512] [--gen 64] [--runs 3] [--model file.gguf] [--no-llama] [--json out.json]
//
// Device GB/s = the device's weight bytes (every layer and the output projection) x decoded tok/s:
// each decoded token reads them once (the KV cache of a short context adds little).
// On lavapipe (--device llvmpipe) the figures are the CPU's, not a GPU's: a smoke test of the script.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { median, randomTokens } from "./common.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const r = require(join(ROOT, "dist", "cjs", "index.js"));
r.setLogger(null);
const { values: args } = parseArgs({
  options: {
    backend: { type: "string", default: "vulkan" }, device: { type: "string" }, layers: { type: "string", default: "4" },
    type: { type: "string", default: "Q4_0" }, prompt: { type: "string", default: "512" }, gen: { type: "string", default: "64" },
    runs: { type: "string", default: "3" }, model: { type: "string" }, "no-llama": { type: "boolean", default: false },
    json: { type: "string" },
  },
});
const BACKEND = args.backend, PROMPT = Number(args.prompt), GEN = Number(args.gen), RUNS = Number(args.runs);
const now = () => performance.now();

let tmp;
let file = args.model;
if (!file) {
  tmp = mkdtempSync(join(tmpdir(), "ringllm-gpu-bench-"));
  file = join(tmp, `7b-shape-${args.layers}l-${args.type}.gguf`);
  const t = now();
  const w = spawnSync(join(ROOT, "node_modules", ".bin", "tsx"), [join(ROOT, "scripts", "make-model.ts"), "--out", file, "--type", args.type,
    "--layers", args.layers, "--dim", "4096", "--heads", "32", "--kv-heads", "32", "--ffn", "11008", "--vocab", "32000", "--ctx", "4096"], { encoding: "utf8" });
  if (w.status !== 0) throw new Error(`make-model failed: ${w.stderr || w.stdout}`);
  console.error(`wrote ${file} in ${((now() - t) / 1000).toFixed(1)} s`);
}
if (!existsSync(file)) throw new Error(`${file} is missing`);
const tokens = randomTokens(PROMPT + GEN + 8, 32000, 4242);

async function ringllmEngine() {
  const model = await r.loadModel(file, { gpu: BACKEND, gpuDevice: args.device, gpuLayers: "max" });
  const ctx = await model.createContext({ contextSize: PROMPT + GEN + 64, batchSize: 512 });
  return {
    name: "ringllm",
    device: `${model.gpu.backend} ${model.gpu.device}`,
    deviceBytes: model.gpu.bytes,
    reset: () => ctx.reset(),
    prefill: (ids) => ctx.decode(ids),
    async decode(ids, n) {
      let t = ids[0];
      for (let i = 0; i < n; i++) {
        const logits = await ctx.decode([t]);
        let best = 0;
        for (let j = 1; j < logits.length; j++) if (logits[j] > logits[best]) best = j;
        t = best;
      }
    },
    close: () => model.close(),
  };
}

async function llamaEngine() {
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: BACKEND, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: file, gpuLayers: "max" });
  const context = await model.createContext({ contextSize: PROMPT + GEN + 256, batchSize: 512, sequences: 1 });
  const seq = context.getSequence();
  return {
    name: "llama.cpp",
    // without a GPU of that backend llama.cpp runs on the CPU: say so
    device: `${BACKEND} ${(await llama.getGpuDeviceNames()).join(", ") || "(no device: its CPU path)"}`,
    reset: () => seq.clearHistory(),
    prefill: (ids) => seq.evaluateWithoutGeneratingNewTokens(Array.from(ids)),
    async decode(ids, n) {
      let k = 0;
      for await (const _ of seq.evaluate(Array.from(ids.subarray(0, 1)), { temperature: 0, yieldEogToken: true })) if (++k >= n) break;
    },
    close: () => model.dispose(),
  };
}

const engines = [await ringllmEngine()];
if (!args["no-llama"]) {
  try {
    engines.push(await llamaEngine());
  } catch (e) {
    console.error(`llama.cpp ${BACKEND}: unavailable here (${e.message.split("\n")[0]})`);
  }
}
const results = Object.fromEntries(engines.map((e) => [e.name, { prefillMs: [], decodeMs: [] }]));
for (const e of engines) { await e.reset(); await e.prefill(tokens.subarray(0, 16)); }  // warm-up: pages, pipelines
for (let run = 0; run < RUNS; run++) {
  for (const e of run % 2 ? [...engines].reverse() : engines) {
    await e.reset();
    let t = now();
    await e.prefill(tokens.subarray(0, PROMPT));
    results[e.name].prefillMs.push(now() - t);
    t = now();
    await e.decode(tokens.subarray(PROMPT), GEN);
    results[e.name].decodeMs.push(now() - t);
  }
}
const rows = engines.map((e) => {
  const res = results[e.name];
  const prefill = (PROMPT * 1000) / median(res.prefillMs), decode = (GEN * 1000) / median(res.decodeMs);
  return { engine: e.name, device: e.device, prefillTokS: +prefill.toFixed(1), decodeTokS: +decode.toFixed(1),
    deviceGBs: e.deviceBytes ? +((e.deviceBytes * decode) / 1e9).toPrecision(3) : null };
});
console.log(`model: ${file} (${args.layers} layers, ${args.type}), prompt ${PROMPT}, ${GEN} decoded tokens, ${RUNS} runs (median)`);
console.log("| engine | device | prefill tok/s | decode tok/s | device GB/s |\n|---|---|---|---|---|");
for (const row of rows) console.log(`| ${row.engine} | ${row.device} | ${row.prefillTokS} | ${row.decodeTokS} | ${row.deviceGBs ?? "-"} |`);
if (rows.length === 2) console.log(`ratio ringllm / llama.cpp: prefill ${(rows[0].prefillTokS / rows[1].prefillTokS).toFixed(2)}x, decode ${(rows[0].decodeTokS / rows[1].decodeTokS).toFixed(2)}x`);
if (args.json) writeFileSync(args.json, JSON.stringify({ backend: BACKEND, layers: Number(args.layers), type: args.type, prompt: PROMPT, gen: GEN, rows }, null, 2));
for (const e of engines) await e.close();
if (tmp) rmSync(tmp, { recursive: true, force: true });
