// The embedded default model (models/ringllm-tiny-fortunes.gguf): what loadModel() with no path
// loads, its GQA + sliding-window shape, its tokenizer against SentencePiece, its ChatML markers and
// template, and reproducible generation.
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";

import { Context, defaultModelPath, loadModel, Model } from "../../lib";
import { ROOT } from "../helpers";

const MODELS = join(ROOT, "models");
// Written by scripts/train-tiny.py: the ids SentencePiece (the tokenizer model stored in the GGUF)
// gives tiny-validation.txt (see its "about" field): per plain example [1] + encode(text) + [2]; per
// ChatML example (text starting with <|im_start|>) [1] + the markers as ids 3/4 and each fragment
// between them encode()d, which is what special-token parsing does.
const golden = JSON.parse(readFileSync(join(MODELS, "tiny-validation.json"), "utf8")) as { ids: number[] };
const entries = readFileSync(join(MODELS, "tiny-validation.txt"), "utf8").split("\n%\n").slice(0, -1);
const IM_START = 3, IM_END = 4;
const CHATML =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

let model: Model;
beforeAll(async () => { model = await loadModel(); });
afterAll(async () => { await model?.close(); });

async function collect(ctx: Context, prompt: string | number[], opts: Parameters<Context["generate"]>[1]): Promise<number[]> {
  const tokens: number[] = [];
  for await (const c of ctx.generate(prompt, opts)) tokens.push(c.token);
  return tokens;
}

test("defaultModelPath() is the committed models/ringllm-tiny-fortunes.gguf, at most 8 MB", () => {
  expect(defaultModelPath()).toBe(join(MODELS, "ringllm-tiny-fortunes.gguf"));
  expect(statSync(defaultModelPath()).size).toBeLessThanOrEqual(8 * 1024 * 1024);
});

test("loadModel() with no path loads the embedded model", async () => {
  expect(model.architecture).toBe("llama");
  expect(model.metadata["general.name"]).toBe("ringllm-tiny-fortunes");
  expect(model.metadata["general.license"]).toBe("BSD-3-Clause");
  const again = await loadModel(undefined, { vocabOnly: true });
  expect(again.metadata["general.name"]).toBe("ringllm-tiny-fortunes");
  await again.close();
});

test("metadata says grouped-query attention (8 query heads, 2 KV heads) and a 128-token sliding window", () => {
  const hp = model.hparams;
  expect(hp.headCount).toBe(8);
  expect(hp.headCountKv).toBe(2);
  expect(hp.slidingWindow).toBe(128);
  expect(hp.contextLength).toBe(512); // trained on sequences four windows long
  expect(model.metadata["llama.attention.sliding_window"]).toBe(128);
  const k = model.tensors.find((t) => t.name === "blk.0.attn_k.weight")!;
  const q = model.tensors.find((t) => t.name === "blk.0.attn_q.weight")!;
  expect(q.shape[1] / k.shape[1]).toBe(4); // K projects to a quarter of Q's width
  expect(model.tensors.filter((t) => t.shape.length === 2).every((t) => t.type === "F16")).toBe(true);
});

test("the tokenizer gives SentencePiece's ids on the validation text", () => {
  expect(entries.length).toBeGreaterThan(10);
  const chat = entries.filter((e) => e.startsWith("<|im_start|>"));
  expect(chat.length).toBeGreaterThan(0);
  const ids: number[] = [];
  for (const e of entries) {
    if (e.startsWith("<|im_start|>")) ids.push(model.vocab.bos!, ...model.tokenize(e, { parseSpecial: true }));
    else ids.push(model.vocab.bos!, ...model.tokenize(e), model.vocab.eos!);
  }
  expect(ids).toEqual(golden.ids);
  const plain = entries.find((e) => !e.startsWith("<|im_start|>")) ?? chat[0].split("\n")[1];
  expect(model.detokenize(model.tokenize(plain))).toBe(plain);
  expect(model.detokenize(model.tokenize(chat[0], { parseSpecial: true }), { unparseSpecial: true })).toBe(chat[0]);
});

test("ChatML: <|im_start|> and <|im_end|> are CONTROL tokens 3 and 4, <|im_end|> ends a turn, the template is ChatML", () => {
  expect([model.vocab.unk, model.vocab.bos, model.vocab.eos, model.vocab.eot]).toEqual([0, 1, 2, IM_END]);
  expect(model.vocab.addBos).toBe(true);
  expect(model.vocab.tokenId("<|im_start|>")).toBe(IM_START);
  expect(model.vocab.tokenId("<|im_end|>")).toBe(IM_END);
  expect([model.vocab.tokenType(IM_START), model.vocab.tokenType(IM_END)]).toEqual([3, 3]);
  expect(model.metadata["tokenizer.ggml.eot_token_id"]).toBe(IM_END);
  expect(model.metadata["tokenizer.chat_template"]).toBe(CHATML);
  const prompt = "<|im_start|>user\nhi<|im_end|>\n";
  const ids = [...model.tokenize(prompt, { addSpecial: true, parseSpecial: true })];
  expect(ids[0]).toBe(model.vocab.bos);
  expect(ids[1]).toBe(IM_START);
  expect(ids.filter((t) => t === IM_START || t === IM_END)).toEqual([IM_START, IM_END]);
  // without special-token parsing the markers are plain text
  expect([...model.tokenize(prompt)]).not.toContain(IM_START);
});

