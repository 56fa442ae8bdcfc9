#!/usr/bin/env node
// Long-context benchmarks, ringllm vs llama.cpp (node-llama-cpp 3.21.1, CPU prebuilt, gpuLayers 0).
//
// 1. Flatness: decode speed (median of single-token decodes, one token per call) at growing positions
//    on a 4-layer dim-512 llama model with llama.attention.sliding_window = 1024 (F16 weights). ringllm
//    runs policy "auto" (a 1024-token window ring on every layer) and policy "full" (every token kept);
//    llama.cpp runs its full cache (it ignores sliding_window for arch llama) with flash attention on
//    and off. Positions are reached by prefilling random tokens (ringllm: decode() in chunks of 512;
//    llama.cpp: evaluateWithoutGeneratingNewTokens in chunks). Reports ringllm(last)/ringllm(first)
//    and kvBytes (ctx.stats()) at every position. Policy "full" on this model keeps every token but
//    still attends over the trained window, so a third ringllm run uses the same weights without
//    sliding_window (true full attention, what llama.cpp computes).
// 2. KV memory of a Mistral-7B-shaped layer (dim 4096, 32/8 heads, head_dim 128, ffn 14336, window
//    4096, Q4_0, vocab 512) with only --kv-layers layers: 32K tokens streamed through ringllm (policy
//    auto = window 4096) and llama.cpp (full cache, contextSize = tokens + 64). Reports KV bytes and
//    peak RSS of each process, and the KV scaled to Mistral's 32 layers (scaled, not measured).
// 3. Prefill (--only prefill): time to read a whole prompt of 2K..32K random tokens in one decode() call
//    (chunks of 512, last logits), on the "small" shape (llama, dim 512, 4 layers, 8/2 heads, head 64,
//    ffn 1408, vocab 32,000, Q8_0, no sliding window: every layer full attention) and on one
//    Mistral-7B-shaped layer (Q4_0, no window) at --mistral-tokens. ringllm: policies full, window
//    (1024), sinks (4 + 1020), h2o (512 heavy + 512 recent); llama.cpp: full cache with flash
//    attention on and off. Engines alternate (the order reversed every repeat) and repeat
//    (--repeats, median with min/max); the read bandwidth is measured in the same run.
// --plot FILE.svg draws prefill tok/s against prompt length and decode tok/s against position (the
// sections that ran, or those of --from-json REPORT.json without running anything).
//
// Every measurement runs in its own child process (node-llama-cpp crashes on dispose + reload, and
// maxRSS must be per process). llama.cpp children stop prefilling once --llama-budget seconds have
// passed and report the positions they reached. Speeds are printed, never asserted.
//
// Usage: node bench/long-context.mjs [--quick] [--threads N] [--cache DIR] [--only flat|kv]
//          [--positions 512,4096,16384,65536] [--kv-tokens 32768] [--kv-layers 1] [--steps 32]
//          [--llama-budget 420] [--ringllm-budget 540] [--no-llama] [--json FILE]
//          [--runs window,full,fullattn,llama-fa-on,llama-fa-off]
//          [--prefill-lengths 2048,4096,8192,16384,32768] [--repeats 5] [--mistral-tokens 32768]
//          [--prefill-runs full,window,sinks,h2o,llama-fa-on,llama-fa-off] [--prefill-budget 2400]
//          [--plot out.svg] [--from-json report.json[,more.json]] (--mistral-tokens 0 skips that row)
// Needs `npm run build:ts` and an addon (build-cmake/Release/ringllm.node, build/Release, or
// RINGLLM_NATIVE) in the repository root, and `npm ci` in bench/.
import { createRequire } from "node:module";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir, cpus, totalmem } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { maxRssBytes, measureReadBandwidth, median, randomTokens } from "./common.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    threads: { type: "string", default: "2" },
    cache: { type: "string", default: join(homedir(), ".cache", "ringllm-bench") },
    only: { type: "string" },
    positions: { type: "string" },
    steps: { type: "string", default: "32" },
    "kv-tokens": { type: "string" },
    "kv-layers": { type: "string", default: "1" },
    "llama-budget": { type: "string", default: "420" },
    "ringllm-budget": { type: "string", default: "540" },
    "no-llama": { type: "boolean", default: false },
    runs: { type: "string", default: "window,full,fullattn,llama-fa-on,llama-fa-off" },
    json: { type: "string" },
    "prefill-lengths": { type: "string" },
    "prefill-runs": { type: "string", default: "full,window,sinks,h2o,llama-fa-on,llama-fa-off" },
    "prefill-budget": { type: "string", default: "2400" },
    "mistral-tokens": { type: "string" },
    repeats: { type: "string" },
    plot: { type: "string" },
    "from-json": { type: "string" },
    // child-process modes (internal)
    child: { type: "string" },
    model: { type: "string" },
    policy: { type: "string" },
    fa: { type: "string" },
    tokens: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});

