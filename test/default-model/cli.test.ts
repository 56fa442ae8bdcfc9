// `ringllm generate` without --model runs the embedded model (the README's first command);
// --model <file> runs any other GGUF.
import { spawnSync } from "node:child_process";
import { join } from "node:path";

import { loadModel } from "../../lib";
import { writeLlamaModel, LLAMA_PRESETS } from "../../scripts/gguf/llama-model";
import { ROOT, tempDir } from "../helpers";

const CLI = join(ROOT, "dist", "cjs", "cli.js");

function run(...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
}

async function apiGreedy(file: string | undefined, prompt: string, n: number): Promise<string> {
  const model = await loadModel(file);
  const ctx = await model.createContext({ contextSize: 256 });
  let text = "";
  for await (const c of ctx.generate(prompt, { maxTokens: n, temperature: 0 })) text += c.text;
  await ctx.close();
  await model.close();
  return text;
}

test("generate with no --model prints the prompt and the embedded model's greedy continuation", async () => {
  const r = run("generate", "-t", "0", "-n", "30", "The meaning of life");
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  const expected = await apiGreedy(undefined, "The meaning of life", 30);
  expect(expected.trim().length).toBeGreaterThan(0);
  expect(r.stdout).toBe(`The meaning of life${expected}\n`);
});

test("generate --model <file> runs that file instead", async () => {
  const dir = tempDir();
  try {
    const file = join(dir.path, "random.gguf");
    writeLlamaModel(file, { ...LLAMA_PRESETS.tiny, seed: 3 });
    const r = run("generate", "--model", file, "-t", "0", "-n", "12", "hello");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`hello${await apiGreedy(file, "hello", 12)}\n`);
    expect(r.stdout).not.toBe(run("generate", "-t", "0", "-n", "12", "hello").stdout);
  } finally {
    dir.cleanup();
  }
});
