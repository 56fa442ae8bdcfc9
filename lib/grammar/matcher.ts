// Grammar matching for constrained sampling: a pushdown matcher over code points (stacks of grammar
// positions, shared and hash-consed so a state is a small set of ids), and the set of vocabulary
// tokens allowed in a state, found by walking a byte trie of the vocabulary once per distinct state
// and cached. A token may end inside a UTF-8 sequence (byte-fallback tokens): the matcher then
// carries the partial code point and allows the token when some character the grammar accepts can
// complete it.
import { type Cfg, type CharSet, charSetHas } from "./gbnf";

const END = 0, CHARS = 1, RULE = 2;

/** A matcher state: the ready stacks (tops on a character set), whether the grammar may end here, and a partial UTF-8 sequence. */
export interface MatchState {
  /** dense id (index into the engine's state table) */
  id: number;
  tops: readonly number[];
  accepting: boolean;
  /** code point bits gathered so far, and continuation bytes still expected (0: none) */
  partial: number;
  need: number;
  key: string;
}

/** The vocabulary as a byte trie (shared by every grammar used with one model). */
export class TokenTrie {
  readonly size: number;
  byte: Uint8Array;
  firstChild: Int32Array;
  nextSibling: Int32Array;
  tokenHead: Int32Array; // first token ending at the node (-1), chained through tokenNext
  tokenNext: Int32Array;
  nodes = 1;

  constructor(bytes: Uint8Array, offsets: Uint32Array) {
    this.size = offsets.length - 1;
    let cap = Math.max(1024, bytes.length + 1);
    this.byte = new Uint8Array(cap);
    this.firstChild = new Int32Array(cap).fill(-1);
    this.nextSibling = new Int32Array(cap).fill(-1);
    this.tokenHead = new Int32Array(cap).fill(-1);
    this.tokenNext = new Int32Array(this.size).fill(-1);
    for (let id = 0; id < this.size; id++) {
      const a = offsets[id], b = offsets[id + 1];
      if (a === b) continue; // control tokens and empty pieces are never produced by a grammar
      let node = 0;
      for (let i = a; i < b; i++) {
        const c = bytes[i];
        let child = this.firstChild[node];
        while (child >= 0 && this.byte[child] !== c) child = this.nextSibling[child];
        if (child < 0) {
          if (this.nodes === cap) {
            cap *= 2;
            const grow = <T extends Int32Array | Uint8Array>(x: T, fill: number): T => {
              const y = new (x.constructor as new (n: number) => T)(cap);
              y.fill(fill as never);
              y.set(x);
              return y;
            };
            this.byte = grow(this.byte, 0);
            this.firstChild = grow(this.firstChild, -1);
            this.nextSibling = grow(this.nextSibling, -1);
            this.tokenHead = grow(this.tokenHead, -1);
          }
          child = this.nodes++;
          this.byte[child] = c;
          this.nextSibling[child] = this.firstChild[node];
          this.firstChild[node] = child;
        }
        node = child;
      }
      this.tokenNext[id] = this.tokenHead[node];
      this.tokenHead[node] = id;
    }
  }
}

/** A compiled grammar's matching engine: flattened rules, interned stacks, state and mask caches. */
export class GrammarEngine {
  #kind: Uint8Array;
  #arg: Int32Array; // CHARS: index into #sets; RULE: rule id
  #sets: CharSet[] = [];
  #alts: number[][];
  #nodePos: number[] = [-1];
  #nodeNext: number[] = [-1];
  #intern = new Map<number, number>(); // pos * 2^30 + next -> node id (see #node)
  #internBig = new Map<string, number>();
  #states = new Map<string, MatchState>();
  #stateList: MatchState[] = [];
  // byte transitions per state id: 0 unknown, -1 rejected, k + 1 the state with id k
  #trans: (Int32Array | undefined)[] = [];
  #masks = new Map<string, Uint32Array>();
  readonly initial: MatchState;

