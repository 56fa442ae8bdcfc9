// Argument validation of the public API: every bad input is an INVALID_ARGUMENT naming the option.
import { loadModel, readGgufInfo, RingllmError } from "../../lib";
import { sharedTest, STORIES } from "../helpers";

const INVALID = expect.objectContaining({ code: "INVALID_ARGUMENT" });

test.each([
  ["a number", 42],
  ["an empty string", ""],
  ["a string with NUL", "a\0b"],
  ["null", null],
  ["an http URL", new URL("http://example.invalid/model.gguf")],
])("loadModel rejects %s as the path", async (_label, path) => {
  await expect(loadModel(path as string)).rejects.toEqual(INVALID);
});

test("an unknown option is named in the error", async () => {
  await expect(loadModel("x.gguf", { vocabonly: true } as never)).rejects.toThrow(/unknown option "vocabonly"/);
  await expect(readGgufInfo("x.gguf", { maxArrayLen: 3 } as never)).rejects.toEqual(INVALID);
});

test.each([
  ["vocabOnly", "yes"],
  ["useMmap", 1],
  ["signal", {}],
  ["onProgress", "fn"],
])("loadModel rejects option %s of the wrong type", async (key, value) => {
  const err = await loadModel("x.gguf", { [key]: value } as never).catch((e) => e);
  expect(err).toBeInstanceOf(RingllmError);
  expect(err.code).toBe("INVALID_ARGUMENT");
  expect(err.message).toContain(`"${key}"`);
});

test("options must be an object", async () => {
  await expect(loadModel("x.gguf", 5 as never)).rejects.toEqual(INVALID);
  await expect(readGgufInfo("x.gguf", { maxArrayLength: -1 })).rejects.toEqual(INVALID);
  await expect(readGgufInfo("x.gguf", { maxArrayLength: 1.5 })).rejects.toEqual(INVALID);
});

test("a missing file is ENOENT with the path in the message and a stack from the call site", async () => {
  const err = await loadModel("/definitely/not/here.gguf").catch((e) => e);
  expect(err).toBeInstanceOf(RingllmError);
  expect(err.code).toBe("ENOENT");
  expect(err.message).toContain("/definitely/not/here.gguf");
  expect(err.stack).toContain("arguments.test.ts");
  await expect(readGgufInfo("/definitely/not/here.gguf")).rejects.toMatchObject({ code: "ENOENT" });
});

test("a directory is refused with EISDIR", async () => {
  await expect(loadModel(__dirname)).rejects.toMatchObject({ code: "EISDIR" });
});

sharedTest("a file: URL is accepted as a path", [STORIES], async () => {
  const model = await loadModel(new URL(`file://${STORIES}`));
  expect(model.architecture).toBe("llama");
  await model.close();
});

sharedTest("a throwing onProgress aborts the load with the callback's error", [STORIES], async () => {
  const boom = new Error("boom");
  await expect(loadModel(STORIES, { onProgress: () => { throw boom; } })).rejects.toBe(boom);
});
