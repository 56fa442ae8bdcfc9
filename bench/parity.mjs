#!/usr/bin/env node
// Weight-type parity, ringllm vs llama.cpp (node-llama-cpp 3.21.1, CPU prebuilt), on the same files:
// for every weight type the project's writer produces, a random llama model (make-model.ts --dim 256
// --heads 4 --kv-heads 2 --ffn 512 --layers 2 --vocab 512 --ctx 256 --seed 1, the shapes of
// test/engine/weight-types.test.ts) is run by both libraries:
//   - next-token probabilities after each prefix of TOKENS (16 positions, teacher-forced): max |Δp|
//     and argmax agreement;
//   - greedy generation from BOS for 200 steps: how many leading tokens agree.
// Prints a table and JSON; with --write-goldens FILE it also saves llama.cpp's side (top-16
// probabilities per position) for test/engine/weight-types.test.ts.
// Needs `npm run build` in the repository root and `npm ci` here. llama.cpp runs in child processes
// (check-load.mjs) because node-llama-cpp crashes when it disposes a model and loads the next.
import { createRequire } from "node:module";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const require = createRequire(import.meta.url);
const ringllm = require(join(root, "dist", "cjs", "index.js"));

const { values } = parseArgs({ options: { "write-goldens": { type: "string" }, steps: { type: "string", default: "200" } } });
const TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"];
const TOKENS = [1, 43, 286, 103, 170, 470, 44, 383, 12, 99, 400, 7, 300, 201, 55, 66];
const MODEL_FLAGS = ["--dim", "256", "--heads", "4", "--kv-heads", "2", "--ffn", "512", "--layers", "2", "--vocab", "512", "--ctx", "256", "--seed", "1"];
const STEPS = Number(values.steps);

function llamacpp(file, args) {
  const r = spawnSync(process.execPath, [join(here, "check-load.mjs"), file, "--json", "--quiet", ...args], { encoding: "utf8", maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`check-load failed for ${file}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop());
}

function softmax(l, off, n) {
  let m = -Infinity;
  for (let i = 0; i < n; i++) m = Math.max(m, l[off + i]);
  let s = 0;
  const p = new Float64Array(n);
  for (let i = 0; i < n; i++) { p[i] = Math.exp(l[off + i] - m); s += p[i]; }
  for (let i = 0; i < n; i++) p[i] /= s;
  return p;
}

const dir = mkdtempSync(join(tmpdir(), "ringllm-parity-"));
const rows = [];
const goldens = {};
try {
  for (const type of TYPES) {
    const file = join(dir, `m-${type}.gguf`);
    const mk = spawnSync("npx", ["tsx", join(root, "scripts", "make-model.ts"), "--out", file, "--type", type, ...MODEL_FLAGS], { encoding: "utf8" });
    if (mk.status !== 0) throw new Error(`make-model failed: ${mk.stderr}`);

    const ref = llamacpp(file, ["--score", TOKENS.join(",")]);
    const refGreedy = llamacpp(file, ["--tokens", String(STEPS)]).generatedTokens;

    const model = await ringllm.loadModel(file);
    const ctx = await model.createContext({ contextSize: 512 });
    const logits = await ctx.decode(TOKENS, { logits: "all" });
    const n = model.vocab.size;
    let maxDiff = 0, argmaxSame = 0;
    const top = [];
    TOKENS.forEach((_, pos) => {
      const p = softmax(logits, pos * n, n);
      const q = ref.scored[pos].probs;
      let am = 0, bm = 0;
      for (let i = 0; i < n; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(p[i] - q[i]));
        if (p[i] > p[am]) am = i;
        if (q[i] > q[bm]) bm = i;
      }
      if (am === bm) argmaxSame++;
      top.push(q.map((v, i) => [i, Math.round(v * 1e6) / 1e6]).sort((a, b) => b[1] - a[1]).slice(0, 16));
    });
    await ctx.reset();
    const ours = [];
    for await (const c of ctx.generate([1], { maxTokens: STEPS, temperature: 0 })) ours.push(c.token);
    let lead = 0;
    while (lead < Math.min(ours.length, refGreedy.length) && ours[lead] === refGreedy[lead]) lead++;
    await ctx.close();
    await model.close();
    rows.push({ type, "max |Δp| (16 positions)": maxDiff.toExponential(2), "argmax equal": `${argmaxSame}/16`, [`greedy equal prefix (of ${STEPS})`]: lead });
    goldens[type] = { top16: top };
    console.error(`${type}: max |dp| ${maxDiff.toExponential(2)}, argmax ${argmaxSame}/16, greedy prefix ${lead}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.table(rows);
console.log(JSON.stringify(rows));
if (values["write-goldens"]) {
  writeFileSync(values["write-goldens"], JSON.stringify({
    about: "llama.cpp's next-token probabilities (top 16 per position, rounded to 1e-6) after each prefix of `tokens`, " +
      "from llama.cpp via node-llama-cpp 3.21.1 (CPU, prebuilt), produced by `cd bench && node parity.mjs --write-goldens " +
      "../test/engine/goldens/types-llamacpp.json`. Models: `npx tsx scripts/make-model.ts --type T " + MODEL_FLAGS.join(" ") + "`.",
    tokens: TOKENS,
    types: goldens,
  }));
}
