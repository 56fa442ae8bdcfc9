// `ringllm generate` with a long input: the prompt from a file (-f) or standard input ("-"), not
// echoed; a progress bar for model load and prompt reading only when stderr is a terminal.
import { execFileSync, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

import { loadModel } from "../../lib";
import { ROOT, tempDir } from "../helpers";

const CLI = join(ROOT, "dist", "cjs", "cli.js");
const DOC = Array.from({ length: 40 }, (_, i) => `Line ${i}: a fortune cookie says the sea is wide and the night is long.`).join("\n");

let dir: { path: string; cleanup(): void };
let docFile: string;
beforeAll(() => {
  dir = tempDir("ringllm-cli-long-");
  docFile = join(dir.path, "doc.txt");
  writeFileSync(docFile, DOC);
});
afterAll(() => dir.cleanup());

function run(args: string[], input?: string) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", input });
}

async function apiGreedy(prompt: string, n: number): Promise<string> {
  const model = await loadModel();
  const ctx = await model.createContext({ contextSize: 2048 });
  let text = "";
  for await (const c of ctx.generate(prompt, { maxTokens: n, temperature: 0 })) text += c.text;
  await ctx.close();
  await model.close();
  return text;
}

test("-f FILE and - (stdin) give the API's greedy continuation of the document, without echoing it; no progress in a pipe", async () => {
  const expected = await apiGreedy(DOC, 12);
  expect(expected.length).toBeGreaterThan(0);
  const fromFile = run(["generate", "-t", "0", "-n", "12", "-f", docFile]);
  expect(fromFile.status).toBe(0);
  expect(fromFile.stderr).toBe("");
  expect(fromFile.stdout).toBe(`${expected}\n`);
  const fromStdin = run(["generate", "-t", "0", "-n", "12", "-"], DOC);
  expect(fromStdin.status).toBe(0);
  expect(fromStdin.stderr).toBe("");
  expect(fromStdin.stdout).toBe(`${expected}\n`);
});

test("a prompt and --file together, no prompt at all, or a missing file: one error line with the code", () => {
  const both = run(["generate", "-f", docFile, "hello"]);
  expect(both.status).toBe(1);
  expect(both.stderr).toMatch(/either as an argument or with --file.*\[INVALID_ARGUMENT\]/);
  const none = run(["generate"]);
  expect(none.status).toBe(1);
  expect(none.stderr).toMatch(/no prompt.*\[INVALID_ARGUMENT\]/);
  const missing = run(["generate", "-f", join(dir.path, "nope.txt")]);
  expect(missing.status).toBe(1);
  expect(missing.stderr).toMatch(/cannot read the prompt file .*nope\.txt.*\[ENOENT\]/);
});

// util-linux `script` runs the command on a pseudo-terminal (stderr is a TTY there).
test("on a terminal: a progress bar for the model load and the prompt (tokens done/total, tok/s, ETA), cleared before the text", () => {
  const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} generate -t 0 -n 5 --batch-size 64 -f ${JSON.stringify(docFile)}`;
  const out = execFileSync("script", ["-qfec", cmd, "/dev/null"], { encoding: "utf8" });
  expect(out).toContain("loading model");
  expect(out).toMatch(/reading prompt .* \d+\/\d+ tokens \| (\d+|-) tok\/s \| ETA /);
  const plain = run(["generate", "-t", "0", "-n", "5", "-f", docFile]).stdout.trim();
  expect(out.replace(/\r/g, "")).toContain(plain); // the generated text follows the cleared bar
  const quiet = execFileSync("script", ["-qfec", `${cmd} --no-progress`, "/dev/null"], { encoding: "utf8" });
  expect(quiet).not.toContain("reading prompt");
});
