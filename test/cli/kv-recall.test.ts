// `ringllm generate --kv recall` with its options: the API's greedy continuation under the same
// policy (stories260K); a bad block size is one error line with its code.
import { spawnSync } from "node:child_process";
import { join } from "node:path";

import { loadModel } from "../../lib";
import { ROOT, sharedTest, STORIES } from "../helpers";

const CLI = join(ROOT, "dist", "cjs", "cli.js");
const DOC = Array.from({ length: 30 }, (_, i) => `Line ${i}: a fortune cookie says the sea is wide and the night is long.`).join("\n");
const KV = { policy: "recall" as const, sinks: 4, recent: 64, blockSize: 32, topBlocks: 2, positions: "absolute" as const };

function run(args: string[], input?: string) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", input });
}

// stories260K: the embedded default model's layers are windowed, and recall applies to the others
sharedTest("--kv recall --sinks --recent --block-size --top-blocks --positions: the API's greedy output with the same kv", [STORIES], async () => {
  const model = await loadModel(STORIES);
  const ctx = await model.createContext({ contextSize: Infinity, kv: KV });
  let expected = "";
  for await (const c of ctx.generate(DOC, { maxTokens: 10, temperature: 0 })) expected += c.text;
  expect(ctx.stats().storeBytes).toBeGreaterThan(0); // the document overflowed the recent tokens
  await ctx.close();
  await model.close();
  const r = run(["generate", "-m", STORIES, "-t", "0", "-n", "10", "-c", "inf", "--kv", "recall", "--sinks", "4", "--recent", "64",
    "--block-size", "32", "--top-blocks", "2", "--positions", "absolute", "-"], DOC);
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  expect(r.stdout).toBe(`${expected}\n`);
});

test("--kv recall --block-size 48: one error line with INVALID_ARGUMENT", () => {
  const r = run(["generate", "-c", "inf", "--kv", "recall", "--block-size", "48", "hello"]);
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/blockSize.* must be a multiple of 32.*\[INVALID_ARGUMENT\]/);
});
