// Tokenizer-facing types: the vocabulary summary and the streaming decoder.
import { fromNative, RingllmError } from "./errors";

/** tokenizer.ggml.token_type values. */
export const TokenType = {
  undefined: 0,
  normal: 1,
  unknown: 2,
  control: 3,
  userDefined: 4,
  unused: 5,
  byte: 6,
} as const;

export interface NativeVocabInfo {
  kind: "spm" | "bpe" | "wpm";
  model: string;
  pre: string;
  size: number;
  bos: number | null;
  eos: number | null;
  eot: number | null;
  eom: number | null;
  unk: number | null;
  pad: number | null;
  sep: number | null;
  cls: number | null;
  mask: number | null;
  linefeed: number | null;
  addBos: boolean;
  addEos: boolean;
  addSpacePrefix: boolean;
  types: Uint8Array;
  warnings: string[];
}

/**
 * A model's vocabulary. Special ids are null when the model has no such token.
 *
 * @example
 * const { bos, eos } = model.vocab;
 * model.vocab.isControl(eos!); // true
 */
export class Vocab {
  /** "spm" (SentencePiece, tokenizer.ggml.model "llama"), "bpe" (byte-level, "gpt2") or "wpm" ("bert") */
  readonly kind: "spm" | "bpe" | "wpm";
  /** tokenizer.ggml.model */
  readonly model: string;
  /** tokenizer.ggml.pre (byte-level BPE pre-tokenizer family) */
  readonly pre: string;
  readonly size: number;
  readonly bos: number | null;
  readonly eos: number | null;
  /** end of turn (chat models), e.g. <|eot_id|> or <|im_end|> */
  readonly eot: number | null;
  readonly eom: number | null;
  readonly unk: number | null;
  readonly pad: number | null;
  readonly sep: number | null;
  readonly cls: number | null;
  readonly mask: number | null;
  /** the newline token */
  readonly linefeed: number | null;
  /** tokenize({ addSpecial: true }) prepends bos */
  readonly addBos: boolean;
  /** tokenize({ addSpecial: true }) appends eos */
  readonly addEos: boolean;
  /** SentencePiece: a space is prepended to the text before tokenizing */
  readonly addSpacePrefix: boolean;
  #types: Uint8Array;
  #lookup: (text: string) => number;

  /** @internal */
  constructor(info: NativeVocabInfo, lookup: (text: string) => number) {
    this.kind = info.kind;
    this.model = info.model;
    this.pre = info.pre;
    this.size = info.size;
    this.bos = info.bos;
    this.eos = info.eos;
    this.eot = info.eot;
    this.eom = info.eom;
    this.unk = info.unk;
    this.pad = info.pad;
    this.sep = info.sep;
    this.cls = info.cls;
    this.mask = info.mask;
    this.linefeed = info.linefeed;
    this.addBos = info.addBos;
    this.addEos = info.addEos;
    this.addSpacePrefix = info.addSpacePrefix;
    this.#types = info.types;
    this.#lookup = lookup;
  }

  #check(id: number, fn: string): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.size) {
      throw new RingllmError("INVALID_ARGUMENT", `${fn}: token id must be an integer from 0 to ${this.size - 1}; received ${id}`);
    }
  }

  /** The token type (see TokenType) of an id. */
  tokenType(id: number): number {
    this.#check(id, "tokenType");
    return this.#types[id];
  }

  /** True for control tokens (BOS, EOS, chat markers...). */
  isControl(id: number): boolean {
    return this.tokenType(id) === TokenType.control;
  }

  /** The id of the token whose stored text is exactly `text` (e.g. "<|im_end|>"), or null. */
  tokenId(text: string): number | null {
    if (typeof text !== "string") throw new RingllmError("INVALID_ARGUMENT", "tokenId: text must be a string");
    try {
      const id = this.#lookup(text);
      return id < 0 ? null : id;
    } catch (err) {
      throw fromNative(err);
    }
  }
}

export interface NativeDecoder {
  push(id: number): string;
  finish(): string;
}

/**
 * Streaming detokenizer: push generated tokens one at a time and get text as soon as it is
 * complete (a character split across tokens is held back). The concatenation of every push() and
 * finish() equals model.detokenize(allTokens).
 *
 * @example
 * const dec = model.createTokenDecoder();
 * for (const t of tokens) process.stdout.write(dec.push(t));
 * process.stdout.write(dec.finish());
 */
export class TokenDecoder {
  #native: NativeDecoder;
  #size: number;
  #finished = false;

  /** @internal */
  constructor(native: NativeDecoder, size: number) {
    this.#native = native;
    this.#size = size;
  }

  /** Adds one token; returns the text it completes (possibly ""). */
  push(token: number): string {
    if (this.#finished) throw new RingllmError("INVALID_ARGUMENT", "TokenDecoder.push: the decoder was finished");
    if (!Number.isInteger(token) || token < 0 || token >= this.#size) {
      throw new RingllmError("INVALID_ARGUMENT", `TokenDecoder.push: token must be an integer id from 0 to ${this.#size - 1}; received ${token}`);
    }
    try {
      return this.#native.push(token);
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** Returns what is held back (an incomplete character becomes U+FFFD); the decoder is then done. */
  finish(): string {
    if (this.#finished) return "";
    this.#finished = true;
    return this.#native.finish();
  }
}
