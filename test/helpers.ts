// Shared test helpers: locating ../shared data (a failure in CI, a skip elsewhere) and temp dirs.
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

export function tempDir(prefix = "ringllm-test-"): { path: string; cleanup(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** Deterministic PRNG (mulberry32) for test inputs. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
