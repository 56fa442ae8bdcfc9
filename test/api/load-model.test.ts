// loadModel / Model on the real stories260K model and the vocabulary-only files.
import { closeSync, openSync, writeSync, ftruncateSync } from "node:fs";
import { join } from "node:path";

import { loadModel, Model, readGgufInfo, RingllmError } from "../../lib";
import { sharedTest, STORIES, tempDir, VOCABS } from "../helpers";

describe("loadModel on stories260K.gguf", () => {
  sharedTest("returns the model's architecture and hyper-parameters", [STORIES], async () => {
    const model = await loadModel(STORIES);
    try {
      expect(model.architecture).toBe("llama");
      expect(model.hparams).toMatchObject({
        blockCount: 5,
        embeddingLength: 64,
        headCount: 8,
        headCountKv: 4,
        headDim: 8,
        vocabSize: 512,
        contextLength: 2048,
        feedForwardLength: 172,
        rmsNormEpsilon: 1e-5,
      });
      expect(model.mapped).toBe(true);
      expect(model.vocabOnly).toBe(false);
      expect(model.fileSize).toBe(1185376);
      expect(model.gguf.version).toBe(3);
      expect(model.gguf.dataOffset % model.gguf.alignment).toBe(0);
    } finally {
      await model.close();
    }
  });

  sharedTest("lists 48 F32 tensors with ggml shapes and byte sizes that tile the data section", [STORIES], async () => {
    const model = await loadModel(STORIES);
    const t = model.tensors;
    expect(t).toHaveLength(2 + 1 + 5 * 9);
    const byName = new Map(t.map((x) => [x.name, x]));
    expect(byName.get("token_embd.weight")).toMatchObject({ type: "F32", shape: [64, 512], sizeBytes: 64 * 512 * 4 });
    expect(byName.get("blk.0.attn_k.weight")).toMatchObject({ shape: [64, 32] }); // 4 KV heads x head dim 8
    expect(byName.get("blk.4.ffn_down.weight")).toMatchObject({ shape: [172, 64] });
    for (const x of t) {
      expect(x.sizeBytes).toBe(x.elements * 4);
      expect(x.offset + x.sizeBytes).toBeLessThanOrEqual(model.fileSize);
    }
    expect(model.sizeBytes).toBe(t.reduce((s, x) => s + x.sizeBytes, 0));
    await model.close();
  });

  sharedTest("keeps long arrays native until asked, then returns them whole", [STORIES], async () => {
    const model = await loadModel(STORIES);
    // 512 tokens fit under the default limit of 1024, so they come as an array
    const tokens = model.metadata["tokenizer.ggml.tokens"] as string[];
    expect(tokens).toHaveLength(512);
    expect(tokens.slice(0, 3)).toEqual(["<unk>", "<s>", "</s>"]);
    expect(model.metadataTypes["tokenizer.ggml.tokens"]).toBe("array<string>");
    expect(model.metadataTypes["llama.block_count"]).toBe("uint32");
    expect(model.getMetadataArray("tokenizer.ggml.scores")).toHaveLength(512);
    expect(model.getMetadataArray("no.such.key")).toBeUndefined();
    await model.close();
  });

  sharedTest("close() is idempotent and a closed model throws MODEL_CLOSED", [STORIES], async () => {
    const model = await loadModel(STORIES);
    await model.close();
    await model.close();
    expect(model.closed).toBe(true);
    expect(() => model.tensors).toThrow(expect.objectContaining({ code: "MODEL_CLOSED" }));
    expect(() => model.architecture).toThrow(RingllmError);
    expect(() => model.getMetadataArray("general.name")).toThrow(expect.objectContaining({ code: "MODEL_CLOSED" }));
  });

  sharedTest("useMmap: false reads the file into memory and gives the same header", [STORIES], async () => {
    const a = await loadModel(STORIES, { useMmap: false });
    const b = await loadModel(STORIES);
    expect(a.mapped).toBe(false);
    expect(a.tensors).toEqual(b.tensors);
    expect(a.metadata).toEqual(b.metadata);
    await Promise.all([a.close(), b.close()]);
  });

  sharedTest("reports progress as non-decreasing fractions ending at 1", [STORIES], async () => {
    const seen: number[] = [];
    const model = await loadModel(STORIES, { onProgress: (f) => seen.push(f) });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen[seen.length - 1]).toBe(1);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]);
    await model.close();
  });

  sharedTest("a pre-aborted signal rejects with ABORTED before any work", [STORIES], async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(loadModel(STORIES, { signal: ac.signal })).rejects.toMatchObject({ code: "ABORTED" });
  });

  sharedTest("a model is a Model instance with a working asyncDispose", [STORIES], async () => {
    const model = await loadModel(STORIES);
    expect(model).toBeInstanceOf(Model);
    await (model as unknown as { [Symbol.asyncDispose](): Promise<void> })[Symbol.asyncDispose]();
    expect(model.closed).toBe(true);
  });
});