  constructor(cfg: Cfg) {
    const kind: number[] = [], arg: number[] = [];
    this.#alts = cfg.rules.map(() => []);
    cfg.rules.forEach((alts, r) => {
      for (const alt of alts) {
        this.#alts[r].push(kind.length);
        for (const e of alt) {
          if (e.kind === "chars") {
            kind.push(CHARS);
            arg.push(this.#sets.length);
            this.#sets.push(e);
          } else {
            kind.push(RULE);
            arg.push(e.rule);
          }
        }
        kind.push(END);
        arg.push(0);
      }
    });
    this.#kind = Uint8Array.from([...kind, END]);
    this.#arg = Int32Array.from([...arg, 0]);
    // the start: every alternative of the root, on the empty stack
    const start = this.#node(kind.length, 0); // a sentinel END position below the root
    const tops = new Set<number>();
    const flag = { accepting: false };
    for (const a of this.#alts[cfg.root]) this.#expand(this.#node(a, start), tops, flag, new Set());
    this.initial = this.#state([...tops], flag.accepting, 0, 0);
  }

  // Hash-consed stack node: (position, rest of the stack).
  #node(pos: number, next: number): number {
    const small = pos < 1 << 21 && next < 1 << 30;
    const key = pos * 1073741824 + next;
    let id = small ? this.#intern.get(key) : this.#internBig.get(`${pos},${next}`);
    if (id === undefined) {
      id = this.#nodePos.length;
      this.#nodePos.push(pos);
      this.#nodeNext.push(next);
      if (small) this.#intern.set(key, id);
      else this.#internBig.set(`${pos},${next}`, id);
    }
    return id;
  }

  // Expands rule references at the top of stack `id` until every stack waits on a character set.
  #expand(id: number, tops: Set<number>, flag: { accepting: boolean }, seen: Set<number>): void {
    for (;;) {
      if (id === 0) {
        flag.accepting = true;
        return;
      }
      if (seen.has(id)) return;
      seen.add(id);
      const pos = this.#nodePos[id];
      const k = this.#kind[pos];
      if (k === CHARS) {
        tops.add(id);
        return;
      }
      if (k === END) {
        id = this.#nodeNext[id];
        continue;
      }
      // the rest of this alternative after the rule; at its end, simply what follows (a tail call:
      // repetition rules then loop on the same stack instead of growing it)
      const cont = this.#kind[pos + 1] === END ? this.#nodeNext[id] : this.#node(pos + 1, this.#nodeNext[id]);
      for (const a of this.#alts[this.#arg[pos]]) this.#expand(this.#node(a, cont), tops, flag, seen);
      return;
    }
  }

  #state(tops: number[], accepting: boolean, partial: number, need: number): MatchState {
    tops.sort((a, b) => a - b);
    const key = `${tops.join(",")}|${accepting ? 1 : 0}|${partial}|${need}`;
    let s = this.#states.get(key);
    if (!s) {
      s = { id: this.#stateList.length, tops, accepting, partial, need, key };
      this.#stateList.push(s);
      this.#states.set(key, s);
    }
    return s;
  }

  /** Cached states and stack nodes: how much this engine has memoized. */
  get size(): number {
    return this.#stateList.length + this.#nodePos.length;
  }

  /** Whether the grammar may stop here (a complete sentence, no partial character). */
  isComplete(s: MatchState): boolean {
    return s.accepting && s.need === 0;
  }

  /** Whether the grammar can continue from here (some character is allowed). */
  canContinue(s: MatchState): boolean {
    return s.tops.length > 0;
  }

  /** The state after code point c, or null when the grammar rejects it. */
  acceptCodePoint(s: MatchState, c: number): MatchState | null {
    const tops = new Set<number>();
    const flag = { accepting: false };
    const seen = new Set<number>();
    for (const id of s.tops) {
      const pos = this.#nodePos[id];
      if (charSetHas(this.#sets[this.#arg[pos]], c)) this.#expand(this.#node(pos + 1, this.#nodeNext[id]), tops, flag, seen);
    }
    if (tops.size === 0 && !flag.accepting) return null;
    return this.#state([...tops], flag.accepting, 0, 0);
  }

  // Some character in [lo, hi] is accepted by a top of s.
  #acceptsSomeIn(s: MatchState, lo: number, hi: number): boolean {
    for (const id of s.tops) {
      const set = this.#sets[this.#arg[this.#nodePos[id]]];
      if (set.negate) {
        // the complement of the ranges intersects [lo, hi] unless the ranges cover it all
        let covered = lo;
        const r = [...set.ranges];
        const pairs: [number, number][] = [];
        for (let i = 0; i < r.length; i += 2) pairs.push([r[i], r[i + 1]]);
        pairs.sort((a, b) => a[0] - b[0]);
        for (const [a, b] of pairs) {
          if (a > covered) break;
          covered = Math.max(covered, b + 1);
        }
        if (covered <= hi) return true;
      } else {
        for (let i = 0; i < set.ranges.length; i += 2) if (set.ranges[i] <= hi && set.ranges[i + 1] >= lo) return true;
      }
    }
    return false;
  }

  /** The state after one byte of UTF-8, or null. Cached per (state, byte). */
  acceptByte(s: MatchState, b: number): MatchState | null {
    let row = this.#trans[s.id];
    if (!row) row = this.#trans[s.id] = new Int32Array(256);
    const t = row[b];
    if (t !== 0) return t < 0 ? null : this.#stateList[t - 1];
    const out = this.#computeByte(s, b);
    row[b] = out ? out.id + 1 : -1;
    return out;
  }

  #computeByte(s: MatchState, b: number): MatchState | null {
    let out: MatchState | null;
    if (s.need > 0) {
      if ((b & 0xc0) !== 0x80) out = null;
      else {
        const partial = (s.partial << 6) | (b & 0x3f), need = s.need - 1;
        if (need === 0) out = this.acceptCodePoint(s, partial);
        else {
          // still partial: viable when some accepted character starts with these bits
          const lo = partial << (6 * need), hi = lo | ((1 << (6 * need)) - 1);
          out = this.#acceptsSomeIn(s, lo, hi) ? this.#state([...s.tops], s.accepting, partial, need) : null;
        }
      }
    } else if (b < 0x80) out = this.acceptCodePoint(s, b);
    else {
      const need = b >= 0xf0 && b < 0xf8 ? 3 : b >= 0xe0 ? 2 : b >= 0xc0 ? 1 : -1;
      if (need < 0) out = null;
      else {
        const bits = b & (need === 3 ? 0x07 : need === 2 ? 0x0f : 0x1f);
        // the smallest character a sequence of this length encodes (shorter forms are overlong)
        const lo = Math.max(bits << (6 * need), need === 3 ? 0x10000 : need === 2 ? 0x800 : 0x80);
        const hi = (bits << (6 * need)) | ((1 << (6 * need)) - 1);
        out = this.#acceptsSomeIn(s, lo, hi) ? this.#state([...s.tops], s.accepting, bits, need) : null;
      }
    }
    return out;
  }

  /** The state after a token's bytes, or null when the grammar rejects them. */
  acceptBytes(s: MatchState, bytes: Uint8Array, from = 0, to = bytes.length): MatchState | null {
    let cur: MatchState | null = s;
    for (let i = from; i < to && cur; i++) cur = this.acceptByte(cur, bytes[i]);
    return cur;
  }

  /**
   * Bitmap (bit i of word i >> 5) of the tokens allowed in state s: those whose bytes keep the text a
   * valid prefix, plus `endTokens` when the grammar is complete. Cached per state.
   */
  mask(s: MatchState, trie: TokenTrie, trieId: number, endTokens: readonly number[]): Uint32Array {
    const key = `${trieId}#${s.key}`;
    const hit = this.#masks.get(key);
    if (hit) {
      this.#masks.delete(key); // LRU: move to the back
      this.#masks.set(key, hit);
      return hit;
    }
    const out = new Uint32Array((trie.size + 31) >> 5);
    // depth-first over the trie with an explicit stack of (node, state id)
    const nodes: number[] = [0], states: number[] = [s.id];
    const { firstChild, nextSibling, byte, tokenHead, tokenNext } = trie;
    while (nodes.length > 0) {
      const node = nodes.pop()!, sid = states.pop()!;
      let row = this.#trans[sid];
      if (!row) row = this.#trans[sid] = new Int32Array(256);
      for (let child = firstChild[node]; child >= 0; child = nextSibling[child]) {
        const b = byte[child];
        let t = row[b];
        if (t === 0) {
          const next = this.#computeByte(this.#stateList[sid], b);
          t = row[b] = next ? next.id + 1 : -1;
        }
        if (t < 0) continue;
        for (let k = tokenHead[child]; k >= 0; k = tokenNext[k]) out[k >> 5] |= 1 << (k & 31);
        if (firstChild[child] >= 0) {
          nodes.push(child);
          states.push(t - 1);
        }
      }
    }
    if (this.isComplete(s)) for (const t of endTokens) out[t >> 5] |= 1 << (t & 31);
    if (this.#masks.size >= 256) this.#masks.delete(this.#masks.keys().next().value as string);
    this.#masks.set(key, out);
    return out;
  }

  /** Whether the whole text is a complete sentence of the grammar. */
  matches(text: string): boolean {
    let s: MatchState | null = this.initial;
    for (const ch of text) {
      s = this.acceptCodePoint(s, ch.codePointAt(0)!);
      if (!s) return false;
    }
    return s.accepting;
  }
}
