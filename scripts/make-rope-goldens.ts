// Writes test/engine/goldens/rope-llamacpp.json: for every ROPE_TEST_MODELS entry, llama.cpp's
// next-token probabilities at ROPE_POSITIONS of ROPE_SCORED_IDS (teacher-forced).
// Needs bench/ installed (cd bench && npm ci). Usage: npx tsx scripts/make-rope-goldens.ts
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ROPE_POSITIONS, ROPE_SCORED_IDS, ROPE_TEST_MODELS, writeRopeModel } from "./gguf/rope-models";

const ROOT = resolve(__dirname, "..");
const dir = mkdtempSync(join(tmpdir(), "ringllm-rope-goldens-"));
const out: Record<string, unknown> = {
  about:
    "llama.cpp (node-llama-cpp 3.21.1, prebuilt CPU binary, context 512) on the models of ROPE_TEST_MODELS in " +
    "scripts/gguf/rope-models.ts. Written by `npx tsx scripts/make-rope-goldens.ts`, which writes each model with " +
    "writeRopeModel and runs `node bench/check-load.mjs MODEL --score <ROPE_SCORED_IDS> --context 512 --json --quiet`; " +
    "probs[k] is llama.cpp's next-token distribution after ROPE_SCORED_IDS[0..ROPE_POSITIONS[k]] (6 decimals).",
  positions: ROPE_POSITIONS,
  models: {} as Record<string, unknown>,
};
try {
  for (const [name, m] of Object.entries(ROPE_TEST_MODELS)) {
    const file = join(dir, `${name}.gguf`);
    writeRopeModel(file, m);
    const res = JSON.parse(
      execFileSync("node", ["check-load.mjs", file, "--score", ROPE_SCORED_IDS.join(","), "--context", "512", "--json", "--quiet"], {
        cwd: join(ROOT, "bench"),
        maxBuffer: 1 << 28,
      }).toString(),
    ) as { scored: { probs: number[] }[] };
    (out.models as Record<string, unknown>)[name] = { probs: ROPE_POSITIONS.map((p) => res.scored[p].probs) };
    console.log(name, "ok");
  }
  writeFileSync(join(ROOT, "test/engine/goldens/rope-llamacpp.json"), JSON.stringify(out) + "\n");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