describe("vocabulary-only files", () => {
  sharedTest("load with vocabOnly and expose their tokenizer metadata", VOCABS, async () => {
    for (const file of VOCABS) {
      const model = await loadModel(file, { vocabOnly: true });
      expect(model.vocabOnly).toBe(true);
      expect(model.tensors).toEqual([]);
      expect(["llama", "gpt2"]).toContain(model.metadata["tokenizer.ggml.model"]);
      const tokens = model.getMetadataArray("tokenizer.ggml.tokens") as string[];
      expect(tokens.length).toBe(model.hparams.vocabSize);
      expect(tokens.length).toBeGreaterThan(1024);
      // long arrays are markers in `metadata`
      expect(model.metadata["tokenizer.ggml.tokens"]).toEqual({
        kind: "array", type: "array<string>", length: tokens.length, truncated: true,
      });
      await model.close();
    }
  });

  sharedTest("readGgufInfo returns the same header without loading, and maxArrayLength: Infinity expands arrays", VOCABS, async () => {
    const info = await readGgufInfo(VOCABS[1], { maxArrayLength: Infinity });
    const merges = info.metadata["tokenizer.ggml.merges"] as string[];
    expect(Array.isArray(merges)).toBe(true);
    expect(merges.length).toBeGreaterThan(40000);
    expect(info.architecture).toBe("gpt2");
    expect(info.metadata["tokenizer.ggml.pre"]).toBe("gpt-2");
  });
});

describe("the event loop during a load", () => {
  test("keeps ticking while a large file is read and pre-faulted off the main thread", async () => {
    const dir = tempDir();
    try {
      // A valid GGUF with one 512 MiB F32 tensor; the data is a sparse hole, so nothing is written.
      const file = join(dir.path, "big.gguf");
      const header = ggufWithOneTensor("big", [8192, 16384]);
      const fd = openSync(file, "w");
      writeSync(fd, header);
      ftruncateSync(fd, header.length + 8192 * 16384 * 4);
      closeSync(fd);

      for (const useMmap of [false, true]) {
        let ticks = 0;
        let maxGap = 0;
        let last = Date.now();
        let done = false;
        const spin = () => {
          if (done) return;
          ticks++;
          const now = Date.now();
          maxGap = Math.max(maxGap, now - last);
          last = now;
          setImmediate(spin);
        };
        setImmediate(spin);
        const t0 = Date.now();
        const model = await loadModel(file, { useMmap });
        done = true;
        const elapsed = Date.now() - t0;
        expect(model.tensors[0].sizeBytes).toBe(8192 * 16384 * 4);
        await model.close();
        // If the load ran on the JS thread, no tick could happen before it resolved (ticks would be
        // 0). A fast load (hot page cache) leaves time for only a few ticks, so the count expected
        // scales with the load's duration; a loaded machine may stall a tick now and then, so only
        // a stall of most of the load fails.
        expect(ticks).toBeGreaterThanOrEqual(Math.max(1, Math.min(5, Math.floor(elapsed / 20))));
        expect(maxGap).toBeLessThan(Math.max(250, elapsed * 0.9));
      }
    } finally {
      dir.cleanup();
    }
  });
});

/** Minimal hand-assembled GGUF v3: one metadata key, one F32 tensor at data offset 0. */
function ggufWithOneTensor(name: string, shape: number[]): Buffer {
  const parts: Buffer[] = [];
  const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); parts.push(b); };
  const u64 = (v: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); parts.push(b); };
  const str = (s: string) => { u64(Buffer.byteLength(s)); parts.push(Buffer.from(s)); };
  parts.push(Buffer.from("GGUF"));
  u32(3);
  u64(1); // tensors
  u64(1); // kv
  str("general.architecture");
  u32(8);
  str("llama");
  str(name);
  u32(shape.length);
  for (const d of shape) u64(d);
  u32(0); // F32
  u64(0);
  const head = Buffer.concat(parts);
  const pad = (32 - (head.length % 32)) % 32;
  return Buffer.concat([head, Buffer.alloc(pad)]);
}
