// Smoke test of an installed ringllm package (scripts/test-prebuilds.sh copies this file into an
// empty project where the packed tarball was installed, and runs it with each Node binary):
// the addon must come from prebuilds/, the embedded model loads, tokenizes, generates 20 greedy
// tokens, a worker thread does the same, and a bad file is a RingllmError (a C++ exception thrown
// and caught inside the addon: the unwinder works). Prints one JSON line; exits non-zero on failure.
"use strict";
const { Worker } = require("node:worker_threads");
const { copyFileSync, unlinkSync, writeFileSync } = require("node:fs");
const { dirname, join } = require("node:path");
const os = require("node:os");

const PROMPT = "Once upon a time";

async function greedy(r) {
  const model = await r.loadModel();
  const prompt = Array.from(model.tokenize(PROMPT, { addSpecial: true }));
  const ctx = await model.createContext({ contextSize: 256 });
  const tokens = [];
  let text = "";
  for await (const t of ctx.generate(PROMPT, { maxTokens: 20, temperature: 0 })) {
    tokens.push(t.token);
    text += t.text;
  }
  await ctx.close();
  await model.close();
  return { prompt, tokens, text };
}

if (process.env.RINGLLM_SMOKE_WORKER) {
  const { parentPort } = require("node:worker_threads");
  greedy(require("ringllm")).then(
    (out) => parentPort.postMessage(out),
    (err) => parentPort.postMessage({ error: String(err && err.stack) }),
  );
} else {
  (async () => {
    const r = require("ringllm");
    const addon = require(join(dirname(require.resolve("ringllm/package.json")), "dist/cjs/native.js")).nativePath();
    // RINGLLM_SMOKE_FROM=source: the install built the addon (build/Release) instead
    const want = process.env.RINGLLM_SMOKE_FROM === "source"
      ? join("build", "Release", "ringllm.node")
      : join("prebuilds", `${process.platform}-${process.arch}`, "ringllm.node");
    if (!addon.endsWith(want)) throw new Error(`the addon came from ${addon}, not the package's ${want}`);
    const main = await greedy(r);
    if (main.tokens.length !== 20) throw new Error(`generated ${main.tokens.length} tokens, not 20`);
    const worker = await new Promise((resolve, reject) => {
      const w = new Worker(__filename, { env: { ...process.env, RINGLLM_SMOKE_WORKER: "1" } });
      let msg;
      w.on("message", (m) => { msg = m; });
      w.on("error", reject);
      w.on("exit", (code) => (code === 0 && msg ? resolve(msg) : reject(new Error(`worker exited with ${code}`))));
    });
    if (worker.error) throw new Error(`worker: ${worker.error}`);
    if (JSON.stringify(worker.tokens) !== JSON.stringify(main.tokens))
      throw new Error(`worker tokens ${worker.tokens} differ from the main thread's ${main.tokens}`);
    // a UTF-8 path with non-ASCII characters (Windows: opened as UTF-16)
    const copy = join(os.tmpdir(), `ringllm-smoke-\u00fc\u4e2d-${process.pid}.gguf`);
    copyFileSync(r.defaultModelPath(), copy);
    try {
      const m = await r.loadModel(copy);
      const t = Array.from(m.tokenize(PROMPT, { addSpecial: true }));
      await m.close();
      if (JSON.stringify(t) !== JSON.stringify(main.prompt)) throw new Error("the model at a non-ASCII path tokenizes differently");
    } finally {
      unlinkSync(copy);
    }
    const bad = join(os.tmpdir(), `ringllm-smoke-bad-${process.pid}.gguf`);
    writeFileSync(bad, Buffer.from("this is not a GGUF file, just text"));
    let code = "no error";
    try {
      await r.loadModel(bad);
    } catch (err) {
      code = err instanceof r.RingllmError ? err.code : `not a RingllmError: ${err}`;
    }
    if (code !== "GGUF_BAD_MAGIC") throw new Error(`a bad file gave ${code}, not GGUF_BAD_MAGIC`);
    // the GPU backends load their drivers at run time: whatever is there, listing them must not fail
    const gpus = await r.listGpus();
    const info = r.systemInfo();
    console.log(JSON.stringify({
      node: process.version, platform: process.platform, arch: process.arch, kernels: info.kernels,
      tiers: info.kernelTiers, threads: info.threads, dotprod: !!info.cpu.dotprod,
      gpus: gpus.devices.map((d) => `${d.backend}: ${d.name}`), gpuErrors: gpus.errors, prompt: main.prompt, tokens: main.tokens, text: main.text,
    }));
  })().catch((err) => {
    console.error(`smoke test failed: ${err && err.stack}`);
    process.exit(1);
  });
}