const THREADS = Number(values.threads);
const STEPS = Number(values.steps);
const WARMUP = 2;
const CHUNK = 512; // prefill chunk (ringllm batchSize and decode() call size; llama.cpp batchSize)
const LLAMA_BUDGET_S = Number(values["llama-budget"]);
const RINGLLM_BUDGET_S = Number(values["ringllm-budget"]);

const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).map(Number);


// ---------------------------------------------------------------------------------------------
// Feeds tokens up to each position (in calls of `chunk`, stopping when `budgetS` has passed since
// the start), then times WARMUP + STEPS single-token calls there. feed(from, n) runs tokens
// [from, from + n); extra() adds engine figures to a point.
async function measurePositions(positions, budgetS, chunk, label, feed, extra = () => ({})) {
  let fed = 0;
  const points = [];
  const t0 = performance.now();
  let stopped = null;
  outer: for (const p of positions) {
    const tp = performance.now();
    while (fed < p) {
      if ((performance.now() - t0) / 1000 > budgetS) { stopped = { at: fed, target: p }; break outer; }
      const n = Math.min(chunk, p - fed);
      await feed(fed, n);
      fed += n;
    }
    const prefillS = (performance.now() - tp) / 1000;
    const load = loadavg();
    const times = [];
    for (let i = 0; i < WARMUP + STEPS; i++) {
      const t = performance.now();
      await feed(fed, 1);
      const dt = performance.now() - t;
      fed++;
      if (i >= WARMUP) times.push(dt);
    }
    points.push({
      position: p, medianMs: median(times), tokS: 1000 / median(times), minMs: Math.min(...times), maxMs: Math.max(...times),
      prefillS, ...extra(), load1: load[0],
    });
    console.error(`  ${label} @${p}: ${(1000 / median(times)).toFixed(1)} tok/s (prefill ${prefillS.toFixed(1)} s, load ${load[0]})`);
  }
  return { points, stopped };
}

// child: ringllm decode speed at positions
async function childRingllmFlat() {
  const require = createRequire(import.meta.url);
  const ringllm = require(join(root, "dist", "cjs", "index.js"));
  const positions = values.positions.split(",").map(Number);
  const last = positions[positions.length - 1];
  const model = await ringllm.loadModel(values.model);
  const vocab = model.vocab.size;
  const policy = values.policy;
  const contextSize = policy === "full" ? last + (positions.length * (STEPS + WARMUP)) + 64 : Infinity;
  const ctx = await model.createContext({ contextSize, batchSize: CHUNK, threads: THREADS, kv: { policy } });
  const seq = randomTokens(last + positions.length * (STEPS + WARMUP) + 8, vocab, 12345);
  const t0 = performance.now();
  const { points, stopped } = await measurePositions(positions, RINGLLM_BUDGET_S, CHUNK, `ringllm ${policy}`,
    (from, n) => ctx.decode(seq.subarray(from, from + n), { logits: "last" }),
    () => {
      const st = ctx.stats();
      return { kvBytes: st.kvBytes, held: st.layers.map((l) => l.held), capacity: st.layers.map((l) => l.capacity) };
    });
  const layers = ctx.stats().layers.map((l) => ({ policy: l.policy, capacity: l.capacity, window: l.window }));
  await ctx.close();
  await model.close();
  return { engine: "ringllm", policy, layers, points, stopped, totalS: (performance.now() - t0) / 1000, maxRss: maxRssBytes() };
}

// child: llama.cpp decode speed at positions
async function makeLlama(logLines) {
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  return getLlama({
    gpu: false, build: "never", logLevel: LlamaLogLevel.info,
    logger: (level, message) => { if (/kv|KV|cache|flash|n_ctx|sliding|swa/i.test(message)) logLines.push(String(message).trim()); },
  });
}

async function childLlamaFlat() {
  const logLines = [];
  const llama = await makeLlama(logLines);
  const positions = values.positions.split(",").map(Number);
  const last = positions[positions.length - 1];
  const model = await llama.loadModel({ modelPath: values.model, gpuLayers: 0 });
  const vocab = model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length ?? 512;
  const contextSize = last + positions.length * (STEPS + WARMUP) + 64;
  const context = await model.createContext({
    contextSize, batchSize: CHUNK, threads: { ideal: THREADS, min: THREADS }, flashAttention: values.fa === "on", sequences: 1,
  });
  const sequence = context.getSequence();
  const seq = Array.from(randomTokens(contextSize, vocab, 12345));
  const t0 = performance.now();
  const { points, stopped } = await measurePositions(positions, LLAMA_BUDGET_S, 4096, `llama.cpp fa=${values.fa}`,
    (from, n) => sequence.evaluateWithoutGeneratingNewTokens(seq.slice(from, from + n)));
  const info = { flashAttention: context.flashAttention, contextSize: context.contextSize, stateSize: context.stateSize, kvLog: logLines.filter((l) => /kv_cache|KV self|KV buffer/.test(l)).slice(0, 8) };
  // no dispose: node-llama-cpp is unreliable on dispose; the process exits instead
  return { engine: "llama.cpp", fa: values.fa, info, points, stopped, totalS: (performance.now() - t0) / 1000, maxRss: maxRssBytes() };
}

