// Writes test/engine/goldens/arch-llamacpp.json: for every ARCH_TEST_MODELS entry, llama.cpp's
// next-token probabilities over SCORED_IDS (teacher-forced) and its 32 greedy tokens from BOS.
// Needs bench/ installed (cd bench && npm ci). Usage: npx tsx scripts/make-arch-goldens.ts [ARCH...]
// (with architectures named, only theirs are rerun; the other entries are kept from the file).

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ARCH_NAMES, ARCH_TEST_MODELS, writeArchModel } from "./gguf/arch-models";

const ROOT = resolve(__dirname, "..");
export const SCORED_IDS = [1, 43, 286, 103, 170, 300, 44, 313, 167, 22, 62, 79];
const GREEDY = 32;

const OUT = join(ROOT, "test/engine/goldens/arch-llamacpp.json");
const only = process.argv.slice(2);
for (const a of only) if (!(ARCH_NAMES as readonly string[]).includes(a)) throw new Error(`unknown architecture ${a}; expected one of ${ARCH_NAMES.join(", ")}`);

interface Goldens {
  about: string;
  scoredTokens: number[];
  models: Record<string, { greedyTokens: number[]; probs: number[][] }>;
}

const dir = mkdtempSync(join(tmpdir(), "ringllm-arch-goldens-"));
const out: Goldens = {
  about:
    "llama.cpp (node-llama-cpp 3.21.1, prebuilt CPU binary, its default context options) on the F32 models of " +
    "ARCH_TEST_MODELS in scripts/gguf/arch-models.ts (options and seeds there). Written by `npx tsx " +
    "scripts/make-arch-goldens.ts`, which writes each model with writeArchModel and runs `node bench/check-load.mjs " +
    `MODEL.gguf --score ${SCORED_IDS.join(",")} --tokens ${GREEDY} --json --quiet\`. probs[p] is llama.cpp's next-token ` +
    "distribution after scoredTokens[0..p] (rounded to 6 decimals); greedyTokens are its argmax tokens from BOS.",
  scoredTokens: SCORED_IDS,
  models: {},
};
const previous = only.length > 0 && existsSync(OUT) ? (JSON.parse(readFileSync(OUT, "utf8")) as Goldens) : undefined;
if (previous && previous.scoredTokens.join() !== SCORED_IDS.join()) throw new Error("SCORED_IDS changed: regenerate every architecture");
try {
  for (const [name, opts] of Object.entries(ARCH_TEST_MODELS)) {
    const kept = previous?.models[name];
    if (previous && !only.includes(name)) {
      if (kept) out.models[name] = kept;
      continue;
    }
    const file = join(dir, `${name}.gguf`);
    writeArchModel(file, opts);
    const res = JSON.parse(
      execFileSync("node", ["check-load.mjs", file, "--score", SCORED_IDS.join(","), "--tokens", String(GREEDY), "--json", "--quiet"], {
        cwd: join(ROOT, "bench"),
        maxBuffer: 1 << 28,
      }).toString(),
    ) as { architecture: string; generatedTokens: number[]; scored: { probs: number[] }[] };
    if (res.architecture !== opts.arch) throw new Error(`${name}: llama.cpp read architecture ${res.architecture}`);
    out.models[name] = { greedyTokens: res.generatedTokens, probs: res.scored.map((s) => s.probs) };
    console.log(name, "greedy", res.generatedTokens.join(" "));
  }
  writeFileSync(OUT, JSON.stringify(out) + "\n");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
