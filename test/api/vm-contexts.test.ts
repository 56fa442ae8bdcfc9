// Electron-like embedding: the addon used at once from the main thread, several worker threads and
// several `vm` contexts inside each (as a renderer or a sandboxed script would), each generating with
// the embedded model; the greedy tokens agree everywhere, and the process exits cleanly while some
// workers still hold models and contexts open (the environment cleanup hooks unload them).
import { spawnSync } from "node:child_process";

test("the addon works in several worker threads and vm contexts at once and unloads cleanly", () => {
  // in a child process: a crash at teardown would take the test runner down with it
  const lib = require.resolve("../../dist/cjs/index.js");
  const body = `
    const { Worker, isMainThread, parentPort, workerData } = require("node:worker_threads");
    const vm = require("node:vm");
    const lib = ${JSON.stringify(lib)};
    // code run inside a vm context: only what the context was given (ringllm) is in scope
    const inContext = \`(async () => {
      const model = await ringllm.loadModel();
      const ctx = await model.createContext({ contextSize: 128 });
      const tokens = [];
      for await (const t of ctx.generate("Once upon a time", { maxTokens: 8, temperature: 0 })) tokens.push(t.token);
      if (!leaveOpen) { await ctx.close(); await model.close(); }
      return tokens.join(",");
    })()\`;
    async function run(leaveOpen) {
      const ringllm = require(lib);
      const contexts = [0, 1, 2].map(() => vm.createContext({ ringllm, leaveOpen }));
      return Promise.all(contexts.map((c) => vm.runInContext(inContext, c)));
    }
    if (isMainThread) {
      (async () => {
        const workers = [0, 1, 2, 3].map((i) => new Promise((resolve, reject) => {
          const w = new Worker(SELF, { eval: true, workerData: { leaveOpen: i % 2 === 1 } });
          w.once("message", resolve);
          w.once("error", reject);
        }));
        const results = [await run(false), ...(await Promise.all(workers))];
        const all = results.flat();
        if (all.length !== 15 || new Set(all).size !== 1) throw new Error("tokens differ: " + JSON.stringify(results));
        console.log("ok " + all.length + " " + all[0]);
      })().catch((e) => { console.error(e); process.exit(1); });
    } else {
      run(workerData.leaveOpen).then((r) => parentPort.postMessage(r));
    }`;
  const script = `const SELF = ${JSON.stringify(`const SELF = null;\n${body}`)};\n${body}`;
  const r = spawnSync(process.execPath, ["-e", script], {
    encoding: "utf8",
    env: { ...process.env, NODE_NO_WARNINGS: "1" },
    timeout: 120_000,
  });
  expect({ status: r.status, signal: r.signal, err: r.stderr.trim() }).toEqual({ status: 0, signal: null, err: "" });
  expect(r.stdout.trim()).toMatch(/^ok 15 \d+(,\d+){7}$/);
});
