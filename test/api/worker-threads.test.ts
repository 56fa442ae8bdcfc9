// The addon keeps per-environment state only: it loads in several worker_threads at once, and a
// worker that exits with a model still open is cleaned up by the environment hook.
import { spawnSync } from "node:child_process";
import { Worker } from "node:worker_threads";

import { nativePath } from "../../lib/native";
import { sharedTest, STORIES } from "../helpers";

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const b = require(workerData.addon);
(async () => {
  const handle = await b.loadModel(workerData.model, {}).promise;
  const info = handle.info();
  const out = { tensors: info.tensors.length, layers: info.metadata["llama.block_count"], kernels: b.systemInfo().kernels };
  if (!workerData.leaveOpen) await handle.close();
  parentPort.postMessage(out);
})().catch((e) => parentPort.postMessage({ error: e.code + ": " + e.message }));
`;

function runWorker(leaveOpen: boolean): Promise<{ tensors: number; layers: number; kernels: string; error?: string }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { addon: nativePath(), model: STORIES, leaveOpen } });
    let msg: unknown;
    w.on("message", (m) => { msg = m; });
    w.on("error", reject);
    w.on("exit", (code) => (code === 0 ? resolve(msg as never) : reject(new Error(`worker exited with ${code}`))));
  });
}

sharedTest("two workers (and the main thread) load the addon and a model at the same time", [STORIES], async () => {
  // the main thread holds its own instance while the workers run
  require(nativePath()).systemInfo();
  const results = await Promise.all([runWorker(false), runWorker(false)]);
  for (const r of results) {
    expect(r.error).toBeUndefined();
    expect(r).toMatchObject({ tensors: 48, layers: 5 });
  }
});

sharedTest("a worker that exits with its model open is torn down cleanly, repeatedly", [STORIES], async () => {
  for (let round = 0; round < 3; round++) {
    const results = await Promise.all([runWorker(true), runWorker(true)]);
    for (const r of results) expect(r).toMatchObject({ tensors: 48 });
  }
});

test("workers terminated while their contexts generate (batched and not) leave the process running", () => {
  // in a child process: a crash at teardown would take the test runner down with it
  const lib = require.resolve("../../dist/cjs/index.js");
  const script = `
    const { Worker } = require("node:worker_threads");
    const code = (batching) => \`
      const r = require(${JSON.stringify(lib)});
      (async () => {
        const m = await r.loadModel();
        const cs = await Promise.all([0, 1, 2].map(() => m.createContext({ contextSize: 256, batching: \${batching} })));
        const runs = cs.map((c) => (async () => { for await (const _ of c.generate("Tell me", { maxTokens: 200, temperature: 0.8 })) {} })());
        require("node:worker_threads").parentPort.postMessage("started");
        await Promise.all(runs);
      })();\`;
    (async () => {
      for (let i = 0; i < 6; i++) {
        const w = new Worker(code(i % 2 === 0), { eval: true });
        await new Promise((res) => w.once("message", res));
        await new Promise((res) => setTimeout(res, 3 + i * 4));
        await w.terminate();
      }
      console.log("ok");
    })();`;
  const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", env: { ...process.env, NODE_NO_WARNINGS: "1" }, timeout: 120_000 });
  expect({ status: r.status, signal: r.signal, out: r.stdout.trim() }).toEqual({ status: 0, signal: null, out: "ok" });
});
