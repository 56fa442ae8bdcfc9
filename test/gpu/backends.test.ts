// GPU backends end to end: every logit of a device run against the same model on the CPU (the
// reference), greedy output, ring caches across wraps, partial offload and the CPU fallbacks.
// Vulkan runs on Mesa's lavapipe (a Vulkan device that runs on the CPU; CI installs
// mesa-vulkan-drivers); CUDA only where nvidia-smi sees a GPU (skipped with the reason otherwise).
// The op-by-op tests are native (scripts/test-vulkan.sh, scripts/test-cuda.sh).
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

import { listGpus, loadModel, Model, RingllmError } from "../../lib";
import { ARCH_NAMES, ARCH_TEST_MODELS, ArchName, writeArchModel } from "../../scripts/gguf/arch-models";
import { writeLlamaModel } from "../../scripts/gguf/llama-model";
import { QuantType } from "../../scripts/gguf/quants";
import { IN_CI, normalizedDiff, ROOT, STORIES, tempDir } from "../helpers";

const ICD_DIR = "/usr/share/vulkan/icd.d";
const HAVE_LAVAPIPE = existsSync(ICD_DIR) && readdirSync(ICD_DIR).some((f) => f.startsWith("lvp_icd"));
if (!HAVE_LAVAPIPE) {
  if (IN_CI) throw new Error("CI needs Mesa's lavapipe (apt-get install mesa-vulkan-drivers) for the Vulkan tests");
  console.warn("test/gpu/vulkan.test.ts skipped: Mesa's lavapipe is not installed (apt-get install mesa-vulkan-drivers)");
}
const gpuDescribe = HAVE_LAVAPIPE ? describe : describe.skip;
const HAVE_NVIDIA = spawnSync("nvidia-smi", ["-L"], { encoding: "utf8" }).status === 0;
if (!HAVE_NVIDIA) console.warn("test/gpu: the CUDA end-to-end tests are skipped: nvidia-smi sees no GPU here");
// the backends the parity tests run on, and how to reach each one's device
const BACKENDS = [
  { gpu: "vulkan" as const, gpuDevice: "llvmpipe", type: "cpu", run: HAVE_LAVAPIPE },
  { gpu: "cuda" as const, gpuDevice: undefined, type: "discrete", run: HAVE_NVIDIA },
].filter((b) => b.run);
let backend = BACKENDS[0];

let dir: { path: string; cleanup(): void };
beforeAll(() => { dir = tempDir("ringllm-gpu-"); });
afterAll(() => dir.cleanup());

/** Loads `path` twice: on the CPU, and offloaded to the backend under test. */
async function pair(path: string, gpuLayers: number | "max" = "max"): Promise<[Model, Model]> {
  return [await loadModel(path, { gpu: false }), await loadModel(path, { gpu: backend.gpu, gpuDevice: backend.gpuDevice, gpuLayers })];
}

async function allLogits(model: Model, tokens: number[], options: Parameters<Model["createContext"]>[0] = {}): Promise<Float32Array> {
  const ctx = await model.createContext({ contextSize: 128, ...options });
  try {
    return await ctx.decode(tokens, { logits: "all" });
  } finally {
    await ctx.close();
  }
}

