// Grammar-constrained generation: the grammar's own work per token on a 32,000-token vocabulary,
// and constrained against unconstrained tokens/s on stories260K (alternated, repeated).
//
//   node bench/grammar.mjs [--steps 3000] [--repeats 5] [--json out.json]
//
// 1. Grammar work: the real Llama 2 vocabulary (../shared/vocab/ggml-vocab-llama-spm.gguf, 32,000
//    tokens) under a JSON-schema grammar. A seeded walk picks one allowed token per step (uniformly,
//    which visits far more grammar states than a model does) and times mask() + accept() per step:
//    the work added to each sampled token. Median, p90, mean and the cold first step.
// 2. End to end: stories260K (0.1 ms per token, where grammar work shows) generating with
//    temperature 0.8 with and without the schema, alternated.
import { existsSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { median } from "./common.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const r = require(join(ROOT, "dist", "cjs", "index.js"));
r.setLogger(null);

const { values: args } = parseArgs({ options: { steps: { type: "string", default: "3000" }, repeats: { type: "string", default: "5" }, json: { type: "string" } } });
const STEPS = Number(args.steps);
const REPEATS = Number(args.repeats);
const VOCAB = join(ROOT, "..", "shared", "vocab", "ggml-vocab-llama-spm.gguf");
const STORIES = join(ROOT, "..", "shared", "models", "stories260K.gguf");

const schema = {
  type: "object",
  properties: {
    name: { type: "string", maxLength: 40 },
    age: { type: "integer", minimum: 0, maximum: 150 },
    email: { type: "string", maxLength: 60 },
    address: { type: "object", properties: { street: { type: "string" }, city: { type: "string" }, zip: { type: "string", pattern: "^[0-9]{5}$" } }, required: ["city"] },
    tags: { type: "array", items: { type: "string", maxLength: 20 }, maxItems: 5 },
    active: { type: "boolean" },
  },
  required: ["name", "age"],
};

function xorshift(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

async function grammarWork() {
  if (!existsSync(VOCAB)) return { skipped: `${VOCAB} not found` };
  const model = await r.loadModel(VOCAB, { vocabOnly: true });
  const grammar = r.Grammar.fromJsonSchema(schema);
  const eos = model.vocab.eos;
  const rand = xorshift(42);
  const times = [];
  let matcher = grammar.matcher(model, model, [eos]);
  let cold = null;
  let docs = 0;
  for (let step = 0; step < STEPS; step++) {
    const t0 = performance.now();
    const mask = matcher.mask();
    // pick a uniformly random allowed token (timed apart: it is the sampler's job, not the grammar's)
    const t1 = performance.now();
    const allowed = [];
    for (let w = 0; w < mask.length; w++) for (let m = mask[w]; m; m &= m - 1) allowed.push(w * 32 + (31 - Math.clz32(m & -m)));
    const token = allowed[Math.floor(rand() * allowed.length)];
    const t2 = performance.now();
    const ok = token === eos || matcher.accept(token);
    const t3 = performance.now();
    if (!ok) throw new Error(`grammar rejected token ${token} it allowed`);
    const ms = t1 - t0 + (t3 - t2);
    if (cold === null) cold = ms;
    times.push(ms);
    if (token === eos || matcher.finished) {
      docs++;
      matcher = grammar.matcher(model, model, [eos]);
    }
  }
  await model.close();
  const sorted = [...times].sort((a, b) => a - b);
  return {
    vocab: "llama-spm (32,000 tokens)",
    steps: STEPS,
    documents: docs,
    medianMs: median(times),
    p90Ms: sorted[Math.floor(sorted.length * 0.9)],
    meanMs: times.reduce((a, b) => a + b, 0) / times.length,
    coldMs: cold,
  };
}

async function endToEnd() {
  if (!existsSync(STORIES)) return { skipped: `${STORIES} not found` };
  const model = await r.loadModel(STORIES);
  const ctx = await model.createContext({ threads: 1, contextSize: 2048 });
  const grammar = r.Grammar.fromJsonSchema(schema);
  const run = async (constrained, seed) => {
    await ctx.reset();
    let n = 0;
    const t0 = performance.now();
    for await (const _ of ctx.generate("Once upon a time", { temperature: 0.8, seed, maxTokens: 400, ...(constrained ? { grammar } : {}) })) n++;
    return { n, tokPerS: n / ((performance.now() - t0) / 1000) };
  };
  await run(false, 1); // warm-up
  await run(true, 1);
  const free = [], bound = [];
  for (let i = 0; i < REPEATS; i++) {
    free.push((await run(false, 100 + i)).tokPerS);
    bound.push((await run(true, 100 + i)).tokPerS);
  }
  await model.close();
  return {
    model: "stories260K, 1 thread, temperature 0.8, prompt 'Once upon a time', up to 400 tokens",
    unconstrainedTokPerS: median(free),
    constrainedTokPerS: median(bound),
    ratio: median(bound) / median(free),
    runs: { unconstrained: free, constrained: bound },
  };
}

const report = { grammarWork: await grammarWork(), endToEnd: await endToEnd() };
console.log(JSON.stringify(report, null, 2));
const out = args.json;
if (out) writeFileSync(out, JSON.stringify(report, null, 2) + "\n");