// child: stream N tokens through ringllm (policy auto), report KV bytes and RSS
async function childRingllmKv() {
  const require = createRequire(import.meta.url);
  const ringllm = require(join(root, "dist", "cjs", "index.js"));
  const N = Number(values.tokens);
  const model = await ringllm.loadModel(values.model);
  const ctx = await model.createContext({ contextSize: Infinity, batchSize: CHUNK, threads: THREADS, kv: { policy: "auto" } });
  const rssLoaded = maxRssBytes();
  const seq = randomTokens(N, model.vocab.size, 777);
  const t0 = performance.now();
  const load0 = loadavg()[0];
  let fed = 0;
  const kvAt = [];
  while (fed < N && (performance.now() - t0) / 1000 < RINGLLM_BUDGET_S) {
    const n = Math.min(CHUNK, N - fed);
    await ctx.decode(seq.subarray(fed, fed + n), { logits: "last" });
    fed += n;
    if ((fed & (fed - 1)) === 0 || fed === N) kvAt.push([fed, ctx.stats().kvBytes]); // powers of two
  }
  const secs = (performance.now() - t0) / 1000;
  const st = ctx.stats();
  const out = {
    engine: "ringllm", tokens: st.tokensProcessed, target: N, secs, kvAt, kvBytes: st.kvBytes, kvType: st.kvType,
    layers: st.layers.map((l) => ({ policy: l.policy, capacity: l.capacity, held: l.held, window: l.window })),
    rssLoaded, maxRss: maxRssBytes(), load1: [load0, loadavg()[0]],
  };
  await ctx.close();
  await model.close();
  return out;
}

// child: stream N tokens through llama.cpp (full cache), report KV bytes and RSS
// llama.cpp context of --tokens + 64 for --model (--fa on/off): { N, vocab, context, sequence }.
async function llamaSequence(logLines) {
  const llama = await makeLlama(logLines);
  const N = Number(values.tokens);
  const model = await llama.loadModel({ modelPath: values.model, gpuLayers: 0 });
  const vocab = model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length ?? 512;
  const context = await model.createContext({
    contextSize: N + 64, batchSize: CHUNK, threads: { ideal: THREADS, min: THREADS }, flashAttention: values.fa === "on", sequences: 1,
  });
  return { N, vocab, context, sequence: context.getSequence() };
}

async function childLlamaKv() {
  const logLines = [];
  const { N, vocab, context, sequence } = await llamaSequence(logLines);
  const rssLoaded = maxRssBytes();
  const seq = Array.from(randomTokens(N, vocab, 777));
  const t0 = performance.now();
  const load0 = loadavg()[0];
  let fed = 0;
  while (fed < N && (performance.now() - t0) / 1000 < LLAMA_BUDGET_S) {
    const n = Math.min(2048, N - fed);
    await sequence.evaluateWithoutGeneratingNewTokens(seq.slice(fed, fed + n));
    fed += n;
  }
  const secs = (performance.now() - t0) / 1000;
  const kvLine = logLines.find((l) => /llama_kv_cache: size =/.test(l));
  const m = kvLine && /size =\s*([\d.]+) MiB/.exec(kvLine);
  return {
    engine: "llama.cpp", fa: values.fa, tokens: fed, target: N, secs, contextSize: context.contextSize, stateSize: context.stateSize,
    kvReportedBytes: m ? Math.round(Number(m[1]) * 2 ** 20) : null,
    kvLog: logLines.filter((l) => /kv_cache|KV self|KV buffer/.test(l)).slice(0, 8), rssLoaded, maxRss: maxRssBytes(), load1: [load0, loadavg()[0]],
  };
}

// KV options of the prefill policies (a 1024-token budget for the bounded ones).
const PREFILL_KV = {
  full: { policy: "full" },
  window: { policy: "window", window: 1024 },
  sinks: { policy: "sinks", sinks: 4, recent: 1020 },
  h2o: { policy: "h2o", heavy: 512, recent: 512 },
};

