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

const rows = [];
let failures = 0;
for (const type of TYPES) {
  const file = join(dir, `llama-${type}.gguf`);
  const make = spawnSync(join(root, "node_modules", ".bin", "tsx"), [join(root, "scripts", "make-model.ts"), "--out", file, "--type", type, "--seed", values.seed, ...SHAPE], { encoding: "utf8" });
  if (make.status !== 0) {
    rows.push({ type, ok: false, error: `make-model failed: ${(make.stderr || make.stdout).trim()}` });
    failures++;
    continue;
  }
  const check = spawnSync(process.execPath, [join(here, "check-load.mjs"), file, "--tokens", values.tokens, "--json", "--quiet"], { encoding: "utf8" });
  const line = check.stdout.trim().split("\n").pop() ?? "";
  let res;
  try {
    res = JSON.parse(line);
  } catch {
    rows.push({ type, ok: false, error: `check-load exited ${check.status}: ${(check.stderr || line).trim().slice(-500)}` });
    failures++;
    continue;
  }
  const ok = check.status === 0 && res.architecture === "llama" && res.finite && res.generatedTokens.length > 0;
  if (!ok) failures++;
  rows.push({ type, ok, bytes: statSync(file).size, tensors: res.tensorCount, tokens: res.generatedTokens, conf: res.confidences });
}

console.log(`| type | loaded + evaluated | file bytes | tensors | greedy tokens from BOS (first ${values.tokens}) |`);
console.log("| --- | --- | ---: | ---: | --- |");
for (const r of rows) {
  if (r.error) console.log(`| ${r.type} | FAIL | | | ${r.error.replace(/\|/g, "\\|").replace(/\n/g, " ")} |`);
  else console.log(`| ${r.type} | ${r.ok ? "yes" : "FAIL"} | ${r.bytes} | ${r.tensors} | ${r.tokens.join(" ")} |`);
}
if (!values.keep) rmSync(dir, { recursive: true, force: true });
process.exitCode = failures ? 1 : 0;
