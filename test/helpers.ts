// Shared test helpers: locating ../shared data (a failure in CI, a skip elsewhere) and temp dirs.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(__dirname, "..");
export const SHARED = resolve(ROOT, "..", "shared");
export const IN_CI = process.env.CI === "true" || process.env.CI === "1";

export const STORIES = join(SHARED, "models", "stories260K.gguf");
export const VOCABS = ["llama-spm", "gpt-2", "deepseek-llm", "starcoder"].map((n) =>
  join(SHARED, "vocab", `ggml-vocab-${n}.gguf`),
);

/**
 * `test` for a test that needs files from ../shared: skipped with a message when they are absent
 * outside CI; in CI (CI=true) a missing file fails the test.
 */
export function sharedTest(name: string, files: string[], fn: () => unknown, timeout?: number): void {
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length === 0) {
    test(name, fn as jest.ProvidesCallback, timeout);
  } else if (IN_CI) {
    test(name, () => {
      throw new Error(`missing shared test data: ${missing.join(", ")}`);
    });
  } else {
    test.skip(`${name} [skipped: missing ${missing.join(", ")}]`, () => undefined);
  }
}

/** `describe` for a group of tests that need files from ../shared (see sharedTest). */
export function sharedDescribe(name: string, files: string[], fn: () => void): void {
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length === 0) {
    describe(name, fn);
  } else if (IN_CI) {
    test(name, () => {
      throw new Error(`missing shared test data: ${missing.join(", ")}`);
    });
  } else {
    describe.skip(`${name} [skipped: missing ${missing.join(", ")}]`, fn);
  }
}

export function tempDir(prefix = "ringllm-test-"): { path: string; cleanup(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

export { mulberry32 as rng } from "../scripts/gguf/rng";

/** max |a - b| / max |b|: the largest difference relative to the largest value (logits, vectors) */
export function normalizedDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let d = 0, m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  expect(m).toBeGreaterThan(0);
  return d / m;
}

/**
 * Logits (positions x vocab) of `tokens` for each model file, computed in a child process under
 * `env` (the kernel tier and RINGLLM_REPACK are read once per process).
 */
export function logitsIn(
  env: Record<string, string>,
  paths: string[],
  tokens: number[],
): { kernels: string; logits: Float32Array[]; repackedBytes: number[] } {
  const script = `const r = require(${JSON.stringify(join(ROOT, "dist", "cjs", "index.js"))});
    (async () => {
      const out = [], repacked = [];
      for (const p of ${JSON.stringify(paths)}) {
        const m = await r.loadModel(p);
        const ctx = await m.createContext({ contextSize: 64, threads: 1 });
        const l = await ctx.decode(${JSON.stringify(tokens)}, { logits: "all" });
        out.push(Buffer.from(l.buffer, l.byteOffset, l.byteLength).toString("base64"));
        repacked.push(ctx.stats().repackedBytes);
        await m.close();
      }
      console.log(JSON.stringify({ kernels: r.systemInfo().kernels, logits: out, repacked }));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const r = spawnSync(process.execPath, ["-e", script], { env: { ...process.env, ...env }, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  const res = JSON.parse(r.stdout) as { kernels: string; logits: string[]; repacked: number[] };
  return {
    kernels: res.kernels,
    repackedBytes: res.repacked,
    logits: res.logits.map((b) => { const buf = Buffer.from(b, "base64"); return new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4); }),
  };
}
