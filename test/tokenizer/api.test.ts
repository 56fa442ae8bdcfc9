// Tokenizer API behaviour: special tokens, vocabulary facts, errors, hostile input.
import { writeFileSync } from "node:fs";
import { join } from "node:path";

import { loadModel, Model, RingllmError, setLogger } from "../../lib";
import { GgufValueType as T } from "../../scripts/gguf/types";
import { GgufWriter } from "../../scripts/gguf/writer";
import { rng, sharedTest, STORIES, tempDir, VOCABS } from "../helpers";

const [SPM, GPT2, DEEPSEEK, STARCODER] = VOCABS;
const INVALID = expect.objectContaining({ code: "INVALID_ARGUMENT" });

let dir: { path: string; cleanup(): void };
beforeAll(() => { dir = tempDir("ringllm-tok-"); });
afterAll(() => dir.cleanup());

async function withModel<T>(file: string, fn: (m: Model) => T | Promise<T>): Promise<T> {
  const m = await loadModel(file, { vocabOnly: true });
  try {
    return await fn(m);
  } finally {
    await m.close();
  }
}

sharedTest("stories260K: BOS + 'Once upon a time' gives the ids llama.cpp gives", [STORIES], async () => {
  // Golden ids from llama.cpp through node-llama-cpp 3.21.1 (bench/check-load.mjs, see bench/README.md).
  await withModel(STORIES, (m) => {
    expect(Array.from(m.tokenize("Once upon a time", { addSpecial: true }))).toEqual([1, 403, 407, 261, 378]);
    expect(m.detokenize([1, 403, 407, 261, 378], { removeSpecial: true })).toBe("Once upon a time");
    expect(m.vocab).toMatchObject({ kind: "spm", size: 512, bos: 1, eos: 2, addBos: true, addSpacePrefix: true });
  });
});

sharedTest("vocabulary facts of the shared vocabularies", VOCABS, async () => {
  await withModel(SPM, (m) => {
    expect(m.vocab).toMatchObject({ kind: "spm", model: "llama", size: 32000, bos: 1, eos: 2, unk: 0 });
    expect(m.vocab.isControl(1)).toBe(true);
    expect(m.vocab.isControl(100)).toBe(false);
    expect(m.vocab.tokenId("<s>")).toBe(1);
    expect(m.vocab.tokenId("no such token text")).toBeNull();
    expect(m.tokenToText(1)).toBe("");
    expect(m.tokenToText(1, { special: true })).toBe("<s>");
  });
  await withModel(GPT2, (m) => {
    expect(m.vocab).toMatchObject({ kind: "bpe", model: "gpt2", pre: "gpt-2", size: 50257 });
    expect(m.tokenToText(m.tokenize(" world")[0])).toBe(" world");
  });
  await withModel(DEEPSEEK, (m) => expect(m.vocab.pre).toBe("deepseek-llm"));
  await withModel(STARCODER, (m) => expect(m.vocab.pre).toBe("starcoder"));
});

sharedTest("parseSpecial: false tokenizes special-token text as plain text; true gives the control id", [SPM, GPT2], async () => {
  await withModel(SPM, (m) => {
    const plain = Array.from(m.tokenize("hi <s> there"));
    expect(plain).not.toContain(1);
    const parsed = Array.from(m.tokenize("hi <s> there", { parseSpecial: true }));
    expect(parsed).toContain(1);
    expect(m.detokenize(parsed, { unparseSpecial: true })).toBe("hi <s> there");
  });
  await withModel(GPT2, (m) => {
    expect(Array.from(m.tokenize("<|endoftext|>"))).not.toContain(50256);
    expect(Array.from(m.tokenize("a<|endoftext|>b", { parseSpecial: true }))).toContain(50256);
  });
});

sharedTest("addSpecial adds BOS for SentencePiece and removeSpecial takes it away again", [SPM], async () => {
  await withModel(SPM, (m) => {
    const ids = m.tokenize("Hello", { addSpecial: true });
    expect(ids[0]).toBe(1);
    expect(Array.from(ids.slice(1))).toEqual(Array.from(m.tokenize("Hello")));
    expect(m.detokenize(ids, { removeSpecial: true })).toBe("Hello");
  });
});

