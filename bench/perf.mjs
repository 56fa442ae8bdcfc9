#!/usr/bin/env node
// CPU performance of ringllm next to llama.cpp (node-llama-cpp 3.21.1, CPU prebuilt, gpuLayers 0):
// `npm run bench` in the repository root.
//
// Speed rows, per engine x model x weight type x thread count, on the same file, thread count and
// prompt tokens for both engines:
//   prefill tok/s = one decode() of N prompt tokens from an empty cache (--prompts 128,512; median
//                   of --runs runs);
//   decode tok/s  = 1 / median time of --steps single-token decode() calls after a 128-token prompt
//                   (2 warm-ups first); both engines compute the last token's logits on every call;
//   peak RSS      = process.resourceUsage().maxRSS of the measuring process;
//   GB/s          = weight bytes read per decoded token x decode tok/s, where bytes per token = the
//                   sum of every tensor's bytes except token_embd.weight (a decoded token reads one of
//                   its rows; with tied embeddings it is the output matrix and counts in full); the
//                   KV cache (~3 MB at position 128 for TinyLlama) is not counted;
//   % of read bw  = GB/s / the machine's read bandwidth at that thread count, measured by
//                   `bash scripts/bench-kernels.sh --bandwidth` (its last stdout line:
//                   {"readGBps":{"1":x,"2":y}}); "n/a" when the script is missing or fails.
// Latency rows (stories260K, a real 260K-parameter F32 model): per generated token from JS,
// greedy, BOS + "Once upon a time" then --gen-tokens tokens (median gap between tokens, first
// excluded), and per single-token decode() call; llama.cpp's best thread count is used for the ratio.
//
// Models: TinyLlama-1.1B shapes (22 layers, dim 2048, 32/4 heads, ffn 5632, vocab 32000) with random
// weights in Q4_0, Q8_0 and a Q4_K_M mix, written once by scripts/make-model.ts into --cache
// (default ~/.cache/ringllm-bench; 0.6-1.2 GB each). --quick: a 4-layer dim-512 Q4_0 model only
// (seconds; --types adds the other types), 8 decode steps, 1 run.
//
// Every measurement runs in its own child process (bench/perf-child.mjs). The 1-minute load average
// is recorded before and after each one; it includes the benchmark's own threads. Figures are
// printed and written to bench/results/<timestamp>.json (--json FILE), never asserted.
//
// Usage: node bench/perf.mjs [--quick] [--models tinyllama,stories260K] [--types Q4_0,Q8_0,Q4_K_M]
//          [--threads 1,2] [--prompts 128,512] [--steps 32] [--runs 3] [--gen-tokens 64]
//          [--budget 240] [--no-llama] [--no-bandwidth] [--cache DIR] [--json FILE]
// Needs `npm run build:ts` and an addon (RINGLLM_NATIVE, build-cmake/Release or build/Release) in
// the repository root; the llama.cpp rows need `npm ci` in bench/.
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { cpus, homedir, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { measureReadBandwidth } from "./common.mjs";
import { latencyTable, ratioRows, ratioTable, speedTable } from "./perf-report.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    models: { type: "string" },
    types: { type: "string" },
    threads: { type: "string", default: "1,2" },
    prompts: { type: "string", default: "128,512" },
    steps: { type: "string" },
    runs: { type: "string" },
    "gen-tokens": { type: "string", default: "64" },
    budget: { type: "string", default: "240" },
    "no-llama": { type: "boolean", default: false },
    "no-bandwidth": { type: "boolean", default: false },
    cache: { type: "string", default: join(homedir(), ".cache", "ringllm-bench") },
    json: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});

if (values.help) {
  console.log(readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n").slice(1).filter((l) => l.startsWith("//")).map((l) => l.slice(3)).join("\n"));
  process.exit(0);
}

const QUICK = values.quick;
const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);
const THREADS = list(values.threads).map(Number);
const PROMPTS = list(values.prompts).map(Number);
const DECODE_PROMPT = 128;
const STEPS = Number(values.steps ?? (QUICK ? 8 : 32));
const RUNS = Number(values.runs ?? (QUICK ? 1 : 3));
const WANT_LLAMA = !values["no-llama"] && existsSync(join(here, "node_modules", "node-llama-cpp"));

