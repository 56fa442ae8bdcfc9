// createContext's kv options and contextSize: bounded policies accept contextSize Infinity, unbounded
// ones fill up with CONTEXT_FULL, and every bad option is INVALID_ARGUMENT naming what was wrong.
import { Model } from "../../lib";
import { tempDir } from "../helpers";
import { makeModel, randomTokens } from "./fixtures";

let dir: { path: string; cleanup(): void };
let plain: Model; // no trained window, head_dim 8
let windowed: Model; // every layer slides, W = 8
let mixed: Model; // layers 0, 2 slide; 1, 3 are global
beforeAll(async () => {
  dir = tempDir("ringllm-kvopts-");
  plain = (await makeModel(dir.path, "plain", { nLayer: 2, seed: 61 })).model;
  windowed = (await makeModel(dir.path, "windowed", { nLayer: 2, slidingWindow: 8, seed: 62 })).model;
  mixed = (await makeModel(dir.path, "mixed", { nLayer: 4, slidingWindow: 8, slidingWindowPattern: 2, seed: 63 })).model;
});
afterAll(async () => {
  await Promise.all([plain, windowed, mixed].map((m) => m?.close()));
  dir.cleanup();
});

const invalid = (message?: RegExp) =>
  expect.objectContaining({ code: "INVALID_ARGUMENT", ...(message ? { message: expect.stringMatching(message) } : {}) });

test("contextSize Infinity is accepted by window, sinks and h2o, and by auto when every layer slides", async () => {
  for (const kv of [{ policy: "window" as const, window: 4 }, { policy: "sinks" as const, recent: 4 }, { policy: "h2o" as const, heavy: 2, recent: 2 }]) {
    const ctx = await plain.createContext({ contextSize: Infinity, kv });
    await ctx.decode(randomTokens(40, 300, 1));
    expect(ctx.position).toBe(40);
    await ctx.close();
  }
  const auto = await windowed.createContext({ contextSize: Infinity });
  await auto.decode(randomTokens(40, 300, 2));
  expect(auto.stats().layers.map((l) => l.policy)).toEqual(["window", "window"]);
  await auto.close();
});

test("contextSize Infinity is INVALID_ARGUMENT with full, and with auto when a layer is global", async () => {
  await expect(plain.createContext({ contextSize: Infinity, kv: { policy: "full" } })).rejects.toEqual(invalid(/contextSize/));
  await expect(plain.createContext({ contextSize: Infinity })).rejects.toEqual(invalid(/contextSize/));
  await expect(windowed.createContext({ contextSize: Infinity, kv: { policy: "full" } })).rejects.toEqual(invalid(/contextSize/));
  await expect(mixed.createContext({ contextSize: Infinity })).rejects.toEqual(invalid(/contextSize/));
});

test("auto and full fill up: CONTEXT_FULL past contextSize tokens", async () => {
  for (const [model, kv] of [[plain, undefined], [plain, { policy: "full" as const }], [windowed, { policy: "full" as const }], [mixed, undefined]] as const) {
    const ctx = await model.createContext({ contextSize: 16, kv });
    await ctx.decode(randomTokens(16, 300, 3));
    await expect(ctx.decode([5])).rejects.toMatchObject({ code: "CONTEXT_FULL" });
    await ctx.close();
  }
  // a model whose every layer slides never fills under auto
  const ring = await windowed.createContext({ contextSize: 16 });
  await ring.decode(randomTokens(40, 300, 4));
  expect(ring.position).toBe(40);
  await ring.close();
});

test.each([
  ["unknown policy", { policy: "lru" }, /policy/],
  ["window 0", { policy: "window", window: 0 }, /window/],
  ["fractional window", { policy: "window", window: 2.5 }, /window/],
  ["negative sinks", { policy: "sinks", sinks: -1, recent: 4 }, /sinks/],
  ["recent 0 with sinks", { policy: "sinks", sinks: 4, recent: 0 }, /recent/],
  ["negative heavy", { policy: "h2o", heavy: -2, recent: 4 }, /heavy/],
  ["unknown type", { type: "q5_0" }, /type/],
  ["quantized type with head_dim 8", { type: "q8_0" }, /head_dim|32/],
  ["q4_0 with head_dim 8", { type: "q4_0" }, /head_dim|32/],
  ["unknown kv option", { policy: "window", window: 4, windw: 4 }, /windw/],
  ["kv not an object", "window", /kv/],
])("%s is INVALID_ARGUMENT with a message naming it", async (_label, kv, message) => {
  await expect(plain.createContext({ contextSize: 32, kv: kv as never })).rejects.toEqual(invalid(message));
});

test("window without a trained window defaults to min(contextSize, trained context)", async () => {
  const a = await plain.createContext({ contextSize: 32, kv: { policy: "window" } });
  expect(a.stats().layers[0]).toMatchObject({ policy: "window", window: 32, capacity: 32 });
  const b = await plain.createContext({ contextSize: Infinity, kv: { policy: "window" } });
  expect(b.stats().layers[0]).toMatchObject({ policy: "window", window: 256 });
  const c = await windowed.createContext({ contextSize: 32, kv: { policy: "window" } });
  expect(c.stats().layers[0]).toMatchObject({ policy: "window", window: 8 });
  await Promise.all([a.close(), b.close(), c.close()]);
});

test("contextSize must be a positive integer or Infinity", async () => {
  for (const contextSize of [-1, 1.5, NaN, -Infinity]) {
    await expect(plain.createContext({ contextSize, kv: { policy: "window", window: 4 } })).rejects.toEqual(invalid(/contextSize/));
  }
});

test("kvSlots checks its layer and KV head; stats and kvSlots on a closed context are CONTEXT_CLOSED", async () => {
  const ctx = await plain.createContext({ contextSize: 32 });
  expect(ctx.kvSlots(1, 1).positions).toHaveLength(32);
  expect(() => ctx.kvSlots(2)).toThrow(invalid(/layer/));
  expect(() => ctx.kvSlots(-1)).toThrow(invalid(/layer/));
  expect(() => ctx.kvSlots(0, 2)).toThrow(invalid(/kvHead|head/));
  expect(() => ctx.kvSlots(0.5)).toThrow(invalid());
  await ctx.close();
  expect(() => ctx.stats()).toThrow(expect.objectContaining({ code: "CONTEXT_CLOSED" }));
  expect(() => ctx.kvSlots(0)).toThrow(expect.objectContaining({ code: "CONTEXT_CLOSED" }));
});