test("a ChatML question gets a greedy answer that ends its turn with <|im_end|>", async () => {
  const prompt = "<|im_start|>user\nTell me about cats<|im_end|>\n<|im_start|>assistant\n";
  const ids = [...model.tokenize(prompt, { addSpecial: true, parseSpecial: true })];
  const ctx = await model.createContext({ contextSize: 512 });
  const answer = await collect(ctx, ids, { maxTokens: 200, temperature: 0 });
  // generation stops at the end-of-turn token: check that it is the argmax after the answer
  await ctx.reset();
  const logits = await ctx.decode([...ids, ...answer], { logits: "last" });
  await ctx.close();
  let best = 0;
  for (let j = 1; j < logits.length; j++) if (logits[j] > logits[best]) best = j;
  expect(answer.length).toBeGreaterThan(3);
  expect(answer.length).toBeLessThan(200);
  expect(best).toBe(IM_END);
  expect(model.detokenize(answer).trim().length).toBeGreaterThan(0);
});

test("greedy generation is deterministic and each token is the argmax of the decoded logits", async () => {
  const prompt = "A man walks into a bar";
  const ctx = await model.createContext({ contextSize: 512 });
  const first = await collect(ctx, prompt, { maxTokens: 40, temperature: 0 });
  await ctx.reset();
  const second = await collect(ctx, prompt, { maxTokens: 40, temperature: 0 });
  await ctx.close();
  const other = await model.createContext({ contextSize: 512, threads: 1 });
  const third = await collect(other, prompt, { maxTokens: 40, temperature: 0 });
  expect(first.length).toBeGreaterThan(5);
  expect(second).toEqual(first);
  expect(third).toEqual(first);

  // Teacher-forced: the logits after prompt + generated[0..i) must put generated[i] on top.
  await other.reset();
  const promptIds = [...model.tokenize(prompt, { addSpecial: true })];
  const seq = [...promptIds, ...first];
  const logits = await other.decode(seq.slice(0, -1), { logits: "all" });
  const n = model.vocab.size;
  for (let i = 0; i < first.length; i++) {
    const row = logits.subarray((promptIds.length - 1 + i) * n, (promptIds.length + i) * n);
    let best = 0;
    for (let j = 1; j < n; j++) if (row[j] > row[best]) best = j;
    expect(best).toBe(first[i]);
  }
  await other.close();
});

test("sampling with a seed is reproducible, and another seed gives other text", async () => {
  const opts = { maxTokens: 60, temperature: 1, topK: 0, topP: 1, minP: 0 };
  const ctx = await model.createContext({ contextSize: 512 });
  const a = await collect(ctx, "Life is", { ...opts, seed: 7 });
  await ctx.reset();
  const b = await collect(ctx, "Life is", { ...opts, seed: 7 });
  await ctx.reset();
  const c = await collect(ctx, "Life is", { ...opts, seed: 8 });
  await ctx.close();
  expect(a.length).toBeGreaterThan(5);
  expect(b).toEqual(a);
  expect(c).not.toEqual(a);
});

test("10,000 generated tokens run with constant KV memory: every layer is a 128-slot ring", async () => {
  // The model's window makes the default ("auto") cache a ring on every layer, so the context never
  // fills (contextSize Infinity is accepted) and its KV bytes never grow.
  const ctx = await model.createContext({ contextSize: Infinity, seed: 7 });
  const first = ctx.stats();
  expect(ctx.contextSize).toBe(Infinity);
  expect(first.layers.map((l) => [l.policy, l.capacity])).toEqual(first.layers.map(() => ["window", 128]));
  const bytes = new Set<number>();
  let n = 0;
  // EOS (or <|im_end|>) ends a fortune; keep going with the next one in the same context.
  while (n < 10_000) {
    for await (const c of ctx.generate(n === 0 ? "Q:" : [model.vocab.bos!], { maxTokens: 10_000 - n, temperature: 1, seed: n })) {
      void c;
      n++;
      if (n % 1000 === 0) bytes.add(ctx.stats().kvBytes);
    }
  }
  const last = ctx.stats();
  expect(last.tokensProcessed).toBeGreaterThanOrEqual(10_000);
  expect([...bytes]).toEqual([first.kvBytes]);
  expect(last.kvBytes).toBe(first.kvBytes);
  expect(last.layers.every((l) => l.held === 128)).toBe(true);
  await ctx.close();
}, 120_000);