// Generated models: make-model.ts flags for the shape; the weight type adds --type or --mix.
const SHAPES = {
  tinyllama: ["--preset", "tinyllama"],
  small: ["--layers", "4", "--dim", "512", "--heads", "8", "--kv-heads", "2", "--ffn", "1536", "--vocab", "2048", "--ctx", "2048"],
};
const TYPE_FLAGS = { Q4_0: ["--type", "Q4_0"], Q8_0: ["--type", "Q8_0"], Q4_K_M: ["--mix", "q4_k_m"] };
// Latency models: files as they are (weight type read from the file).
const LATENCY_FILES = { stories260K: resolve(root, "..", "shared", "models", "stories260K.gguf") };

const MODELS = list(values.models ?? (QUICK ? "small" : "tinyllama,stories260K"));
const TYPES = list(values.types ?? (QUICK ? "Q4_0" : "Q4_0,Q8_0,Q4_K_M"));
for (const m of MODELS) if (!SHAPES[m] && !LATENCY_FILES[m]) throw new Error(`unknown model ${m}; expected ${[...Object.keys(SHAPES), ...Object.keys(LATENCY_FILES)].join(", ")}`);
for (const t of TYPES) if (!TYPE_FLAGS[t]) throw new Error(`unknown type ${t}; expected ${Object.keys(TYPE_FLAGS).join(", ")}`);

const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).map(Number);