// child: ringllm reads a prompt of N tokens in one decode() call
async function childRingllmPrefill() {
  const require = createRequire(import.meta.url);
  const ringllm = require(join(root, "dist", "cjs", "index.js"));
  const N = Number(values.tokens);
  const kv = PREFILL_KV[values.policy];
  const model = await ringllm.loadModel(values.model);
  const ctx = await model.createContext({ contextSize: kv.policy === "full" ? N + 64 : Infinity, batchSize: CHUNK, threads: THREADS, kv });
  const seq = randomTokens(N, model.vocab.size, 4242);
  const load0 = loadavg()[0];
  const t0 = performance.now();
  await ctx.decode(seq, { logits: "last" });
  const secs = (performance.now() - t0) / 1000;
  const kvBytes = ctx.stats().kvBytes;
  await ctx.close();
  await model.close();
  return { engine: "ringllm", policy: values.policy, tokens: N, secs, tokS: N / secs, kvBytes, maxRss: maxRssBytes(), load1: load0 };
}

// child: llama.cpp reads the same prompt (full cache, flash attention on or off)
async function childLlamaPrefill() {
  const { N, vocab, context, sequence } = await llamaSequence([]);
  const seq = Array.from(randomTokens(N, vocab, 4242));
  const load0 = loadavg()[0];
  const t0 = performance.now();
  await sequence.evaluateWithoutGeneratingNewTokens(seq);
  const secs = (performance.now() - t0) / 1000;
  return { engine: "llama.cpp", fa: values.fa, flashAttention: context.flashAttention, tokens: N, secs, tokS: N / secs, maxRss: maxRssBytes(), load1: load0 };
}

