// Writes the embedded default model's GGUF from scripts/train-tiny.py's raw tensors, through the
// project's GGUF writer; also the passkey model of scripts/train-recall.py (a manifest with a name,
// no chat template, window = seq_len: no sliding window). Usage: npx tsx scripts/export-tiny.ts MANIFEST.json
// The manifest (written by train-tiny.py) holds the config, the SentencePiece vocabulary and, per
// tensor, its GGUF name, GGUF shape (innermost first), target type and a file of little-endian f32.

import * as fs from "node:fs";
import { LLAMA_FILE_TYPE, addSpmVocab } from "./gguf/llama-model";
import { QuantType } from "./gguf/quants";
import { GgufWriter } from "./gguf/writer";

interface Manifest {
  config: {
    vocab_size: number; dim: number; n_layers: number; n_heads: number; n_kv_heads: number; ffn_dim: number;
    window: number; seq_len: number; rope_base: number; rms_eps: number;
  };
  seed: number;
  tokens: string[];
  scores: number[];
  token_types: number[];
  eot_token_id?: number;
  chat_template?: string;
  name?: string;
  description?: string;
  license?: string;
  source?: string;
  tensors: { name: string; shape: number[]; file: string; type: QuantType }[];
  out: string;
}

function readF32(file: string, n: number): Float32Array {
  const buf = fs.readFileSync(file);
  if (buf.length !== n * 4) throw new Error(`${file}: expected ${n * 4} bytes of f32; got ${buf.length}`);
  // copy into an aligned buffer: readFileSync's Buffer may sit at any offset of a shared pool
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
}

function main(argv: string[]): void {
  if (argv.length !== 1) throw new Error("usage: npx tsx scripts/export-tiny.ts MANIFEST.json");
  const m = JSON.parse(fs.readFileSync(argv[0], "utf8")) as Manifest;
  const c = m.config;
  const headDim = c.dim / c.n_heads;
  if (m.tokens.length !== c.vocab_size) throw new Error(`vocabulary has ${m.tokens.length} tokens; config says ${c.vocab_size}`);
  if (m.tokens[0] !== "<unk>" || m.tokens[1] !== "<s>" || m.tokens[2] !== "</s>") {
    throw new Error(`expected <unk>, <s>, </s> at ids 0..2; got ${m.tokens.slice(0, 3).join(", ")}`);
  }
  // The ChatML markers: CONTROL tokens (type 3), so that special-token parsing turns their text into one id.
  const chatml = m.tokens[3] === "<|im_start|>" && m.tokens[4] === "<|im_end|>" && m.token_types[3] === 3 && m.token_types[4] === 3;
  if (m.chat_template !== undefined && !chatml) {
    throw new Error(`expected CONTROL tokens <|im_start|>, <|im_end|> at ids 3, 4; got ${m.tokens.slice(3, 5).join(", ")}`);
  }
  if (m.eot_token_id !== undefined && m.tokens[m.eot_token_id] !== "<|im_end|>") throw new Error(`eot_token_id ${m.eot_token_id} is not <|im_end|>`);

  const w = new GgufWriter();
  w.addString("general.architecture", "llama");
  w.addString("general.name", m.name ?? "ringllm-tiny-fortunes");
  w.addString("general.description", m.description ?? "ringllm's embedded default model: fortune-cookie text and ChatML chat, GQA 4:1, sliding window; see models/README.md");
  w.addString("general.license", m.license ?? "BSD-3-Clause");
  w.addString("general.source.url", m.source ?? "scripts/train-tiny.py");
  w.addU32("general.file_type", LLAMA_FILE_TYPE.F16!);
  w.addU32("llama.context_length", c.seq_len);
  w.addU32("llama.embedding_length", c.dim);
  w.addU32("llama.block_count", c.n_layers);
  w.addU32("llama.feed_forward_length", c.ffn_dim);
  w.addU32("llama.attention.head_count", c.n_heads);
  w.addU32("llama.attention.head_count_kv", c.n_kv_heads);
  if (c.window < c.seq_len) w.addU32("llama.attention.sliding_window", c.window);
  w.addU32("llama.rope.dimension_count", headDim);
  w.addF32("llama.rope.freq_base", c.rope_base);
  w.addF32("llama.attention.layer_norm_rms_epsilon", c.rms_eps);
  w.addU32("llama.vocab_size", c.vocab_size);
  addSpmVocab(w, { tokens: m.tokens, scores: m.scores, tokenTypes: m.token_types });
  if (m.eot_token_id !== undefined) w.addU32("tokenizer.ggml.eot_token_id", m.eot_token_id);
  if (m.chat_template !== undefined) w.addString("tokenizer.chat_template", m.chat_template);

  for (const t of m.tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    w.addTensorF32(t.name, t.shape, readF32(t.file, n), t.type);
  }
  const res = w.writeFile(m.out);
  process.stdout.write(`wrote ${m.out}: ${m.tensors.length} tensors, ${res.size} bytes\n`);
}

main(process.argv.slice(2));
