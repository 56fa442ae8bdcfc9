// `ringllm chat`: piped (one message per line in, one reply per line out) and interactive through
// a pseudo-terminal (tmux): type a message, read the screen; /commands; Ctrl-C stops a reply, a
// second Ctrl-C exits. Replies are compared with the library's Chat on the same model.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadModel, setLogger } from "../../lib/index";
import { IN_CI, ROOT, sharedDescribe, STORIES, tempDir } from "../helpers";

const CLI = join(ROOT, "dist", "cjs", "cli.js");
const hasTmux = spawnSync("tmux", ["-V"]).status === 0;
if (!hasTmux && IN_CI) throw new Error("tmux is needed for the interactive chat test (.ci/run installs it)");

const env = { ...process.env, NODE_NO_WARNINGS: "1" };
const QUESTIONS = ["Once upon a time", "Tell me about the cat.", "What did the dog do?"];

async function apiReplies(questions: string[], maxTokens: number): Promise<string[]> {
  setLogger(null);
  const model = await loadModel(STORIES);
  const chat = await model.createChat({ threads: 1 });
  const out: string[] = [];
  for (const q of questions) out.push((await chat.ask(q, { temperature: 0, maxTokens })).content);
  await model.close();
  return out;
}

function chatCli(args: string[], input: string) {
  return spawnSync(process.execPath, [CLI, "chat", "-m", STORIES, "-t", "0", "--threads", "1", ...args], { input, env, encoding: "utf8", timeout: 60_000 });
}

