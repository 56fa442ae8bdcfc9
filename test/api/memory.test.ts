// estimateMemory, createContext({ contextSize: "auto" }) and `ringllm inspect --fit`: the KV figure
// is checked against what a created context reports (stats().kvBytes: the engine's own caches)
// plus their 8-byte position tables, the weights against the file's tensor table.
import { spawnSync } from "node:child_process";
import { join } from "node:path";

import { loadModel, readGgufInfo } from "../../lib";
import { ROOT, sharedTest, STORIES } from "../helpers";

sharedTest("estimateMemory: weights are the tensor data, KV what the created context allocates, per policy", [STORIES], async () => {
  const model = await loadModel(STORIES, { gpu: false });
  const info = await readGgufInfo(STORIES);
  const tensorBytes = info.tensors.reduce((a, t) => a + t.sizeBytes, 0);
  const layers = model.hparams.blockCount!;
  for (const [options, slots] of [
    [{ contextSize: 256 }, 256],
    [{ contextSize: 1024 }, 1024],
    [{ contextSize: 1024, kv: { policy: "window" as const, window: 64 } }, 64],
    [{ contextSize: Infinity, kv: { policy: "sinks" as const, sinks: 4, recent: 60 } }, 64],
  ] as const) {
    const e = model.estimateMemory(options);
    expect(e.weights).toBe(tensorBytes);
    const ctx = await model.createContext(options);
    expect(e.kv).toBe(ctx.stats().kvBytes + layers * slots * 8);
    expect(e.total).toBe(e.weights + e.kv + e.compute);
    expect(e.compute).toBeGreaterThan(0);
    expect(e.fits).toBe(true);
    expect(e.available).toBeGreaterThan(0);
    await ctx.close();
  }
  expect(model.estimateMemory({ contextSize: 0 }).contextSize).toBe(model.hparams.contextLength);
  expect(() => model.estimateMemory({ kv: { type: "q8_0" } })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  await model.close();
});

sharedTest('contextSize "auto" takes the training context when it fits (a multiple of 256)', [STORIES], async () => {
  const model = await loadModel(STORIES, { gpu: false });
  const ctx = await model.createContext({ contextSize: "auto" });
  expect(ctx.stats().layers[0].capacity).toBe(model.hparams.contextLength);
  await ctx.close();
  await expect(model.createContext({ contextSize: "big" as never })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  await model.close();
});

sharedTest("ringllm inspect --fit prints the estimate for -c and --kv", [STORIES], () => {
  const cli = join(ROOT, "dist", "cjs", "cli.js");
  const r = spawnSync(process.execPath, [cli, "inspect", "--fit", "-c", "1024", STORIES], { encoding: "utf8" });
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/memory for a context of 1024 tokens: weights 0\.00 GiB, KV cache 0\.00 GiB, compute 0\.00 GiB, total 0\.00 GiB; available \d+\.\d\d GiB \(fits\)/);
  const j = spawnSync(process.execPath, [cli, "inspect", "--fit", "--json", "-c", "256", "--kv", "window", "--window", "32", STORIES], { encoding: "utf8" });
  const mem = JSON.parse(j.stdout).memory;
  expect(mem.contextSize).toBe(256);
  expect(mem.kv).toBe(5 * 32 * (128 + 8));
});
