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
  const ctx = await model.createContext({ contextSize: 512 });
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

test("chat with no --model answers a piped question with the embedded model's ChatML reply", async () => {
  const r = spawnSync(process.execPath, [CLI, "chat", "-t", "0"], { input: "Tell me about cats\n", encoding: "utf8" });
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  // the model's own template (ChatML), greedy, ended by <|im_end|>: the same answer as the API's
  const model = await loadModel();
  const prompt = model.tokenize("<|im_start|>user\nTell me about cats<|im_end|>\n<|im_start|>assistant\n", { addSpecial: true, parseSpecial: true });
  const ctx = await model.createContext({ contextSize: 512 });
  let expected = "";
  for await (const c of ctx.generate(prompt, { maxTokens: 256, temperature: 0 })) expected += c.text;
  await ctx.close();
  await model.close();
  expect(expected.trim().length).toBeGreaterThan(0);
  const squash = (s: string) => s.replace(/\s+/g, " ").trim();
  expect(squash(r.stdout)).toBe(squash(expected));
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

test("generate --kv/--window/--kv-type/-c inf choose the cache, and --stats reports it on stderr", () => {
  const r = run("generate", "-t", "0", "-n", "20", "-c", "inf", "--kv", "window", "--window", "16", "--kv-type", "f16", "--stats", "Hello");
  expect(r.status).toBe(0);
  expect(r.stdout.startsWith("Hello")).toBe(true);
  // 4 layers, each a 16-slot ring holding min(tokens, 16)
  expect(r.stderr).toMatch(/^tokens \d+, KV \d+ bytes \(f16\), repacked weights [1-9]\d* bytes; layers: (window 16\/16, ){3}window 16\/16\n$/);
  // the embedded model's heads are 24 wide: quantized KV is refused with the reason
  const q8 = run("generate", "--kv-type", "q8_0", "x");
  expect(q8.status).toBe(1);
  expect(q8.stderr).toContain("24/24 dimensions");
  const bad = run("generate", "--kv", "bogus", "x");
  expect(bad.status).toBe(1);
  expect(bad.stderr).toContain("[INVALID_ARGUMENT]");
  expect(bad.stderr).toContain('"sinks"');
});
