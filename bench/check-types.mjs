#!/usr/bin/env node
// For every weight type the ringllm GGUF writer supports, writes a small random llama model
// (scripts/make-model.ts) and loads + evaluates it in llama.cpp via check-load.mjs.
// Prints a markdown table. Usage: node check-types.mjs [--tokens N] [--keep DIR]

import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"];
// K-quants need rows that are multiples of 256, so every row length here is.
const SHAPE = ["--layers", "2", "--dim", "256", "--heads", "4", "--kv-heads", "2", "--ffn", "512", "--vocab", "512", "--ctx", "256"];

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const { values } = parseArgs({ options: { tokens: { type: "string", default: "16" }, keep: { type: "string" }, seed: { type: "string", default: "1" } } });
const dir = values.keep ?? mkdtempSync(join(tmpdir(), "ringllm-types-"));
mkdirSync(dir, { recursive: true });

/** Writes a model with make-model.ts and evaluates it with check-load.mjs; throws with the reason on failure. */
function makeModel(file, args) {
  const make = spawnSync(join(root, "node_modules", ".bin", "tsx"), [join(root, "scripts", "make-model.ts"), "--out", file, "--seed", values.seed, ...SHAPE, ...args], { encoding: "utf8" });
  if (make.status !== 0) throw new Error(`make-model failed: ${(make.stderr || make.stdout).trim()}`);
}

function checkLoad(file, extra = []) {
  const check = spawnSync(process.execPath, [join(here, "check-load.mjs"), file, "--tokens", values.tokens, "--json", "--quiet", ...extra], { encoding: "utf8" });
  const line = check.stdout.trim().split("\n").pop() ?? "";
  let res;
  try {
    res = JSON.parse(line);
  } catch {
    throw new Error(`check-load exited ${check.status}: ${(check.stderr || line).trim().slice(-500)}`);
  }
  res.ok = check.status === 0 && res.architecture === "llama" && res.finite && res.generatedTokens.length > 0;
  res.bytes = statSync(file).size;
  return res;
}

function makeAndCheck(file, args) {
  makeModel(file, args);
  return checkLoad(file);
}

/** Teacher-forces `ids` through both files; argmax agreement and worst total-variation distance. */
function compareScores(fileA, fileB, ids) {
  const a = checkLoad(fileA, ["--score", ids.join(",")]).scored;
  const b = checkLoad(fileB, ["--score", ids.join(",")]).scored;
  let agree = 0;
  let maxTv = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i].argmax === b[i].argmax) agree++;
    let tv = 0;
    for (let t = 0; t < a[i].probs.length; t++) tv += Math.abs(a[i].probs[t] - b[i].probs[t]);
    maxTv = Math.max(maxTv, tv / 2);
  }
  return { agree, positions: a.length, maxTv };
}

const rows = [];
let failures = 0;
for (const type of TYPES) {
  try {
    const res = makeAndCheck(join(dir, `llama-${type}.gguf`), ["--type", type]);
    // F32 twin: the same weights rounded through our dequantizer; if llama.cpp decodes our bytes
    // the way our dequantizer does, both files give (nearly) the same logits and greedy tokens.
    const file = join(dir, `llama-${type}.gguf`);
    const twinFile = join(dir, `llama-${type}-f32twin.gguf`);
    const twin = type === "F32" ? res : makeAndCheck(twinFile, ["--simulate-type", type]);
    const ids = [...twin.inputTokens, ...twin.generatedTokens];
    const cmp = type === "F32" ? null : compareScores(file, twinFile, ids);
    // Baseline: the same file against the unquantized weights; twin distances far below it mean
    // llama.cpp decodes exactly the values our dequantizer computes, not merely similar ones.
    const base = type === "F32" ? null : compareScores(file, join(dir, "llama-F32.gguf"), ids);
    const ok = res.ok && twin.ok;
    if (!ok) failures++;
    rows.push({ type, ok, res, twin, cmp, base });
  } catch (e) {
    rows.push({ type, ok: false, error: e.message });
    failures++;
  }
}

const n = values.tokens;
console.log(`| type | loads + evaluates | file bytes | tensors | greedy tokens from BOS (first ${n}) | argmax = F32 twin's (teacher-forced) | max TV distance to twin | max TV distance to unquantized F32 |`);
console.log("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: |");
for (const r of rows) {
  if (r.error) {
    console.log(`| ${r.type} | FAIL | | | ${r.error.replace(/\|/g, "\\|").replace(/\n/g, " ")} | | | |`);
    continue;
  }
  const { res, twin } = r;
  const eos = res.generatedTokens.length < Number(n) ? " (EOS)" : "";
  const agree = r.cmp ? `${r.cmp.agree}/${r.cmp.positions}` : "-";
  const tv = r.cmp ? r.cmp.maxTv.toFixed(4) : "-";
  const tvBase = r.base ? r.base.maxTv.toFixed(4) : "-";
  console.log(`| ${r.type} | ${r.ok ? "yes" : "FAIL"} | ${res.bytes} | ${res.tensorCount} | ${res.generatedTokens.join(" ")}${eos} | ${agree} | ${tv} | ${tvBase} |`);
}
if (!values.keep) rmSync(dir, { recursive: true, force: true });
process.exitCode = failures ? 1 : 0;
