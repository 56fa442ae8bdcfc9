// Reads the shared tokenizer conformance vectors (../shared/vocab/X.gguf.inp / .out).
// Format: inputs joined by "\n__ggml_vocab_test__\n" (the file ends with one more marker); the
// .out file has one line of space-separated expected ids per input. Produced from the Hugging Face
// reference tokenizers (see ../shared/README.md), tokenized without BOS/EOS and without parsing
// special tokens.
import { readFileSync } from "node:fs";

export interface VocabVector {
  input: string;
  expected: number[];
}

export function readVectors(ggufPath: string): VocabVector[] {
  const inputs = readFileSync(`${ggufPath}.inp`, "utf8").split("\n__ggml_vocab_test__\n");
  if (inputs[inputs.length - 1] === "") inputs.pop();
  const lines = readFileSync(`${ggufPath}.out`, "utf8").split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  if (lines.length !== inputs.length) {
    throw new Error(`${ggufPath}: ${inputs.length} inputs but ${lines.length} expected lines`);
  }
  return inputs.map((input, i) => ({
    input,
    expected: lines[i].trim() === "" ? [] : lines[i].trim().split(/\s+/).map(Number),
  }));
}