function run(cmd, args, { timeoutS = 900, cwd = here, echo = true } = {}) {
  return new Promise((res) => {
    const p = spawn(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    p.stdout.on("data", (d) => { out += d; });
    p.stderr.on("data", (d) => { err += d; if (echo) process.stderr.write(d); });
    const timer = setTimeout(() => p.kill("SIGKILL"), timeoutS * 1000);
    p.on("close", (code, signal) => { clearTimeout(timer); res({ code, signal, out, err }); });
  });
}

// ---------------------------------------------------------------------------------------------
// The machine

function machine() {
  let cpuinfo = "";
  try { cpuinfo = readFileSync("/proc/cpuinfo", "utf8"); } catch { /* not Linux */ }
  const flags = new Set((/^flags\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "").split(" "));
  return {
    cpu: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model, cores: cpus().length,
    flags: { avx2: flags.has("avx2"), avx512f: flags.has("avx512f"), fma: flags.has("fma") },
    memGiB: +(totalmem() / 2 ** 30).toFixed(1), node: process.version, platform: `${process.platform}-${process.arch}`,
  };
}

// Identifies the addon file, so that a rebuild during a run (children load it afresh) shows.
function addonId(path) {
  try {
    return { sha256: createHash("sha256").update(readFileSync(path)).digest("hex").slice(0, 16), mtime: statSync(path).mtime.toISOString() };
  } catch {
    return null;
  }
}

function ringllmInfo() {
  const require = createRequire(import.meta.url);
  const ringllm = require(join(root, "dist", "cjs", "index.js"));
  const s = ringllm.systemInfo();
  return { ringllm, version: JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version, kernels: s.kernels, kernelTiers: s.kernelTiers, addonPath: s.addonPath };
}

// Read bandwidth by thread count, or null with the reason.
async function measureBandwidth() {
  if (values["no-bandwidth"]) return { readGBps: null, note: "skipped (--no-bandwidth)" };
  return measureReadBandwidth(root);
}

// ---------------------------------------------------------------------------------------------
// Models

async function makeModel(shape, type) {
  const file = join(values.cache, `${shape}-${type}.gguf`);
  if (existsSync(file)) return file;
  console.error(`writing ${file} (once; TinyLlama shapes take 1-3 minutes)`);
  const part = file + ".part";
  const r = await run("npx", ["tsx", join(root, "scripts", "make-model.ts"), "--out", part, ...SHAPES[shape], ...TYPE_FLAGS[type], "--seed", "1"], { cwd: root });
  if (r.code !== 0) throw new Error(`make-model failed: ${r.err}`);
  renameSync(part, file);
  return file;
}

// Weight bytes a decoded token reads: every tensor except token_embd (one row of it per token)
// unless there is no output.weight, when token_embd is the output matrix too.
async function weightBytesPerToken(ringllm, file) {
  const info = await ringllm.readGgufInfo(file);
  const tied = !info.tensors.some((t) => t.name === "output.weight");
  const bytes = info.tensors.filter((t) => tied || t.name !== "token_embd.weight").reduce((a, t) => a + t.sizeBytes, 0);
  return { bytes, fileBytes: info.fileSize ?? null, tensors: info.tensors.length };
}

async function child(args, timeoutS) {
  const r = await run(process.execPath, [join(here, "perf-child.mjs"), ...args], { timeoutS });
  const line = r.out.split("\n").find((l) => l.startsWith("@@RESULT "));
  if (!line) return { error: `exited ${r.code ?? r.signal} without a result: ${r.err.trim().split("\n").slice(-3).join(" / ")}` };
  return JSON.parse(line.slice(9));
}

// ---------------------------------------------------------------------------------------------

const env = { date: new Date().toISOString(), machine: machine(), loadAtStart: loadavg() };
const rl = ringllmInfo();
env.ringllm = { version: rl.version, kernels: rl.kernels, kernelTiers: rl.kernelTiers, addonPath: rl.addonPath, addon: addonId(rl.addonPath) };
env.nodeLlamaCpp = WANT_LLAMA ? JSON.parse(readFileSync(join(here, "node_modules", "node-llama-cpp", "package.json"), "utf8")).version : null;
const m = env.machine;
const yes = (b) => (b ? "yes" : "no");
console.log(`machine: ${m.cpu}, ${m.cores} cores, avx2 ${yes(m.flags.avx2)}, avx512f ${yes(m.flags.avx512f)}, fma ${yes(m.flags.fma)}, ${m.memGiB} GiB, ${m.platform}`);
console.log(`node ${m.node}; ringllm ${rl.version}, kernels ${rl.kernels} (tiers ${rl.kernelTiers.join(", ")}), addon ${rl.addonPath} ` +
  `(sha256 ${env.ringllm.addon?.sha256 ?? "?"}, ${env.ringllm.addon?.mtime ?? "?"})`);
console.log(`llama.cpp: ${env.nodeLlamaCpp ? `node-llama-cpp ${env.nodeLlamaCpp}` : values["no-llama"] ? "off (--no-llama)" : "bench/node_modules/node-llama-cpp not installed (cd bench && npm ci)"}`);
console.log(`load average at start: ${env.loadAtStart.join(" ")}`);

const bandwidth = await measureBandwidth();
const bwAt = (t) => bandwidth.readGBps?.[String(t)] ?? null;
console.log(`read bandwidth: ${bandwidth.readGBps ? Object.entries(bandwidth.readGBps).map(([t, g]) => `${g} GB/s with ${t} thread(s)`).join(", ") : "n/a"} (${bandwidth.note})`);

mkdirSync(values.cache, { recursive: true });
const engines = ["ringllm", ...(WANT_LLAMA ? ["llama.cpp"] : [])];
const childTimeoutS = Number(values.budget) * 2 + 600;
const common = ["--steps", String(STEPS), "--runs", String(RUNS), "--budget", values.budget];

const rows = [];
const models = [];
for (const shape of MODELS.filter((x) => SHAPES[x])) {
  for (const type of TYPES) {
    const file = await makeModel(shape, type);
    const w = await weightBytesPerToken(rl.ringllm, file);
    models.push({ model: shape, type, file, weightBytesPerToken: w.bytes, fileBytes: w.fileBytes });
    console.error(`${shape} ${type}: ${file}, ${(w.bytes / 1e6).toFixed(1)} MB of weights read per decoded token`);
    for (const threads of THREADS) {
      // engines alternate per thread count so that both see similar machine load
      for (const engine of engines) {
        const r = await child(["--engine", engine, "--mode", "speed", "--model", file, "--threads", String(threads), "--prompts", PROMPTS.join(","),
          "--decode-prompt", String(DECODE_PROMPT), ...common], childTimeoutS);
        const row = { ...r, engine, model: shape, type, threads, file, weightBytesPerToken: w.bytes };
        if (!r.error) {
          row.achievedGBps = (w.bytes * r.decode.tokS) / 1e9;
          row.bandwidthGBps = bwAt(threads);
          row.bandwidthPct = row.bandwidthGBps ? (100 * row.achievedGBps) / row.bandwidthGBps : null;
          row.bandwidthLimitTokS = row.bandwidthGBps ? (row.bandwidthGBps * 1e9) / w.bytes : null;
        }
        rows.push(row);
      }
    }
  }
}

const latency = [];
for (const name of MODELS.filter((x) => LATENCY_FILES[x])) {
  const file = LATENCY_FILES[name];
  if (!existsSync(file)) { console.error(`${name}: ${file} not found, skipped`); continue; }
  const vocabModel = await rl.ringllm.loadModel(file, { vocabOnly: true });
  const ids = vocabModel.tokenize("Once upon a time", { addSpecial: true });
  await vocabModel.close();
  for (const threads of THREADS) {
    for (const engine of engines) {
      const r = await child(["--engine", engine, "--mode", "latency", "--model", file, "--threads", String(threads), "--prompts", "",
        "--decode-prompt", "0", "--prompt-ids", Array.from(ids).join(","), "--gen-tokens", values["gen-tokens"], "--steps", String(STEPS),
        "--runs", String(Math.max(RUNS, 3)), "--budget", values.budget], childTimeoutS);
      latency.push({ ...r, engine, model: name, type: "as stored", threads, file });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Report

const ratios = ratioRows(rows, PROMPTS);
const llamaRelease = [...rows, ...latency].find((r) => r.info?.llamaCppRelease)?.info.llamaCppRelease;
if (llamaRelease) env.llamaCppRelease = llamaRelease;
env.loadAtEnd = loadavg();
env.ringllm.addonAtEnd = addonId(rl.addonPath);
const addonChanged = env.ringllm.addonAtEnd?.sha256 !== env.ringllm.addon?.sha256;

console.log("");
console.log(`machine: ${m.cpu}, ${m.cores} cores (avx2 ${yes(m.flags.avx2)}, avx512f ${yes(m.flags.avx512f)}, fma ${yes(m.flags.fma)}); node ${m.node}; ringllm kernels ${rl.kernels}` +
  (env.nodeLlamaCpp ? `; node-llama-cpp ${env.nodeLlamaCpp} (llama.cpp ${llamaRelease ?? "?"})` : ""));
if (rows.length) {
  console.log(`\nSpeed: prefill = median of ${RUNS} decode() calls of N tokens; decode = median of ${STEPS} single-token calls after ${DECODE_PROMPT} tokens`);
  console.log(speedTable(rows, PROMPTS));
  console.log("\nWeights read per decoded token (every tensor except token_embd, which a token reads one row of):");
  for (const x of models) {
    const lim = THREADS.map((t) => (bwAt(t) ? `${((bwAt(t) * 1e9) / x.weightBytesPerToken).toFixed(1)} tok/s with ${t} thr` : null)).filter(Boolean);
    console.log(`  ${x.model} ${x.type}: ${(x.weightBytesPerToken / 1e6).toFixed(1)} MB (file ${(x.fileBytes / 1e6).toFixed(1)} MB)` +
      (lim.length ? `; read-bandwidth limit ${lim.join(", ")}` : ""));
  }
  console.log(`read bandwidth: ${bandwidth.readGBps ? Object.entries(bandwidth.readGBps).map(([t, g]) => `${t} thr ${g} GB/s`).join(", ") : "n/a"} (${bandwidth.note})`);
}
if (ratios.length) {
  console.log("\nringllm / llama.cpp (same file, threads and prompt tokens; > 1: ringllm faster)");
  console.log(ratioTable(ratios, PROMPTS));
}
if (latency.length) {
  console.log(`\nPer-token latency from JS: greedy generate() of ${values["gen-tokens"]} tokens after BOS + "Once upon a time" (median gap), and single-token decode() calls`);
  console.log(latencyTable(latency));
  const best = (e) => latency.filter((r) => r.engine === e && !r.error).sort((a, b) => a.generate.medianMs - b.generate.medianMs)[0];
  const a = best("ringllm"), b = best("llama.cpp");
  if (a && b) {
    console.log(`generate per token: ringllm ${a.generate.medianMs.toFixed(3)} ms (${a.threads} thr) vs llama.cpp ${b.generate.medianMs.toFixed(3)} ms ` +
      `(its best, ${b.threads} thr): llama.cpp time / ringllm time = ${(b.generate.medianMs / a.generate.medianMs).toFixed(2)}×`);
    env.latencyRatio = b.generate.medianMs / a.generate.medianMs;
  }
}
console.log(`\nload average at start ${env.loadAtStart.join(" ")}, at end ${env.loadAtEnd.join(" ")}`);
if (addonChanged) console.log(`WARNING: ${rl.addonPath} changed during the run (rebuilt?): rows may come from different builds; copy it elsewhere and set RINGLLM_NATIVE`);

const options = { quick: QUICK, models: MODELS, types: TYPES, threads: THREADS, prompts: PROMPTS, decodePrompt: DECODE_PROMPT, steps: STEPS, runs: RUNS,
  genTokens: Number(values["gen-tokens"]), budgetS: Number(values.budget), cache: values.cache };
const jsonFile = values.json ?? join(here, "results", `${env.date.replace(/[:.]/g, "-")}.json`);
mkdirSync(dirname(resolve(jsonFile)), { recursive: true });
writeFileSync(jsonFile, JSON.stringify({ env, options, bandwidth, models, rows, ratios, latency }, null, 1) + "\n");
console.log(`JSON: ${jsonFile}`);