sharedDescribe("ringllm chat", [STORIES], () => {
  test("piped: one reply per line, the same as the library's Chat", async () => {
    const r = chatCli(["-n", "16"], QUESTIONS.join("\n") + "\n\n");
    expect(r.status).toBe(0);
    const expected = await apiReplies(QUESTIONS, 16);
    expect(r.stdout.split("\n").slice(0, -1)).toEqual(expected.map((t) => t.replace(/\n+/g, " ").trim()));
  });

  test("piped /save, /load (with the context state) and /stats; bad options are coded errors", () => {
    const dir = tempDir();
    try {
      const file = join(dir.path, "conv.json");
      const first = chatCli(["-n", "8", "--system", "Be brief."], `Hello\n/save ${file}\n`);
      expect(first.status).toBe(0);
      const saved = JSON.parse(readFileSync(file, "utf8"));
      expect(saved.format).toBe("ringllm-chat");
      expect(saved.messages.map((m: { role: string }) => m.role)).toEqual(["system", "user", "assistant"]);
      expect(saved.messages[2].content).toBe(first.stdout.trim());
      expect(existsSync(file + ".state")).toBe(true);
      // continuing from the saved state evaluates only the new message, and replies as one process would
      const second = chatCli(["-n", "8"], `/load ${file}\nAnd then?\n/stats\n`);
      expect(second.status).toBe(0);
      expect(second.stderr).toMatch(/\(loaded 3 messages/);
      const [, reused] = second.stderr.match(/turns 2, tokens reused (\d+)/) ?? [];
      expect(Number(reused)).toBeGreaterThan(10);
      const oneRun = chatCli(["-n", "8", "--system", "Be brief."], "Hello\nAnd then?\n");
      expect(second.stdout).toBe(oneRun.stdout.split("\n")[1] + "\n");
      const bad = chatCli(["--template", join(dir.path, "nope.jinja")], "hi\n");
      expect(bad.status).toBe(1);
      expect(bad.stderr).toMatch(/neither a file nor one of chatml/);
      const badLoad = chatCli([], `/load ${join(dir.path, "missing.json")}\n`);
      expect(badLoad.status).toBe(1);
      expect(badLoad.stderr).toMatch(/cannot read .*missing.json/);
    } finally {
      dir.cleanup();
    }
  });

  test("generate --save-state / --load-state: a continuation in two runs equals one run", () => {
    const dir = tempDir();
    try {
      const state = join(dir.path, "gen.state");
      const run = (args: string[]) =>
        spawnSync(process.execPath, [CLI, "generate", "-m", STORIES, "-t", "0.8", "-s", "5", "--threads", "1", ...args], { env, encoding: "utf8" });
      const first = run(["-n", "10", "--save-state", state, "Once upon a time"]);
      expect(first.status).toBe(0);
      const second = run(["-n", "10", "--load-state", state, " and"]);
      expect(second.status).toBe(0);
      const whole = spawnSync(process.execPath, ["-e", `
        const r = require(${JSON.stringify(join(ROOT, "dist", "cjs", "index.js"))});
        (async () => {
          const m = await r.loadModel(${JSON.stringify(STORIES)});
          const ctx = await m.createContext({ threads: 1 });
          let a = "", b = "";
          for await (const c of ctx.generate("Once upon a time", { temperature: 0.8, seed: 5, maxTokens: 10 })) a += c.text;
          for await (const c of ctx.generate(" and", { temperature: 0.8, seed: 5, maxTokens: 10 })) b += c.text;
          process.stdout.write(JSON.stringify([a, b]));
        })();`], { env, encoding: "utf8" });
      const [a, b] = JSON.parse(whole.stdout);
      expect(first.stdout).toBe("Once upon a time" + a + "\n");
      expect(second.stdout).toBe(" and" + b + "\n");
      const bad = run(["--load-state", join(dir.path, "nope.state"), "x"]);
      expect(bad.status).toBe(1);
      expect(bad.stderr).toMatch(/ENOENT/);
    } finally {
      dir.cleanup();
    }
  });

  // `ringllm chat` with these arguments in a tmux pane: type keys, wait for the screen to show something.
  function chatInTmux(name: string, args: string) {
    const session = `ringllm-${name}-${process.pid}`;
    const tmux = (...a: string[]) => execFileSync("tmux", a, { encoding: "utf8" });
    const native = process.env.RINGLLM_NATIVE ? `RINGLLM_NATIVE=${process.env.RINGLLM_NATIVE} ` : "";
    const cmd = `${native}NODE_NO_WARNINGS=1 ${process.execPath} ${CLI} chat -m ${STORIES} --threads 1 ${args} 2>/dev/null; echo CHAT-EXITED; sleep 60`;
    tmux("new-session", "-d", "-s", session, "-x", "200", "-y", "50", cmd);
    return {
      keys: (...keys: string[]) => tmux("send-keys", "-t", session, ...keys),
      waitFor: async (pred: (screen: string) => boolean, what: string): Promise<void> => {
        const end = Date.now() + 20_000;
        for (;;) {
          const screen = tmux("capture-pane", "-p", "-J", "-S", "-500", "-t", session);
          if (pred(screen)) return;
          if (Date.now() > end) throw new Error(`timed out waiting for ${what}; screen:\n${screen}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      },
      close: () => spawnSync("tmux", ["kill-session", "-t", session]),
    };
  }

  (hasTmux ? test : test.skip)("interactive on a terminal: streamed replies, /reset, Ctrl-C stops a reply, a second Ctrl-C exits", async () => {
    const t = chatInTmux("chat", "-t 0 -n 24 -c 100000");
    try {
      await t.waitFor((s) => /\/help for commands/.test(s) && /^> $/m.test(s), "the banner and the prompt");
      const [expected] = await apiReplies([QUESTIONS[0]], 24);
      t.keys(QUESTIONS[0], "Enter");
      const firstLine = expected.split("\n")[0];
      await t.waitFor((s) => s.includes(firstLine) && (s.match(/^> /gm) ?? []).length >= 2, "the reply");
      t.keys("/stats", "Enter");
      await t.waitFor((s) => /turns 1, tokens reused 0/.test(s), "/stats");
      t.keys("/reset", "Enter");
      await t.waitFor((s) => s.includes("(conversation cleared)"), "/reset");
      t.keys("/help", "Enter");
      await t.waitFor((s) => s.includes("/save <file>"), "/help");
      t.keys("C-c");
      await t.waitFor((s) => s.includes("Ctrl-C again or Ctrl-D to exit"), "the first Ctrl-C at the prompt");
      t.keys("C-c");
      await t.waitFor((s) => s.includes("CHAT-EXITED"), "exit after the second Ctrl-C");
    } finally {
      t.close();
    }
  }, 60_000);

  (hasTmux ? test : test.skip)("interactive: Ctrl-C during a reply stops it and the chat goes on", async () => {
    // sampling at temperature 1 with no end: the reply runs until stopped (stories260K writes no <|im_end|>)
    const t = chatInTmux("chat-stop", "-t 1 --min-p 0 --top-p 1 --top-k 0 -n 1000000 -c inf --kv window --window 256");
    try {
      await t.waitFor((s) => /^> $/m.test(s), "the prompt");
      t.keys("Once upon a time", "Enter");
      await t.waitFor((s) => s.split("Once upon a time")[1]?.replace(/\s/g, "").length > 40, "some reply text");
      t.keys("C-c");
      await t.waitFor((s) => s.includes("(stopped)") && /^> $/m.test(s.split("(stopped)")[1] ?? ""), "the stop and a new prompt");
      t.keys("/stats", "Enter");
      await t.waitFor((s) => /turns 1,/.test(s), "/stats after the stop");
      t.keys("C-d");
      await t.waitFor((s) => s.includes("CHAT-EXITED"), "exit on Ctrl-D");
    } finally {
      t.close();
    }
  }, 60_000);
});
