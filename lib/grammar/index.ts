// Grammar: GBNF or JSON Schema, for constrained generation (ctx.generate(prompt, { grammar })).
import { describe, RingllmError } from "../errors";
import { type Cfg, parseGbnf } from "./gbnf";
import { jsonSchemaToGbnf } from "./json-schema";
import { GrammarEngine, type MatchState, TokenTrie } from "./matcher";

/** What a grammar needs from a model: its tokens' bytes (one trie per model, built once). */
export interface GrammarVocab {
  tokenPieces(): { bytes: Uint8Array; offsets: Uint32Array };
}

interface VocabTrie {
  trie: TokenTrie;
  id: number;
  bytes: Uint8Array;
  offsets: Uint32Array;
}
const tries = new WeakMap<object, VocabTrie>();
let trieIds = 0;

function trieOf(owner: object, vocab: GrammarVocab): VocabTrie {
  let t = tries.get(owner);
  if (!t) {
    const { bytes, offsets } = vocab.tokenPieces();
    t = { trie: new TokenTrie(bytes, offsets), id: ++trieIds, bytes, offsets };
    tries.set(owner, t);
  }
  return t;
}

/**
 * A grammar that generated text must follow. Build it once and reuse it: its matcher caches the
 * set of allowed tokens per grammar state, so later generations with it get faster.
 *
 * @example
 * const g = Grammar.fromJsonSchema({ type: "object", properties: { name: { type: "string" } }, required: ["name"] });
 * let out = "";
 * for await (const c of ctx.generate("A person as JSON: ", { grammar: g })) out += c.text;
 * JSON.parse(out); // { name: "..." }
 */
// Memoized states and stack nodes an engine may hold before the next generation starts a fresh one
// (generations already running keep theirs): a grammar reused by a long-running server stays bounded.
const ENGINE_LIMIT = 500_000;

export class Grammar {
  readonly #gbnf: string;
  readonly #cfg: Cfg;
  /** @internal */
  engine: GrammarEngine;

  private constructor(gbnf: string, root: string) {
    this.#gbnf = gbnf;
    this.#cfg = parseGbnf(gbnf, root);
    this.engine = new GrammarEngine(this.#cfg);
  }

  /**
   * A grammar in llama.cpp's GBNF. Errors are GRAMMAR_INVALID with line:column (undefined rules,
   * a missing start rule and left recursion included).
   */
  static fromGbnf(text: string, options?: { root?: string }): Grammar {
    if (typeof text !== "string") throw new RingllmError("INVALID_ARGUMENT", `Grammar.fromGbnf: text must be a string; received ${describe(text)}`);
    const root = options?.root ?? "root";
    if (typeof root !== "string" || !/^[A-Za-z0-9_-]+$/.test(root)) {
      throw new RingllmError("INVALID_ARGUMENT", `Grammar.fromGbnf: root must be a rule name; received ${describe(root)}`);
    }
    return new Grammar(text, root);
  }

  /**
   * A grammar for JSON that validates against `schema` (types, properties/required/
   * additionalProperties, enum/const, arrays, nested objects, $ref/$defs, anyOf/oneOf/allOf,
   * string formats date/time/date-time/uuid, patterns, integer ranges). Unsupported constructs
   * are SCHEMA_UNSUPPORTED with the JSON pointer; unknown keywords are ignored with a warning.
   */
  static fromJsonSchema(schema: object | boolean): Grammar {
    return new Grammar(jsonSchemaToGbnf(schema), "root");
  }

  /** The grammar as GBNF text. */
  toGbnf(): string {
    return this.#gbnf;
  }

  /** Whether the whole text is a complete sentence of the grammar. */
  matches(text: string): boolean {
    if (typeof text !== "string") throw new RingllmError("INVALID_ARGUMENT", `Grammar.matches: text must be a string; received ${describe(text)}`);
    return this.engine.matches(text);
  }

  /** @internal A matcher for one generation over a model's vocabulary. */
  matcher(owner: object, vocab: GrammarVocab, endTokens: readonly number[]): GrammarMatcher {
    if (this.engine.size > ENGINE_LIMIT) this.engine = new GrammarEngine(this.#cfg);
    return new GrammarMatcher(this.engine, trieOf(owner, vocab), endTokens);
  }
}

/** @internal The state of one constrained generation. */
export class GrammarMatcher {
  #engine: GrammarEngine;
  #trie: TokenTrie;
  #trieId: number;
  #end: readonly number[];
  #state: MatchState;
  #bytes: Uint8Array;
  #offsets: Uint32Array;

  constructor(engine: GrammarEngine, t: VocabTrie, endTokens: readonly number[]) {
    this.#engine = engine;
    this.#trie = t.trie;
    this.#trieId = t.id;
    this.#end = endTokens;
    this.#state = engine.initial;
    this.#bytes = t.bytes;
    this.#offsets = t.offsets;
  }

  /** Token bitmap of what may come next. */
  mask(): Uint32Array {
    return this.#engine.mask(this.#state, this.#trie, this.#trieId, this.#end);
  }

  /** Advances over a sampled token; false when the grammar rejects it (then the state is unchanged). */
  accept(token: number): boolean {
    if (this.#end.includes(token)) return this.#engine.isComplete(this.#state);
    const next = this.#engine.acceptBytes(this.#state, this.#bytes, this.#offsets[token], this.#offsets[token + 1]);
    if (!next || this.#offsets[token] === this.#offsets[token + 1]) return false;
    this.#state = next;
    return true;
  }

  /** The text so far is a complete sentence. */
  get complete(): boolean {
    return this.#engine.isComplete(this.#state);
  }

  /** Nothing more may follow: complete, and no character is allowed. */
  get finished(): boolean {
    return this.complete && !this.#engine.canContinue(this.#state);
  }
}