if (values.child) {
  const fn = {
    "ringllm-flat": childRingllmFlat, "llama-flat": childLlamaFlat, "ringllm-kv": childRingllmKv, "llama-kv": childLlamaKv,
    "ringllm-prefill": childRingllmPrefill, "llama-prefill": childLlamaPrefill,
  }[values.child];
  if (!fn) throw new Error(`unknown --child ${values.child}`);
  const res = await fn();
  process.stdout.write("\n@@RESULT " + JSON.stringify(res) + "\n");
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// parent
if (values.help) {
  console.log(readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n").filter((l) => l.startsWith("//")).slice(0, 38).map((l) => l.slice(3)).join("\n"));
  process.exit(0);
}

const QUICK = values.quick;
const POSITIONS = (values.positions ?? (QUICK ? "512,4096" : "512,4096,16384,65536")).split(",").map(Number);
const KV_TOKENS = Number(values["kv-tokens"] ?? (QUICK ? 4096 : 32768));
const KV_LAYERS = Number(values["kv-layers"]);
mkdirSync(values.cache, { recursive: true });

function run(cmd, args, { timeoutS = 900 } = {}) {
  return new Promise((res) => {
    const p = spawn(cmd, args, { cwd: here, stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    p.stdout.on("data", (d) => { out += d; });
    p.stderr.on("data", (d) => { err += d; process.stderr.write(d); });
    const timer = setTimeout(() => p.kill("SIGKILL"), timeoutS * 1000);
    p.on("close", (code, signal) => { clearTimeout(timer); res({ code, signal, out, err }); });
  });
}

async function child(mode, extra, timeoutS) {
  const r = await run(process.execPath, [fileURLToPath(import.meta.url), "--child", mode, "--threads", String(THREADS), "--steps", String(STEPS),
    "--llama-budget", String(LLAMA_BUDGET_S), "--ringllm-budget", String(RINGLLM_BUDGET_S), ...extra], { timeoutS });
  const line = r.out.split("\n").find((l) => l.startsWith("@@RESULT "));
  if (!line) return { error: `child ${mode} ${extra.join(" ")} exited ${r.code ?? r.signal} without a result: ${r.err.slice(-400)}` };
  return JSON.parse(line.slice(9));
}

async function makeModel(name, flags) {
  const file = join(values.cache, `${name}.gguf`);
  if (existsSync(file)) return file;
  const r = await run("npx", ["tsx", join(root, "scripts", "make-model.ts"), "--out", file, ...flags]);
  if (r.code !== 0) throw new Error(`make-model failed: ${r.err}`);
  return file;
}

const FLAT_FLAGS = ["--type", "F16", "--layers", "4", "--dim", "512", "--heads", "8", "--kv-heads", "2", "--ffn", "1376", "--vocab", "512",
  "--ctx", "131072", "--sliding-window", "1024", "--seed", "1"];
const KV_FLAGS = ["--preset", "mistral-7b", "--type", "Q4_0", "--layers", String(KV_LAYERS), "--vocab", "512", "--ctx", "32768",
  "--sliding-window", "4096", "--seed", "1"];

const SMALL_FLAGS = ["--type", "Q8_0", "--layers", "4", "--dim", "512", "--heads", "8", "--kv-heads", "2", "--ffn", "1408",
  "--vocab", "32000", "--ctx", "65536", "--seed", "1"];
const MISTRAL_FLAGS = ["--preset", "mistral-7b", "--type", "Q4_0", "--layers", "1", "--vocab", "512", "--ctx", "65536", "--seed", "1"];
const PREFILL_LABEL = {
  full: "ringllm full", window: "ringllm window 1024", sinks: "ringllm sinks 4+1020", h2o: "ringllm h2o 512+512",
  "llama-fa-on": "llama.cpp FA on", "llama-fa-off": "llama.cpp FA off",
};

// One prefill measurement of `run` (a PREFILL_KV policy or llama-fa-on/off) on `file` at N tokens.
function prefillChild(run, file, N) {
  if (run.startsWith("llama")) return child("llama-prefill", ["--model", file, "--tokens", String(N), "--fa", run === "llama-fa-on" ? "on" : "off"], 1200);
  return child("ringllm-prefill", ["--model", file, "--tokens", String(N), "--policy", run], 1200);
}

const stats = (xs) => (xs.length ? { median: +median(xs).toFixed(1), min: +Math.min(...xs).toFixed(1), max: +Math.max(...xs).toFixed(1), n: xs.length } : null);

// Runs every (length, run) `repeats` times, the runs alternating and their order reversed on every
// repeat; stops repeating once `budgetS` has passed (each length gets at least one round).
async function prefillSeries(file, lengths, runsWanted, repeats, budgetS) {
  const t0 = performance.now();
  const samples = {};
  const errors = [];
  for (const N of lengths) {
    for (let rep = 0; rep < repeats; rep++) {
      if (rep > 0 && (performance.now() - t0) / 1000 > budgetS) { errors.push(`${N}: ${rep} of ${repeats} repeats (budget ${budgetS} s)`); break; }
      const order = rep % 2 ? [...runsWanted].reverse() : runsWanted;
      for (const run of order) {
        const r = await prefillChild(run, file, N);
        if (r.error) { errors.push(`${run} @${N}: ${r.error}`); continue; }
        ((samples[run] ??= {})[N] ??= []).push(r.tokS);
        console.error(`  prefill ${PREFILL_LABEL[run]} @${N}: ${r.tokS.toFixed(0)} tok/s (${r.secs.toFixed(2)} s, load ${r.load1})`);
      }
    }
  }
  const summary = {};
  for (const [run, byN] of Object.entries(samples)) for (const [N, xs] of Object.entries(byN)) (summary[run] ??= {})[N] = stats(xs);
  return { samples, summary, errors };
}

async function prefillSection() {
  const lengths = (values["prefill-lengths"] ?? (QUICK ? "1024,2048" : "2048,4096,8192,16384,32768")).split(",").map(Number);
  const repeats = Number(values.repeats ?? (QUICK ? 2 : 5));
  const budgetS = Number(values["prefill-budget"]);
  let runsWanted = values["prefill-runs"].split(",");
  if (values["no-llama"]) runsWanted = runsWanted.filter((r) => !r.startsWith("llama"));
  const bandwidth = await measureReadBandwidth(root);
  const small = await makeModel("small-l4-d512-h8-kv2-ffn1408-v32000-Q8_0", SMALL_FLAGS);
  console.error(`prefill: ${small}, lengths ${lengths.join(",")}, ${repeats} repeats, runs ${runsWanted.join(",")}`);
  const main = await prefillSeries(small, lengths, runsWanted, repeats, budgetS);
  const mistralN = Number(values["mistral-tokens"] ?? (QUICK ? 4096 : 32768));  // 0: skip
  const mistral = await makeModel("mistral-shape-l1-v512-noswa-Q4_0", MISTRAL_FLAGS);
  const mistralRuns = mistralN > 0 ? runsWanted.filter((r) => r === "full" || r === "window" || r === "llama-fa-on") : [];
  if (mistralN > 0) console.error(`prefill, Mistral-7B layer: ${mistral}, ${mistralN} tokens, runs ${mistralRuns.join(",")}`);
  const mist = await prefillSeries(mistral, mistralN > 0 ? [mistralN] : [], mistralRuns, Math.min(repeats, 3), budgetS);

  const med = (sum, run, N) => sum[run]?.[N]?.median ?? null;
  const ratio = (a, b) => (a != null && b != null ? +(a / b).toFixed(2) : null);
  const rows = lengths.map((N) => {
    const row = { tokens: N };
    for (const run of runsWanted) {
      const st = main.summary[run]?.[N];
      row[PREFILL_LABEL[run]] = st ? `${st.median.toFixed(0)} (${st.min.toFixed(0)}-${st.max.toFixed(0)})` : "-";
    }
    row["full / llama FA on"] = ratio(med(main.summary, "full", N), med(main.summary, "llama-fa-on", N));
    row["window / llama best full"] = ratio(med(main.summary, "window", N),
      Math.max(med(main.summary, "llama-fa-on", N) ?? 0, med(main.summary, "llama-fa-off", N) ?? 0) || null);
    row["h2o time / window time"] = ratio(med(main.summary, "window", N), med(main.summary, "h2o", N));
    return row;
  });
  const wFirst = med(main.summary, "window", lengths[0]), wLast = med(main.summary, "window", lengths[lengths.length - 1]);
  console.log(`\nPrefill tok/s, small shape (4 layers, dim 512, 8/2 heads, Q8_0, vocab 32000), threads ${THREADS}: median (min-max) of ${repeats} alternated runs`);
  console.table(rows);
  console.log(`ringllm window 1024: tok/s at ${lengths[lengths.length - 1]} / at ${lengths[0]} = ${ratio(wLast, wFirst)}`);
  const mrow = {};
  for (const run of mistralRuns) {
    const st = mist.summary[run]?.[mistralN];
    mrow[PREFILL_LABEL[run]] = st ? `${st.median.toFixed(0)} (${st.min.toFixed(0)}-${st.max.toFixed(0)})` : "-";
  }
  mrow["full / llama FA on"] = ratio(med(mist.summary, "full", mistralN), med(mist.summary, "llama-fa-on", mistralN));
  console.log(`\nPrefill tok/s, one Mistral-7B layer (Q4_0, 32/8 heads, head 128, no window), ${mistralN} tokens`);
  console.table([mrow]);
  console.log(`read bandwidth: ${bandwidth.readGBps ? Object.entries(bandwidth.readGBps).map(([t, g]) => `${t} thr ${g} GB/s`).join(", ") : "n/a"} (${bandwidth.note})`);
  for (const e of [...main.errors, ...mist.errors]) console.log(`prefill: ${e}`);
  return { model: small, flags: SMALL_FLAGS, lengths, repeats, runs: runsWanted, bandwidth, rows, ...main, mistral: { model: mistral, flags: MISTRAL_FLAGS, tokens: mistralN, ...mist } };
}

// ---------------------------------------------------------------------------------------------
// The picture: prefill tok/s against prompt length, decode tok/s against position (vega-lite, SVG).
async function writePlot(rep, out) {
  const vega = await import("vega");
  const { compile } = await import("vega-lite");
  const panels = [];
  const line = (title, xTitle, data) => ({
    title, width: 360, height: 260, data: { values: data },
    mark: { type: "line", point: true },
    encoding: {
      x: { field: "x", type: "quantitative", title: xTitle, scale: { type: "log", base: 2 }, axis: { values: [...new Set(data.map((d) => d.x))] } },
      y: { field: "y", type: "quantitative", title: "tokens/s", scale: { type: "log" } },
      color: { field: "engine", type: "nominal", title: null, legend: { orient: "bottom", columns: 2, labelLimit: 400 } },
    },
  });
  if (rep.prefill?.summary) {
    const data = [];
    for (const [run, byN] of Object.entries(rep.prefill.summary))
      for (const [N, st] of Object.entries(byN)) if (st) data.push({ engine: PREFILL_LABEL[run] ?? run, x: Number(N), y: st.median });
    if (data.length) panels.push(line("Prefill: whole prompt in one call (small shape, 2 threads)", "prompt tokens", data));
  }
  if (rep.flat?.runs) {
    const names = { window: "ringllm window 1024", full: "ringllm full (trained window)", fullAttn: "ringllm full", llamaFaOn: "llama.cpp FA on", llamaFaOff: "llama.cpp FA off" };
    const data = [];
    for (const [k, r] of Object.entries(rep.flat.runs)) for (const pt of r?.points ?? []) data.push({ engine: names[k] ?? k, x: pt.position, y: pt.tokS });
    if (data.length) panels.push(line("Decode: one token at a position (dim 512, 4 layers)", "position", data));
  }
  if (!panels.length) throw new Error("--plot: the report has no prefill or flatness results");
  const spec = { $schema: "https://vega.github.io/schema/vega-lite/v6.json", hconcat: panels, config: { font: "sans-serif" } };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  writeFileSync(out, await view.toSVG());
  console.error(`wrote ${out}`);
}

// Reports of several runs (e.g. short prompts with more repeats, 32K with fewer) as one: prefill
// summaries merged by run and length, the first flatness section found.
function mergeReports(reports) {
  const out = { prefill: { summary: {} }, flat: null };
  for (const r of reports) {
    for (const [run, byN] of Object.entries(r.prefill?.summary ?? {})) Object.assign((out.prefill.summary[run] ??= {}), byN);
    out.flat ??= r.flat;
  }
  return out;
}

if (values["from-json"]) {
  if (!values.plot) throw new Error("--from-json needs --plot FILE");
  await writePlot(mergeReports(values["from-json"].split(",").map((f) => JSON.parse(readFileSync(f, "utf8")))), values.plot);
  process.exit(0);
}

const env = {
  date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, cores: cpus().length, memGiB: +(totalmem() / 2 ** 30).toFixed(1),
  threads: THREADS, steps: STEPS, loadAtStart: loadavg(), llamaBudgetS: LLAMA_BUDGET_S,
};
console.error(`long-context bench: ${env.cores} cores (${env.cpu}), threads ${THREADS}, load ${env.loadAtStart.join(" ")}`);
const report = { env, flat: null, kv: null, prefill: null };
const fmtMB = (b) => (b == null ? "-" : (b / 2 ** 20).toFixed(1) + " MiB");

if (!values.only || values.only === "flat") {
  const file = await makeModel("flat-l4-d512-h8-kv2-ffn1376-v512-swa1024-F16", FLAT_FLAGS);
  // the same weights (same seed and shapes) without llama.attention.sliding_window: every layer full attention
  const fileNoSwa = await makeModel("flat-l4-d512-h8-kv2-ffn1376-v512-noswa-F16", FLAT_FLAGS.filter((f, i, a) => f !== "--sliding-window" && a[i - 1] !== "--sliding-window"));
  const pos = POSITIONS.join(",");
  const want = new Set(values.runs.split(","));
  if (values["no-llama"]) { want.delete("llama-fa-on"); want.delete("llama-fa-off"); }
  console.error(`flatness: ${file}, positions ${pos}, runs ${[...want].join(",")}`);
  const runs = {};
  if (want.has("window")) runs.window = await child("ringllm-flat", ["--model", file, "--policy", "auto", "--positions", pos], 900);
  if (want.has("full")) runs.full = await child("ringllm-flat", ["--model", file, "--policy", "full", "--positions", pos], 900);
  if (want.has("fullattn")) runs.fullAttn = await child("ringllm-flat", ["--model", fileNoSwa, "--policy", "full", "--positions", pos], 900);
  if (want.has("llama-fa-on")) runs.llamaFaOn = await child("llama-flat", ["--model", file, "--fa", "on", "--positions", pos], LLAMA_BUDGET_S + 300);
  if (want.has("llama-fa-off")) runs.llamaFaOff = await child("llama-flat", ["--model", file, "--fa", "off", "--positions", pos], LLAMA_BUDGET_S + 300);
  const at = (r, p) => r?.points?.find((x) => x.position === p);
  const rows = POSITIONS.map((p) => {
    const w = at(runs.window, p), f = at(runs.full, p), fa = at(runs.fullAttn, p), on = at(runs.llamaFaOn, p), off = at(runs.llamaFaOff, p);
    const best = [on, off].filter(Boolean).sort((a, b) => b.tokS - a.tokS)[0];
    return {
      position: p,
      "ringllm window tok/s": w ? +w.tokS.toFixed(1) : null,
      "ringllm full tok/s": f ? +f.tokS.toFixed(1) : null,
      "ringllm full, no window tok/s": fa ? +fa.tokS.toFixed(1) : null,
      "llama.cpp FA on tok/s": on ? +on.tokS.toFixed(1) : null,
      "llama.cpp FA off tok/s": off ? +off.tokS.toFixed(1) : null,
      "llama.cpp best tok/s": best ? +best.tokS.toFixed(1) : null,
      "ringllm window kvBytes": w?.kvBytes ?? null,
      "ringllm full kvBytes": f?.kvBytes ?? null,
      "load (1 min)": [w, f, fa, on, off].map((x) => x?.load1 ?? "-").join("/"),
    };
  });
  const w0 = at(runs.window, POSITIONS[0]), wN = at(runs.window, POSITIONS[POSITIONS.length - 1]);
  const ratio = w0 && wN ? wN.tokS / w0.tokS : null;
  const ratioMin = w0 && wN ? w0.minMs / wN.minMs : null;
  report.flat = { model: file, ratioMin, modelNoWindow: fileNoSwa, flags: FLAT_FLAGS, positions: POSITIONS, rows, ratio, runs };
  console.log(`\nFlatness: decode tok/s (median of ${STEPS} single-token decodes), threads ${THREADS}`);
  console.table(rows);
  console.log("window = policy auto on the sliding-window-1024 model (a 1024-token ring per layer); full = policy full on the same model " +
    "(every token kept, attention still over the trained window); full, no window = the same weights without sliding_window " +
    "(attention over every token, as llama.cpp computes); llama.cpp ignores sliding_window for arch llama. kvBytes from ctx.stats().");
  console.log(`ringllm window: tok/s at ${POSITIONS[POSITIONS.length - 1]} / tok/s at ${POSITIONS[0]} = ${ratio?.toFixed(3)} ${ratio >= 0.8 ? "(>= 0.8)" : "(BELOW 0.8)"}`);
  console.log(`ringllm window: fastest decode at ${POSITIONS[0]} / fastest at ${POSITIONS[POSITIONS.length - 1]} = ${ratioMin?.toFixed(3)} (min over the ${STEPS} decodes; less sensitive to other load)`);
  for (const k of ["window", "full", "fullAttn", "llamaFaOn", "llamaFaOff"]) {
    const r = runs[k];
    const budget = k.startsWith("llama") ? LLAMA_BUDGET_S : RINGLLM_BUDGET_S;
    if (r?.stopped) console.log(`${k}: stopped prefilling at ${r.stopped.at} tokens (target ${r.stopped.target}) after the ${budget} s budget`);
    if (r?.error) console.log(`${k}: ${r.error}`);
  }
}

if (!values.only || values.only === "kv") {
  const file = await makeModel(`mistral-shape-l${KV_LAYERS}-v512-swa4096-Q4_0`, KV_FLAGS);
  console.error(`kv memory: ${file}, ${KV_TOKENS} tokens, ${KV_LAYERS} layer(s)`);
  const r = await child("ringllm-kv", ["--model", file, "--tokens", String(KV_TOKENS)], 900);
  const l = values["no-llama"] ? null : await child("llama-kv", ["--model", file, "--tokens", String(KV_TOKENS), "--fa", "on"], LLAMA_BUDGET_S + 300);
  // llama.cpp full cache, f16 K and V: ctx * layers * n_embd_kv (8 heads * 128) * 2 (K, V) * 2 bytes
  const llamaKvComputed = l?.contextSize ? l.contextSize * KV_LAYERS * 1024 * 2 * 2 : null;
  const scale = 32 / KV_LAYERS;
  const rows = [
    {
      engine: "ringllm (policy auto = window-4096 ring)", tokens: r.tokens, seconds: r.secs && +r.secs.toFixed(1),
      "KV bytes": r.kvBytes, "KV source": "ctx.stats().kvBytes", KV: fmtMB(r.kvBytes), "KV x32 layers (scaled)": fmtMB(r.kvBytes * scale),
      "RSS after load": fmtMB(r.rssLoaded), "peak RSS": fmtMB(r.maxRss),
    },
    l && !l.error && {
      engine: `llama.cpp (full cache, contextSize ${l.contextSize})`, tokens: l.tokens, seconds: l.secs && +l.secs.toFixed(1),
      "KV bytes": l.kvReportedBytes ?? llamaKvComputed, "KV source": l.kvReportedBytes ? `llama.cpp log (computed: ${llamaKvComputed})` : "computed",
      KV: fmtMB(l.kvReportedBytes ?? llamaKvComputed), "KV x32 layers (scaled)": fmtMB((l.kvReportedBytes ?? llamaKvComputed) * scale),
      "RSS after load": fmtMB(l.rssLoaded), "peak RSS": fmtMB(l.maxRss),
    },
  ].filter(Boolean);
  if (r.error) console.log(`ringllm: ${r.error}`);
  if (l?.error) console.log(`llama.cpp: ${l.error}`);
  if (l && l.tokens < l.target) console.log(`llama.cpp reached ${l.tokens} of ${l.target} tokens within the ${LLAMA_BUDGET_S} s budget`);
  if (r.tokens < KV_TOKENS) console.log(`ringllm reached ${r.tokens} of ${KV_TOKENS} tokens within the ${RINGLLM_BUDGET_S} s budget`);
  report.kv = { model: file, flags: KV_FLAGS, layers: KV_LAYERS, tokens: KV_TOKENS, ringllm: r, llama: l, llamaKvComputed, rows };
  console.log(`\nKV memory, Mistral-7B layer shape (${KV_LAYERS} layer(s), Q4_0, vocab 512), ${KV_TOKENS} tokens streamed, threads ${THREADS}`);
  console.log("(llama.cpp KV: the size its log reports; computed = contextSize x layers x 1024 x 2 x 2 bytes, f16 K and V)");
  console.table(rows);
  console.log(`"KV x32 layers (scaled)" = measured per-layer KV x ${scale}: scaled, not measured on a 32-layer model.`);
}

if (!values.only || values.only === "prefill") report.prefill = await prefillSection();

report.env.loadAtEnd = loadavg();
console.log(`\nload average at start ${env.loadAtStart.join(" ")}, at end ${report.env.loadAtEnd.join(" ")}`);
const json = JSON.stringify(report);
if (values.json) writeFileSync(values.json, json);
console.log(json);
if (values.plot) await writePlot(report, values.plot);
