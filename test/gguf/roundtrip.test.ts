// Files from the project's writer read back through the native parser with every value intact.
import { writeFileSync } from "node:fs";
import { join } from "node:path";

import { ggmlTypes, loadModel, readGgufInfo } from "../../lib";
import { GgufValueType as T } from "../../scripts/gguf/types";
import { ggufArray, GgufWriter } from "../../scripts/gguf/writer";
import { tempDir } from "../helpers";

let dir: { path: string; cleanup(): void };
beforeAll(() => { dir = tempDir("ringllm-roundtrip-"); });
afterAll(() => dir.cleanup());

function save(w: GgufWriter, name: string): string {
  const file = join(dir.path, name);
  writeFileSync(file, w.serialize().bytes);
  return file;
}

test.each([2, 3] as const)("GGUF v%i: every metadata value type reads back exactly", async (version) => {
  const w = new GgufWriter({ version });
  w.addString("general.architecture", "llama");
  w.addU8("u8", 255).addI8("i8", -128).addU16("u16", 65535).addI16("i16", -32768);
  w.addU32("u32", 4294967295).addI32("i32", -2147483648).addF32("f32", 0.1).addBool("yes", true).addBool("no", false);
  w.addU64("u64.small", 12345).addU64("u64.big", 2n ** 64n - 1n).addI64("i64.big", -(2n ** 63n)).addF64("f64", 1 / 3);
  w.addString("utf8", "héllo ▁wörld 🦙");
  w.addArray("strings", T.STRING, ["x", "", "▁y"]);
  w.addArray("f32s", T.FLOAT32, [1e-5, -2.5, 3]);
  w.addArray("i16s", T.INT16, [-1, 2, -3]);
  w.addArray("bools", T.BOOL, [true, false]);
  w.addArray("u64s", T.UINT64, [1n, 2n ** 60n]);
  w.addArray("nested", T.ARRAY, [ggufArray(T.STRING, ["a"]), ggufArray(T.STRING, ["b", "c"])]);
  w.addArray("nested2", T.ARRAY, [ggufArray(T.ARRAY, [ggufArray(T.UINT8, [1, 2])])]);
  w.addArray("empty", T.INT32, []);
  const info = await readGgufInfo(save(w, `all-v${version}.gguf`));
  expect(info.version).toBe(version);
  expect(info.metadata).toEqual({
    "general.architecture": "llama",
    u8: 255, i8: -128, u16: 65535, i16: -32768, u32: 4294967295, i32: -2147483648,
    f32: 0.1, // float32 0.1 reads back as the shortest decimal, not 0.10000000149011612
    yes: true, no: false,
    "u64.small": 12345, "u64.big": 2n ** 64n - 1n, "i64.big": -(2n ** 63n), f64: 1 / 3,
    utf8: "héllo ▁wörld 🦙",
    strings: ["x", "", "▁y"], f32s: [1e-5, -2.5, 3], i16s: [-1, 2, -3], bools: [true, false], u64s: [1, 2n ** 60n],
    nested: [["a"], ["b", "c"]], nested2: [[[1, 2]]], empty: [],
  });
  expect(info.metadataTypes).toMatchObject({
    u8: "uint8", f64: "float64", strings: "array<string>", nested: "array<array<string>>",
    nested2: "array<array<array<uint8>>>", empty: "array<int32>",
  });
});

test("a non-default alignment places the data section and every tensor on it", async () => {
  const w = new GgufWriter({ alignment: 64 });
  w.addTensorF32("a", [3], new Float32Array([1, 2, 3]));
  w.addTensorF32("b", [32], new Float32Array(32), "Q4_0");
  const r = w.serialize();
  const info = await readGgufInfo(save(w, "align64.gguf"));
  expect(info.alignment).toBe(64);
  expect(info.metadata["general.alignment"]).toBe(64);
  expect(info.dataOffset % 64).toBe(0);
  expect(info.dataOffset).toBe(r.dataOffset);
  for (const t of info.tensors) expect((t.offset - info.dataOffset) % 64).toBe(0);
  expect(info.tensors.map((t) => [t.name, t.type, t.shape, t.sizeBytes])).toEqual([
    ["a", "F32", [3], 12],
    ["b", "Q4_0", [32], 18],
  ]);
  expect(info.tensors.map((t) => t.offset)).toEqual(r.tensorOffsets.map((t) => t.absoluteOffset));
});

test("every ggml type's byte size matches the writer's table for a 4-dim tensor", async () => {
  const w = new GgufWriter();
  const expected: [string, number][] = [];
  for (const t of ggmlTypes()) {
    const shape = [t.blockSize * 2, 3, 1, 2];
    const bytes = (shape.reduce((a, b) => a * b, 1) / t.blockSize) * t.blockBytes;
    w.addTensor(`t.${t.name}`, shape, t.name as never, new Uint8Array(bytes));
    expected.push([t.name, bytes]);
  }
  const info = await readGgufInfo(save(w, "types.gguf"));
  expect(info.tensors.map((t) => [t.type, t.sizeBytes])).toEqual(expected);
});

test("a file with a type the engine cannot compute yet loads for inspection; assertComputable names type and tensor", async () => {
  const w = new GgufWriter();
  w.addString("general.architecture", "llama");
  w.addTensor("blk.0.attn_q.weight", [256, 2], "IQ2_XXS", new Uint8Array(66 * 2));
  const model = await loadModel(save(w, "iq2.gguf"));
  expect(model.tensors[0].type).toBe("IQ2_XXS");
  expect(() => model.assertComputable()).toThrow(
    expect.objectContaining({ code: "MODEL_UNSUPPORTED_TYPE", message: expect.stringMatching(/blk\.0\.attn_q\.weight.*IQ2_XXS/) }),
  );
  await model.close();
});

test("readGgufInfo reads a header larger than its first read chunk (1 MiB)", async () => {
  const w = new GgufWriter();
  const tokens = Array.from({ length: 200000 }, (_, i) => `token-${i}`);
  w.addArray("tokenizer.ggml.tokens", T.STRING, tokens);
  w.addTensorF32("after", [4], new Float32Array([1, 2, 3, 4]));
  const file = save(w, "bighead.gguf");
  const info = await readGgufInfo(file);
  expect(info.headerBytes).toBeGreaterThan(2 ** 20);
  expect(info.metadata["tokenizer.ggml.tokens"]).toMatchObject({ kind: "array", length: 200000 });
  expect(info.tensors[0].name).toBe("after");
  const model = await loadModel(file, { vocabOnly: true });
  const all = model.getMetadataArray("tokenizer.ggml.tokens") as string[];
  expect(all[199999]).toBe("token-199999");
  await model.close();
});
