// Embeddings of decoder models against llama.cpp (goldens/embed-llamacpp.json, field "about";
// regenerate with `npx tsx scripts/make-embed-goldens.ts`): cosine similarity >= 0.9999 per text
// with the pooling llama.cpp used, and a wrong pooling is far off (the check can fail).
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { loadModel, type Model, RingllmError, setLogger } from "../../lib/index";
import { EMBED_MODELS, EMBED_TEXTS, writeEmbedModel } from "../../scripts/gguf/embed-models";
import { ROOT, tempDir } from "../helpers";

const golden = require("./goldens/embed-llamacpp.json") as { texts: string[]; models: Record<string, number[][]> };

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return d / Math.sqrt(na * nb);
}

let dir: { path: string; cleanup(): void };
const models: Record<string, Model> = {};
beforeAll(async () => {
  setLogger(null);
  dir = tempDir("ringllm-embed-");
  for (const name of Object.keys(EMBED_MODELS)) {
    const file = join(dir.path, `${name}.gguf`);
    writeEmbedModel(file, name);
    models[name] = await loadModel(file);
  }
});
afterAll(async () => {
  for (const m of Object.values(models)) await m.close();
  dir.cleanup();
});

test("the goldens are for these texts", () => expect(golden.texts).toEqual(EMBED_TEXTS));

describe.each(Object.keys(EMBED_MODELS).map((n) => [n]))("%s", (name) => {
  test("cosine similarity with llama.cpp >= 0.9999 for every text; another pooling is far off", async () => {
    const { ours } = EMBED_MODELS[name];
    const vectors = await models[name].embed(EMBED_TEXTS, { pooling: ours });
    vectors.forEach((v, i) => expect({ i, cos: cosine(v, golden.models[name][i]) >= 0.9999 }).toEqual({ i, cos: true }));
    const other = ours === "mean" ? "last" : "mean";
    const wrong = await models[name].embed(EMBED_TEXTS, { pooling: other });
    expect(Math.min(...wrong.map((v, i) => cosine(v, golden.models[name][i])))).toBeLessThan(0.99);
  });

  test("raw vectors (normalize: false) have llama.cpp's length; default vectors have length 1", async () => {
    const { ours } = EMBED_MODELS[name];
    const raw = await models[name].embed(EMBED_TEXTS[1], { pooling: ours, normalize: false });
    const len = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));
    expect(len(raw) / len(golden.models[name][1])).toBeCloseTo(1, 3);
    expect(len(await models[name].embed(EMBED_TEXTS[1], { pooling: ours }))).toBeCloseTo(1, 5);
  });
});

test("default pooling is the file's pooling_type, else mean; none gives one vector per token", async () => {
  const mean = models["llama-mean"], cls = models["llama-cls"], last = models["llama-last"];
  expect(Array.from(await mean.embed("a b c"))).toEqual(Array.from(await mean.embed("a b c", { pooling: "mean" })));
  expect(Array.from(await cls.embed("a b c"))).toEqual(Array.from(await cls.embed("a b c", { pooling: "cls" })));
  expect(Array.from(await last.embed("a b c"))).toEqual(Array.from(await last.embed("a b c", { pooling: "mean" })));
  const n = last.tokenize("a b c", { addSpecial: true }).length;
  const all = await last.embed("a b c", { pooling: "none" });
  expect(all.length).toBe(n * 64);
  // the last token's row of "none" is the "last" pooling (both raw)
  const lastRaw = await last.embed("a b c", { pooling: "last", normalize: false });
  expect(Array.from(all.slice((n - 1) * 64))).toEqual(Array.from(lastRaw));
  // a batch equals the texts one by one; a long text runs in several chunks
  const batch = await mean.embed(["one", "two three"]);
  expect(Array.from(batch[1])).toEqual(Array.from(await mean.embed("two three")));
  const long = "word ".repeat(300);
  const chunked = await mean.embed(long, { batchSize: 64 });
  expect(cosine(chunked, await mean.embed(long, { batchSize: 512 }))).toBeGreaterThan(0.99999);
});

test("bad input is INVALID_ARGUMENT", async () => {
  const m = models["llama-mean"];
  await expect(m.embed(42 as unknown as string)).rejects.toBeInstanceOf(RingllmError);
  await expect(m.embed(["ok", null as unknown as string])).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  await expect(m.embed("x", { pooling: "max" as "mean" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
});

test("ringllm embed prints one vector per text, or JSON", () => {
  const file = join(dir.path, "cli.gguf");
  writeEmbedModel(file, "llama-mean");
  const cli = join(ROOT, "dist", "cjs", "cli.js");
  const r = spawnSync(process.execPath, [cli, "embed", "-m", file, "a cat", "a dog"], { encoding: "utf8", env: { ...process.env, NODE_NO_WARNINGS: "1" } });
  expect(r.status).toBe(0);
  const lines = r.stdout.trim().split("\n");
  expect(lines).toHaveLength(2);
  expect(lines[0].split(" ")).toHaveLength(96);
  const j = spawnSync(process.execPath, [cli, "embed", "-m", file, "--json", "--pooling", "last", "a cat"], { encoding: "utf8", env: { ...process.env, NODE_NO_WARNINGS: "1" } });
  const doc = JSON.parse(j.stdout);
  expect(doc.dimensions).toBe(96);
  expect(doc.pooling).toBe("last");
  expect(doc.embeddings[0]).toHaveLength(96);
});