sharedTest("random Unicode round-trips exactly and streams identically, for every vocabulary", VOCABS, async () => {
  const rand = rng(99);
  const pools = [
    [0x20, 0x7e], [0x0a, 0x0a], [0x20, 0x20], [0xa0, 0x24f], [0x370, 0x3ff], [0x400, 0x4ff], [0x590, 0x6ff],
    [0x900, 0x97f], [0x3040, 0x30ff], [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0x1f300, 0x1f64f], [0x300, 0x36f],
  ];
  const randomText = () => {
    let s = "";
    const n = 1 + Math.floor(rand() * 40);
    for (let i = 0; i < n; i++) {
      const [lo, hi] = pools[Math.floor(rand() * pools.length)];
      s += String.fromCodePoint(lo + Math.floor(rand() * (hi - lo + 1)));
    }
    return s;
  };
  for (const file of VOCABS) {
    await withModel(file, (m) => {
      for (let i = 0; i < 150; i++) {
        const s = randomText();
        const ids = m.tokenize(s);
        expect(m.detokenize(ids)).toBe(s);
        const dec = m.createTokenDecoder();
        let streamed = "";
        for (const id of ids) streamed += dec.push(id);
        expect(streamed + dec.finish()).toBe(s);
      }
    });
  }
});

sharedTest("lone surrogates and long runs without spaces tokenize without trouble", VOCABS, async () => {
  for (const file of VOCABS) {
    await withModel(file, (m) => {
      // a lone surrogate cannot be UTF-8: it arrives as U+FFFD
      expect(m.detokenize(m.tokenize("a\ud800b"))).toBe("a\ufffdb");
      const run = "x".repeat(100_000);
      expect(m.detokenize(m.tokenize(run))).toBe(run);
    });
  }
});

sharedTest("bad ids and bad arguments are INVALID_ARGUMENT, never a crash", [GPT2], async () => {
  await withModel(GPT2, (m) => {
    expect(() => m.detokenize([50257])).toThrow(INVALID);
    expect(() => m.detokenize([-1])).toThrow(INVALID);
    expect(() => m.detokenize([1.5])).toThrow(INVALID);
    expect(() => m.detokenize("abc" as never)).toThrow(INVALID);
    expect(() => m.tokenToText(1e9)).toThrow(INVALID);
    expect(() => m.tokenize(42 as never)).toThrow(INVALID);
    expect(() => m.tokenize("x", { parse: true } as never)).toThrow(/unknown option "parse"/);
    expect(() => m.vocab.isControl(50257)).toThrow(INVALID);
    const dec = m.createTokenDecoder();
    expect(() => dec.push(99999999)).toThrow(INVALID);
  });
});

test("a file without tokenizer metadata loads; using its vocabulary is TOKENIZER_MISSING", async () => {
  const file = join(dir.path, "notok.gguf");
  writeFileSync(file, new GgufWriter().addString("general.architecture", "llama").serialize().bytes);
  const m = await loadModel(file);
  expect(() => m.vocab).toThrow(expect.objectContaining({ code: "TOKENIZER_MISSING" }));
  expect(() => m.tokenize("x")).toThrow(RingllmError);
  await m.close();
});

test("an unknown tokenizer model is TOKENIZER_UNSUPPORTED naming it", async () => {
  const file = join(dir.path, "weird.gguf");
  const w = new GgufWriter();
  w.addString("tokenizer.ggml.model", "sentencepiece-unigram-9000");
  w.addArray("tokenizer.ggml.tokens", T.STRING, ["a", "b"]);
  writeFileSync(file, w.serialize().bytes);
  const m = await loadModel(file);
  expect(() => m.tokenize("ab")).toThrow(
    expect.objectContaining({ code: "TOKENIZER_UNSUPPORTED", message: expect.stringContaining("sentencepiece-unigram-9000") }),
  );
  await m.close();
});