gpuDescribe("device choice", () => {
  test("listGpus() reports lavapipe as a CPU-type Vulkan device", async () => {
    const { devices } = await listGpus();
    const lvp = devices.find((d) => d.name.startsWith("llvmpipe"));
    expect(lvp).toMatchObject({ backend: "vulkan", type: "cpu" });
    expect(lvp!.memory).toBeGreaterThan(0);
  });

  test('gpu "auto" never picks a CPU-type device: the model runs on the CPU and says why', async () => {
    const model = await loadModel(STORIES);
    expect(model.gpu).toBeNull();
    expect(model.gpuNote).toMatch(/no GPU found through Vulkan; only llvmpipe/);
    const ctx = await model.createContext();
    expect(ctx.stats()).toMatchObject({ gpuLayers: 0, deviceBytes: 0, gpuNote: null });
    await model.close();
  });

  test('gpu "vulkan" without a GPU is GPU_UNAVAILABLE saying how to name one', async () => {
    await expect(loadModel(STORIES, { gpu: "vulkan" })).rejects.toMatchObject({ code: "GPU_UNAVAILABLE", message: expect.stringMatching(/gpuDevice or RINGLLM_VULKAN_DEVICE/) });
    await expect(loadModel(STORIES, { gpu: "vulkan", gpuDevice: "no-such-device" })).rejects.toMatchObject({
      code: "GPU_UNAVAILABLE", message: expect.stringMatching(/no-such-device.*llvmpipe/),
    });
    const { devices } = await listGpus();
    const byIndex = await loadModel(STORIES, { gpu: "vulkan", gpuDevice: devices.findIndex((d) => d.name.startsWith("llvmpipe")) });
    expect(byIndex.gpu?.device).toMatch(/^llvmpipe/);
    await byIndex.close();
  });

  test('gpu "cuda" without an NVIDIA GPU is GPU_UNAVAILABLE saying what is missing', async () => {
    if (HAVE_NVIDIA) return;  // the CUDA parity tests below run instead
    await expect(loadModel(STORIES, { gpu: "cuda" })).rejects.toMatchObject({ code: "GPU_UNAVAILABLE", message: expect.stringMatching(/CUDA/) });
  });

  test("RINGLLM_VULKAN_DEVICE lets the default load use the named device; RINGLLM_GPU=off turns the default off", () => {
    const script = `const r = require(${JSON.stringify(join(ROOT, "dist", "cjs", "index.js"))});
      r.loadModel(${JSON.stringify(STORIES)}).then((m) => console.log(JSON.stringify({ gpu: m.gpu && m.gpu.device, note: m.gpuNote })));`;
    const child = (env: Record<string, string>) => {
      const res = spawnSync(process.execPath, ["-e", script], { env: { ...process.env, ...env }, encoding: "utf8" });
      expect(res.stderr).toBe("");
      return JSON.parse(res.stdout);
    };
    expect(child({ RINGLLM_VULKAN_DEVICE: "llvmpipe" })).toEqual({ gpu: expect.stringMatching(/^llvmpipe/), note: null });
    expect(child({ RINGLLM_VULKAN_DEVICE: "llvmpipe", RINGLLM_GPU: "off" })).toEqual({ gpu: null, note: null });
  }, 30_000);

  test("bad gpu options are INVALID_ARGUMENT", async () => {
    for (const opts of [{ gpu: "metal" }, { gpu: true }, { gpuLayers: -1 }, { gpuLayers: 1.5 }, { gpuLayers: "all" }, { gpuDevice: -1 }]) {
      await expect(loadModel(STORIES, opts as never)).rejects.toBeInstanceOf(RingllmError);
      await expect(loadModel(STORIES, opts as never)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    }
  });
});

// A process whose Vulkan loader finds no driver (as on a machine without a GPU driver): the
// default load runs on the CPU, listGpus() says why, an explicit request is GPU_UNAVAILABLE.
test("without a Vulkan driver everything runs on the CPU and says why", () => {
  const script = `const r = require(${JSON.stringify(join(ROOT, "dist", "cjs", "index.js"))});
    (async () => {
      const list = await r.listGpus();
      const m = await r.loadModel(${JSON.stringify(STORIES)});
      const ctx = await m.createContext();
      let text = "";
      for await (const c of ctx.generate("Once upon a time", { maxTokens: 8, temperature: 0 })) text += c.text;
      let code = "";
      try { await r.loadModel(${JSON.stringify(STORIES)}, { gpu: "vulkan" }); } catch (e) { code = e.code; }
      console.log(JSON.stringify({ list, gpu: m.gpu, note: m.gpuNote, text, code }));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const env: NodeJS.ProcessEnv = { ...process.env, VK_ICD_FILENAMES: "/nonexistent.json", VK_DRIVER_FILES: "/nonexistent.json" };
  delete env.RINGLLM_VULKAN_DEVICE;
  const r = spawnSync(process.execPath, ["-e", script], { env, encoding: "utf8" });
  expect(r.stderr).toBe("");
  const out = JSON.parse(r.stdout);
  expect(out.list.devices).toEqual([]);
  expect(out.list.errors).toMatch(/^vulkan: /);
  expect(out.gpu).toBeNull();
  expect(out.note).toMatch(/Vulkan/);
  expect(out.text.length).toBeGreaterThan(0);
  expect(out.code).toBe("GPU_UNAVAILABLE");
}, 30_000);

describe.each(BACKENDS.map((b) => [b.gpu, b]))("%s", (_name, b) => {
  beforeAll(() => { backend = b; });

describe("stories260K", () => {
  test("every layer on the device: logits within 1e-4 of the CPU's, 100 greedy tokens identical", async () => {
    const [cpu, gpu] = await pair(STORIES);
    expect(gpu.gpu).toMatchObject({ backend: backend.gpu, type: backend.type, layers: 5, output: true });
    expect(gpu.gpu!.bytes).toBeGreaterThan(0);
    const tokens = Array.from(cpu.tokenize("Once upon a time, there was a little girl named Lily. She loved"));
    // measured 2.6e-5: f32 on both sides, sums in another order (the KV cache is f16 on both)
    expect(normalizedDiff(await allLogits(gpu, tokens), await allLogits(cpu, tokens))).toBeLessThan(1e-4);

    const greedy = async (m: Model) => {
      const ctx = await m.createContext({ contextSize: 256 });
      const out: number[] = [];
      for await (const c of ctx.generate("Once upon a time", { maxTokens: 100, temperature: 0 })) out.push(c.token);
      const stats = ctx.stats();
      await ctx.close();
      return { out, stats };
    };
    const a = await greedy(cpu), b = await greedy(gpu);
    expect(b.out).toEqual(a.out);
    expect(a.out.length).toBe(100);
    expect(b.stats).toMatchObject({ gpuLayers: 5, gpuNote: null });
    expect(b.stats.deviceBytes).toBeGreaterThan(0);
    expect(b.stats.layers.every((l) => l.held === a.stats.layers[0].held)).toBe(true);
    await cpu.close();
    await gpu.close();
  }, 120_000);

  test.each([
    ["window 12", { policy: "window" as const, window: 12 }, 12],
    ["sinks 3 + recent 9", { policy: "sinks" as const, sinks: 3, recent: 9 }, 12],
  ])("%s across ring wraps, token by token and in chunks: logits follow the CPU's", async (_name, kv, held) => {
    const [cpu, gpu] = await pair(STORIES);
    const tokens = Array.from(cpu.tokenize("One day, Lily went to the park with her mom. They saw a big dog and a small cat. The sun was warm and the birds sang.")).slice(0, 40);
    for (const batchSize of [1, 7]) {
      const opts = { contextSize: 128, batchSize, kv };
      const c = await cpu.createContext(opts), g = await gpu.createContext(opts);
      let worst = 0;
      for (let i = 0; i < tokens.length; i += 10) {
        const chunk = tokens.slice(i, i + 10);
        worst = Math.max(worst, normalizedDiff(await g.decode(chunk, { logits: "all" }), await c.decode(chunk, { logits: "all" })));
      }
      // sums in another order grow with the position on this 5-layer model: measured up to 3.1e-5
      // (window) and 4.1e-4 (sinks; the full cache on the same 40 tokens: 1.5e-4); a key in the
      // wrong slot or a wrong rotation moves logits by more than 1e-2
      expect(worst).toBeLessThan(1e-3);
      expect(g.stats()).toMatchObject({ gpuLayers: 5, gpuNote: null });
      expect(g.stats().layers[0].held).toBe(held);
      // evicted: the ring cannot go back (as on the CPU)
      await expect(g.truncate(20)).rejects.toMatchObject({ code: "CONTEXT_REWIND" });
      await c.close();
      await g.close();
    }
    await cpu.close();
    await gpu.close();
  }, 120_000);

  test("partial offload: the last 2 of 5 layers on the device", async () => {
    const [cpu, gpu] = await pair(STORIES, 2);
    expect(gpu.gpu).toMatchObject({ layers: 2, output: false });
    const tokens = Array.from(cpu.tokenize("The little dog ran to the tree"));
    expect(normalizedDiff(await allLogits(gpu, tokens), await allLogits(cpu, tokens))).toBeLessThan(1e-4);
    const ctx = await gpu.createContext();
    await ctx.decode(tokens);
    expect(ctx.stats().gpuLayers).toBe(2);
    await ctx.close();
    await cpu.close();
    await gpu.close();
  }, 60_000);

  test("KV options the device lacks run on the CPU (bit for bit) and say why", async () => {
    const [cpu, gpu] = await pair(STORIES);
    const tokens = Array.from(cpu.tokenize("Tim had a red ball"));
    for (const kv of [{ policy: "h2o" as const }]) {
      const want = await allLogits(cpu, tokens, { kv });
      const ctx = await gpu.createContext({ contextSize: 128, kv });
      expect(await ctx.decode(tokens, { logits: "all" })).toEqual(want);
      expect(ctx.stats()).toMatchObject({ gpuLayers: 0, deviceBytes: 0, gpuNote: expect.stringMatching(/runs on the CPU/) });
      await ctx.close();
    }
    await cpu.close();
    await gpu.close();
  }, 60_000);

  test.each([
    ["full", { policy: "full" as const }],
    ["window 12 after wrapping", { policy: "window" as const, window: 12 }],
    ["sinks 2 + recent 6 after wrapping", { policy: "sinks" as const, sinks: 2, recent: 6 }],
  ])("saved states (%s): device to device continues bit for bit; device and CPU states are interchangeable", async (_n, kv) => {
    const [cpu, gpu] = await pair(STORIES);
    const tokens = Array.from(cpu.tokenize("Tim had a red ball. He liked to throw it high in the sky every day."));
    const head = tokens.slice(0, 20), tail = tokens.slice(20, 26);
    const opts = { contextSize: 128, kv };
    const g = await gpu.createContext(opts);
    await g.decode(head);
    const state = (await g.saveState()) as Buffer;
    const want = await g.decode(tail, { logits: "all" });
    // into another device context: the same continuation, bit for bit
    const g2 = await gpu.createContext(opts);
    await g2.loadState(state);
    expect(await g2.decode(tail, { logits: "all" })).toEqual(want);
    // into a CPU context, and a CPU context's state into a device context: within the CPU/device bound
    const c = await cpu.createContext(opts);
    await c.loadState(state);
    const fromCpu = await c.decode(tail, { logits: "all" });
    expect(normalizedDiff(fromCpu, want)).toBeLessThan(1e-3);
    const c2 = await cpu.createContext(opts);
    await c2.decode(head);
    const g3 = await gpu.createContext(opts);
    await g3.loadState((await c2.saveState()) as Buffer);
    expect(normalizedDiff(await g3.decode(tail, { logits: "all" }), await c2.decode(tail, { logits: "all" }))).toBeLessThan(1e-3);
    for (const x of [g, g2, c, c2, g3]) await x.close();
    await cpu.close();
    await gpu.close();
  }, 60_000);
});

describe("weight types and architectures", () => {
  const TOKENS = [1, 43, 286, 103, 170, 470, 44, 383, 12, 99, 400, 7, 300, 201, 55, 66];
  const SHAPE = { seed: 1, nLayer: 2, nEmbd: 256, nHead: 4, nHeadKv: 2, nFf: 512, nVocab: 512, contextLength: 256 };
  // The reference is the CPU on the model's F32 twin (every matrix rounded through the type's
  // quantizer), compared on the last layer's normed output (embed, pooling "none"): the device
  // multiplies in f32 as the CPU does with F32 weights, while the CPU's quantized dots round the
  // activations to 8 bits (1-2% of the largest logit on this model). Types without a shader of
  // their own go up as F16, which rounds the dequantized weights once more.
  // Measured: 0.5-1.6e-5 with a shader of the type's own, 3.2e-4 through F16 (Q5_0).
  const TYPES: [QuantType, number][] = [
    ["F32", 1e-4], ["F16", 1e-4], ["Q8_0", 1e-4], ["Q4_0", 1e-4], ["Q4_K", 1e-4], ["Q5_K", 1e-4], ["Q6_K", 1e-4], ["Q5_0", 1e-3],
  ];
  test.each(TYPES)("%s: a 2-layer llama's last-layer output within the bound of the CPU's on its F32 twin", async (type, bound) => {
    const path = join(dir.path, `llama-${type}.gguf`), twin = join(dir.path, `llama-${type}-f32.gguf`);
    writeLlamaModel(path, { ...SHAPE, weightType: type });
    writeLlamaModel(twin, { ...SHAPE, simulateType: type });
    const cpu = await loadModel(twin, { gpu: false });
    const gpu = await loadModel(path, { gpu: backend.gpu, gpuDevice: backend.gpuDevice });
    const text = "the quick brown fox jumps over the lazy dog again and again";
    const hidden = (m: Model) => m.embed(text, { pooling: "none", normalize: false }) as Promise<Float32Array>;
    const d = normalizedDiff(await hidden(gpu), await hidden(cpu));
    expect(d).toBeLessThan(bound);
    if (type === "F32") {
      // q8_0 rows on the device (both sides round K and V alike; measured 1.3e-5)
      const kv = { type: "q8_0" as const };
      const q8 = normalizedDiff(await allLogits(gpu, TOKENS, { kv }), await allLogits(cpu, TOKENS, { kv }));
      expect(q8).toBeLessThan(1e-4);
      // a KV type the device does not keep: that context runs on the CPU
      const ctx = await gpu.createContext({ kv: { type: "q4_0" } });
      expect(ctx.stats()).toMatchObject({ gpuLayers: 0, gpuNote: expect.stringMatching(/kv.type "q4_0" runs on the CPU/) });
      await ctx.close();
    }
    await cpu.close();
    await gpu.close();
  }, 60_000);

  test.each(ARCH_NAMES.map((a) => [a]))("%s: every logit within 1e-4 of the CPU's (past its window)", async (arch: ArchName) => {
    const path = join(dir.path, `${arch}.gguf`);
    writeArchModel(path, ARCH_TEST_MODELS[arch]);
    const [cpu, gpu] = await pair(path);
    const tokens = Array.from({ length: 20 }, (_, i) => 3 + ((i * 37) % 300));
    expect(normalizedDiff(await allLogits(gpu, tokens), await allLogits(cpu, tokens))).toBeLessThan(1e-4);
    await cpu.close();
    await gpu.close();
  }, 60_000);
});
});
