// Embeddings of decoder models and of encoders (bert, nomic-bert) against llama.cpp
// (goldens/embed-llamacpp.json, field "about"; regenerate with `npx tsx scripts/make-embed-goldens.ts`):
// cosine similarity >= 0.9999 per text with the pooling llama.cpp used, and a wrong pooling is far
// off (the check can fail).
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
    // Q8_0: activations quantized per row on both sides; lengths agree to 0.5 % rather than 0.05 %
    expect(Math.abs(len(raw) / len(golden.models[name][1]) - 1)).toBeLessThan(name.includes("q8") ? 0.005 : 0.0005);
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

describe("encoders (bert, nomic-bert)", () => {
  test("several texts in one forward pass give each text's vector alone, bit for bit", async () => {
    for (const name of ["bert-mean", "nomic-q8"]) {
      const m = models[name];
      const texts = [...EMBED_TEXTS, "the cat", "a dog and a kitten"];
      const together = await m.embed(texts, { normalize: false });
      const apart = await m.embed(texts, { normalize: false, batchSize: 1 });
      for (let i = 0; i < texts.length; i++) expect(Array.from(together[i])).toEqual(Array.from(apart[i]));
      const alone = await m.embed(texts[4], { normalize: false });
      expect(Array.from(together[4])).toEqual(Array.from(alone));
      // "none": one vector per token of each text, same rows as alone
      const rows = await m.embed(["a cat", "x"], { pooling: "none" });
      const dims = (m.hparams.embeddingLength ?? 0);
      expect(rows[0].length).toBe(m.tokenize("a cat", { addSpecial: true }).length * dims);
      expect(Array.from(rows[1])).toEqual(Array.from(await m.embed("x", { pooling: "none" })));
    }
  });

  test("attention is bidirectional: the first token's vector depends on later tokens", async () => {
    const m = models["bert-cls"]; // cls pooling: the [CLS] row
    const a = await m.embed("a cat sat on the mat");
    const b = await m.embed("a cat sat on the dog");
    expect(cosine(a, b)).toBeLessThan(0.9999);
    // decoders are causal: the first row does not change
    const d = models["llama-cls"];
    expect(Array.from(await d.embed("a cat sat"))).toEqual(Array.from(await d.embed("a cat ran")));
  });

  test("a text longer than the model's positions is CONTEXT_FULL; generation is UNSUPPORTED", async () => {
    const m = models["bert-cls"]; // 64 positions
    await expect(m.embed("cat ".repeat(80))).rejects.toMatchObject({ code: "CONTEXT_FULL", message: expect.stringContaining("64") });
    const ctx = await m.createContext({ contextSize: 64 });
    await expect(ctx.generate("a cat", { maxTokens: 2 }).next()).rejects.toMatchObject({ code: "UNSUPPORTED", message: expect.stringContaining("embed") });
    await ctx.close();
    // the model still embeds after both errors
    expect((await m.embed("a cat")).length).toBe(96);
  });

  test("a damaged encoder file is MODEL_INVALID naming the tensor", async () => {
    const { buildBertModel } = await import("../../scripts/gguf/bert-models");
    const file = join(dir.path, "damaged-bert.gguf");
    buildBertModel({ arch: "bert", nLayer: 1, nEmbd: 32, nHead: 2, nFf: 64, contextLength: 16, omit: ["blk.0.attn_output_norm.bias"] }).writeFile(file);
    const m = await loadModel(file);
    await expect(m.embed("a cat")).rejects.toMatchObject({ code: "MODEL_INVALID", message: expect.stringContaining("blk.0.attn_output_norm.bias") });
    await m.close();
  });

  test("ringllm embed runs a bert file", async () => {
    const file = join(dir.path, "cli-bert.gguf");
    writeEmbedModel(file, "bert-cls");
    const cli = join(ROOT, "dist", "cjs", "cli.js");
    const j = spawnSync(process.execPath, [cli, "embed", "-m", file, "--json", "a cat", "a dog"], { encoding: "utf8", env: { ...process.env, NODE_NO_WARNINGS: "1" } });
    expect(j.status).toBe(0);
    const doc = JSON.parse(j.stdout);
    expect(doc.pooling).toBe("cls");
    expect(doc.embeddings).toHaveLength(2);
    expect(doc.embeddings[0]).toHaveLength(96);
    // the same vectors model.embed gives in this process (printed as JSON numbers)
    const m = await loadModel(file);
    const [a, b] = await m.embed(["a cat", "a dog"]);
    expect(cosine(doc.embeddings[0], a)).toBeGreaterThan(0.999999);
    expect(cosine(doc.embeddings[1], b)).toBeGreaterThan(0.999999);
    await m.close();
  });
});
