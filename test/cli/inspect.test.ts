// `ringllm inspect`: the report a person reads, and errors as one line with the code.
import { spawnSync } from "node:child_process";
import { join } from "node:path";

import { ROOT, sharedTest, STORIES, VOCABS } from "../helpers";

const CLI = join(ROOT, "dist", "cjs", "cli.js");

function run(...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
}

sharedTest("inspect prints architecture, hyper-parameters, tokenizer and tensors by type", [STORIES], () => {
  const r = run("inspect", STORIES);
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/architecture:\s+llama/);
  expect(r.stdout).toMatch(/layers\s+5\n/);
  expect(r.stdout).toMatch(/attention heads\s+8\n/);
  expect(r.stdout).toMatch(/KV heads\s+4\n/);
  expect(r.stdout).toMatch(/vocabulary size\s+512\n/);
  expect(r.stdout).toMatch(/rms norm epsilon\s+0.00001\n/);
  expect(r.stdout).toMatch(/model\s+"llama"/);
  expect(r.stdout).toMatch(/tensors: 48, 1\.12 MiB/);
  expect(r.stdout).toMatch(/F32\s+48 tensors/);
});

sharedTest("inspect --metadata lists every key with its GGUF type", [STORIES], () => {
  const r = run("inspect", "--metadata", STORIES);
  expect(r.stdout).toContain("llama.block_count (uint32) = 5");
  expect(r.stdout).toMatch(/tokenizer\.ggml\.tokens \(array<string>\) = <array<string>, 512 items>/);
});

sharedTest("inspect --json emits the header as JSON", [VOCABS[1]], () => {
  const r = run("inspect", "--json", VOCABS[1]);
  const info = JSON.parse(r.stdout);
  expect(info.architecture).toBe("gpt2");
  expect(info.metadata["tokenizer.ggml.tokens"]).toMatchObject({ kind: "array", length: 50257 });
});

test("a missing file is one line on stderr with the error code and exit status 1", () => {
  const r = run("inspect", "/no/such/model.gguf");
  expect(r.status).toBe(1);
  expect(r.stderr.trim()).toMatch(/^ringllm: cannot open '\/no\/such\/model\.gguf'.*\[ENOENT\]$/);
});

test("a file that is not GGUF reports GGUF_BAD_MAGIC", () => {
  const r = run("inspect", join(ROOT, "package.json"));
  expect(r.status).toBe(1);
  expect(r.stderr).toContain("[GGUF_BAD_MAGIC]");
});

test("a missing argument prints usage and fails", () => {
  const r = run("inspect");
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/missing required argument 'file'/);
});

sharedTest("generate prints the prompt and llama.cpp's greedy continuation", [STORIES], () => {
  const golden = require("../engine/goldens/stories260K-llamacpp.json") as { greedyText: string };
  const r = run("generate", "-m", STORIES, "-t", "0", "-n", "30", "Once upon a time");
  expect(r.status).toBe(0);
  expect(r.stdout.startsWith("Once upon a time" + golden.greedyText.slice(0, 60))).toBe(true);
});

test("generate with a non-numeric option fails with INVALID_ARGUMENT before printing anything", () => {
  const r = run("generate", "-m", "x.gguf", "-t", "abc", "hi");
  expect(r.status).toBe(1);
  expect(r.stdout).toBe("");
  expect(r.stderr).toContain("[INVALID_ARGUMENT]");
});
