// Generated models and token streams shared by the KV-policy tests.
import { join } from "node:path";

import { Context, loadModel, Model } from "../../lib";
import { LlamaModelOptions, writeLlamaModel } from "../../scripts/gguf/llama-model";
import { rng, tempDir } from "../helpers";
import { loadRefModel, RefModel } from "./reference";

// Engine logits vs the reference, as max |diff| / max |logit| per row (logits reach ~14 here).
// Measured on 2-3 layer models, 40-60 tokens: reference in doubles 2.8e-4 .. 7.2e-4 (the engine
// keeps K/V in f16); reference with K/V rounded to f16 like the engine 2.3e-7 .. 1.1e-4.
export const TOL_F64 = 3e-3;
export const TOL_F16KV = 1e-3;

/** Small llama shapes: fast in the reference, head_dim 8 unless nEmbd/nHead says otherwise. */
export const SMALL: LlamaModelOptions = { nLayer: 3, nEmbd: 64, nHead: 8, nHeadKv: 2, nFf: 96, nVocab: 300, contextLength: 256 };

export interface Fixture {
  path: string;
  model: Model;
  ref: RefModel;
}

/** Writes a generated model into `dir` and loads it twice: into the engine and into the reference. */
export async function makeModel(dir: string, name: string, opts: Partial<LlamaModelOptions>): Promise<Fixture> {
  const path = join(dir, `${name}.gguf`);
  writeLlamaModel(path, { ...SMALL, ...opts });
  const [model, ref] = await Promise.all([loadModel(path), loadRefModel(path)]);
  return { path, model, ref };
}

/**
 * Registers a temp folder for the calling test file and returns `fixture(name, opts)`, which writes
 * and loads a model there; models are closed and the folder removed after the file's tests.
 */
export function fixtureSuite(prefix: string): (name: string, opts: Partial<LlamaModelOptions>) => Promise<Fixture> {
  let dir: { path: string; cleanup(): void };
  const models: Model[] = [];
  beforeAll(() => { dir = tempDir(prefix); });
  afterAll(async () => {
    await Promise.all(models.map((m) => m.close()));
    dir.cleanup();
  });
  return async (name, opts) => {
    const f = await makeModel(dir.path, name, opts);
    models.push(f.model);
    return f;
  };
}

/** n pseudo-random token ids in [3, vocab) (no BOS/EOS), the same for the same seed. */
export function randomTokens(n: number, vocab: number, seed = 1): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => 3 + Math.floor(r() * (vocab - 3)));
}

/** Logits of every position, feeding the tokens in calls of `chunk` tokens (1: token by token). */
export async function decodeAll(ctx: Context, tokens: readonly number[], chunk = tokens.length): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  for (let i = 0; i < tokens.length; i += chunk) parts.push(await ctx.decode(tokens.slice(i, i + chunk), { logits: "all" }));
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