test("an unknown pre-tokenizer falls back to the default with a warning through the logger", async () => {
  const file = join(dir.path, "pre.gguf");
  const w = new GgufWriter();
  w.addString("tokenizer.ggml.model", "gpt2").addString("tokenizer.ggml.pre", "no-such-family");
  w.addArray("tokenizer.ggml.tokens", T.STRING, ["a", "b", "ab"]);
  w.addArray("tokenizer.ggml.merges", T.STRING, ["a b"]);
  writeFileSync(file, w.serialize().bytes);
  const warnings: string[] = [];
  setLogger((level, message) => { if (level === "warn") warnings.push(message); });
  try {
    const m = await loadModel(file);
    expect(warnings.join("\n")).toContain("no-such-family");
    expect(Array.from(m.tokenize("ab"))).toEqual([2]);
    await m.close();
  } finally {
    setLogger((level, message) => { if (level === "warn") process.emitWarning(message); });
  }
});

test("an out-of-range special id is ignored with a warning (as llama.cpp does); a wrongly typed one is TOKENIZER_INVALID", async () => {
  const make = (name: string, addId: (w: GgufWriter) => void) => {
    const file = join(dir.path, name);
    const w = new GgufWriter();
    w.addString("tokenizer.ggml.model", "llama");
    w.addArray("tokenizer.ggml.tokens", T.STRING, ["<unk>", "a"]);
    w.addArray("tokenizer.ggml.scores", T.FLOAT32, [0, 0]);
    w.addArray("tokenizer.ggml.token_type", T.INT32, [2, 1]);
    addId(w);
    writeFileSync(file, w.serialize().bytes);
    return file;
  };
  const warnings: string[] = [];
  setLogger((level, message) => { if (level === "warn") warnings.push(message); });
  try {
    const m = await loadModel(make("badid.gguf", (w) => w.addU32("tokenizer.ggml.bos_token_id", 7)));
    expect(m.vocab.bos).toBeNull();
    expect(warnings.join("\n")).toContain("bos_token_id");
    await m.close();
  } finally {
    setLogger((level, message) => { if (level === "warn") process.emitWarning(message); });
  }
  const bad = await loadModel(make("badtype.gguf", (w) => w.addString("tokenizer.ggml.bos_token_id", "one")));
  expect(() => bad.vocab).toThrow(expect.objectContaining({ code: "TOKENIZER_INVALID", message: expect.stringContaining("bos_token_id") }));
  await bad.close();
});

test("WordPiece (bert): uncased vocabulary lowercases, strips accents, splits punctuation and CJK, uses ## continuations", async () => {
  // GGUF stores BERT vocabularies with word-start pieces prefixed by U+2581 and continuations bare.
  const file = join(dir.path, "bert.gguf");
  const w = new GgufWriter();
  w.addString("tokenizer.ggml.model", "bert");
  w.addArray("tokenizer.ggml.tokens", T.STRING,
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "\u2581hello", "\u2581world", "s", "\u2581,", "\u2581cafe", "\u2581\u4e2d"]);
  w.addArray("tokenizer.ggml.token_type", T.INT32, [3, 2, 3, 3, 1, 1, 1, 1, 1, 1]);
  w.addU32("tokenizer.ggml.unknown_token_id", 1).addU32("tokenizer.ggml.cls_token_id", 2);
  w.addU32("tokenizer.ggml.seperator_token_id", 3).addU32("tokenizer.ggml.padding_token_id", 0);
  writeFileSync(file, w.serialize().bytes);
  const m = await loadModel(file);
  expect(m.vocab.kind).toBe("wpm");
  // [CLS] hello , world ##s [UNK](!) cafe 中 中 [UNK](xyz) [SEP]
  expect(Array.from(m.tokenize("Hello, worlds! Café 中中 xyz", { addSpecial: true }))).toEqual([2, 4, 7, 5, 6, 1, 8, 9, 9, 1, 3]);
  expect(m.detokenize([2, 4, 5, 6, 3], { removeSpecial: true })).toBe(" hello worlds");
  await m.close();
});
