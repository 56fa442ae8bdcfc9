// The embedded default model: a small GGUF trained by scripts/train-tiny.py and shipped in models/.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

import { RingllmError } from "./errors";

/** File name of the embedded model inside the package's models/ folder. */
export const DEFAULT_MODEL_FILE = "ringllm-tiny-fortunes.gguf";

/**
 * Absolute path of the model that ships inside the package (models/ringllm-tiny-fortunes.gguf: a
 * 2.3 M-parameter llama with grouped-query attention and a 128-token sliding window, trained on
 * fortune-cookie text; see models/README.md). `loadModel()` with no path and `ringllm generate`
 * without `--model` use it. Throws ENOENT when the package was installed without its models/ folder.
 *
 * @example
 * const model = await loadModel(defaultModelPath()); // same as loadModel()
 */
export function defaultModelPath(): string {
  // lib/ (ts-jest, tsx) sits one level below the package root, dist/cjs/ two.
  const tried: string[] = [];
  for (let dir = __dirname, i = 0; i < 3; i++, dir = dirname(dir)) {
    const file = join(dir, "models", DEFAULT_MODEL_FILE);
    if (existsSync(file)) return file;
    tried.push(file);
  }
  throw new RingllmError("ENOENT", `the embedded default model is missing; looked for ${tried.join(", ")}`);
}
