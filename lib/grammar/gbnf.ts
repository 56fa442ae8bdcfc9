// GBNF, the grammar format of llama.cpp (its grammars/README.md): rules `name ::= alternatives`,
// alternation `|`, grouping `( )`, repetition `* + ? {m} {m,} {m,n}`, string literals with escapes,
// character classes with ranges and negation, `.` for any character, `#` comments. Parsed here
// into a context-free grammar over Unicode code points whose repetitions are rewritten as rules.
import { RingllmError } from "../errors";

/** A set of code points: inclusive ranges [lo0, hi0, lo1, hi1, ...], optionally negated. */
export interface CharSet {
  kind: "chars";
  ranges: number[];
  negate: boolean;
}
export interface RuleRef {
  kind: "rule";
  rule: number;
}
export type Element = CharSet | RuleRef;

/** rules[r] = alternatives, each a sequence of elements ([] = the empty string). */
export interface Cfg {
  names: string[];
  rules: Element[][][];
  root: number;
}

export function charSetHas(set: CharSet, c: number): boolean {
  const r = set.ranges;
  let inside = false;
  for (let i = 0; i < r.length; i += 2) {
    if (c >= r[i] && c <= r[i + 1]) {
      inside = true;
      break;
    }
  }
  return inside !== set.negate;
}

class Parser {
  #src: string;
  #at = 0;
  names: string[] = [];
  rules: (Element[][] | undefined)[] = [];
  #index = new Map<string, number>();
  #firstUse = new Map<number, number>(); // rule -> offset of its first reference
  #generated = 0;

  constructor(src: string) {
    this.#src = src;
  }

  error(message: string, at = this.#at): never {
    const before = this.#src.slice(0, at);
    const line = before.split("\n").length;
    const column = at - before.lastIndexOf("\n");
    throw new RingllmError("GRAMMAR_INVALID", `grammar ${line}:${column}: ${message}`);
  }

  ruleId(name: string, at: number): number {
    let id = this.#index.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(name);
      this.rules.push(undefined);
      this.#index.set(name, id);
    }
    if (!this.#firstUse.has(id)) this.#firstUse.set(id, at);
    return id;
  }

  newRule(base: string, alts: Element[][]): number {
    const id = this.names.length;
    this.names.push(`${base}-${++this.#generated}`);
    this.rules.push(alts);
    return id;
  }

  // Spaces, tabs and comments; newlines too when inside a group or after an operator.
  space(newlines: boolean): void {
    const s = this.#src;
    while (this.#at < s.length) {
      const c = s[this.#at];
      if (c === " " || c === "\t" || c === "\r" || (newlines && c === "\n")) this.#at++;
      else if (c === "#") {
        while (this.#at < s.length && s[this.#at] !== "\n") this.#at++;
      } else break;
    }
  }

  name(): string {
    const m = /^[A-Za-z0-9_-]+/.exec(this.#src.slice(this.#at, this.#at + 256));
    if (!m) this.error(`expected a rule name, found ${this.#describeHere()}`);
    this.#at += m[0].length;
    return m[0];
  }

  #describeHere(): string {
    return this.#at >= this.#src.length ? "the end of the grammar" : JSON.stringify(this.#src.slice(this.#at, this.#at + 12));
  }

  parse(): void {
    const s = this.#src;
    for (;;) {
      this.space(true);
      if (this.#at >= s.length) break;
      const at = this.#at;
      const name = this.name();
      this.space(false);
      if (!s.startsWith("::=", this.#at)) this.error(`expected "::=" after rule name "${name}"`);
      this.#at += 3;
      this.space(true);
      const id = this.ruleId(name, at);
      this.#firstUse.delete(id);
      if (this.rules[id] !== undefined) this.error(`rule "${name}" is defined twice`, at);
      this.rules[id] = this.alternatives(name, false);
      this.space(false);
      if (this.#at < s.length && s[this.#at] !== "\n") this.error(`unexpected ${this.#describeHere()} at the end of rule "${name}"`);
    }
  }

  alternatives(rule: string, nested: boolean): Element[][] {
    const alts: Element[][] = [this.sequence(rule, nested)];
    for (;;) {
      // an alternative may continue on the next line when that line starts with "|"
      const save = this.#at;
      this.space(true);
      if (this.#src[this.#at] !== "|") {
        this.#at = save;
        this.space(nested);
        break;
      }
      this.#at++;
      this.space(true);
      alts.push(this.sequence(rule, nested));
    }
    return alts;
  }

  sequence(rule: string, nested: boolean): Element[] {
    const s = this.#src;
    const seq: Element[] = [];
    for (;;) {
      this.space(nested);
      const c = s[this.#at];
      if (c === undefined || c === "|" || c === ")" || c === "\n") break;
      const start = seq.length;
      if (c === '"') seq.push(...this.literal());
      else if (c === "[") seq.push(this.charClass());
      else if (c === ".") {
        this.#at++;
        seq.push({ kind: "chars", ranges: [0x0a, 0x0a], negate: true });
      } else if (c === "(") {
        this.#at++;
        const alts = this.alternatives(rule, true);
        this.space(true);
        if (s[this.#at] !== ")") this.error(`expected ")" to close the group, found ${this.#describeHere()}`);
        this.#at++;
        seq.push({ kind: "rule", rule: this.newRule(rule, alts) });
      } else if (/[A-Za-z0-9_-]/.test(c)) {
        const at = this.#at;
        const name = this.name();
        this.space(false);
        if (s.startsWith("::=", this.#at)) {
          this.#at = at; // the next rule starts here: this rule ended at a newline we skipped
          break;
        }
        seq.push({ kind: "rule", rule: this.ruleId(name, at) });
      } else this.error(`unexpected ${this.#describeHere()}`);
      this.quantifier(rule, seq, start);
    }
    return seq;
  }

  // Applies a repetition operator to the last term (seq[start..]).
  quantifier(rule: string, seq: Element[], start: number): void {
    const s = this.#src;
    this.space(false);
    const c = s[this.#at];
    let min: number, max: number;
    if (c === "*") [min, max] = [0, Infinity];
    else if (c === "+") [min, max] = [1, Infinity];
    else if (c === "?") [min, max] = [0, 1];
    else if (c === "{") {
      const m = /^\{\s*(\d+)\s*(,\s*(\d*)\s*)?\}/.exec(s.slice(this.#at, this.#at + 64));
      if (!m) this.error("expected a repetition {m}, {m,} or {m,n}");
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3]);
      if (max < min) this.error(`repetition {${min},${max}}: the maximum is below the minimum`);
      if (min > 10000 || (max !== Infinity && max > 10000)) this.error("repetition counts above 10000 are not supported");
      this.#at += m[0].length - 1;
    } else return;
    this.#at++;
    const term = seq.splice(start);
    const one = term.length === 1 ? term[0] : { kind: "rule" as const, rule: this.newRule(rule, [term]) };
    for (let i = 0; i < min; i++) seq.push(one);
    if (max === Infinity) {
      // star ::= one star | ε  (right recursion: no left recursion, no nullable loop when one is not nullable)
      const star = this.newRule(rule, []);
      this.rules[star] = [[one, { kind: "rule", rule: star }], []];
      seq.push({ kind: "rule", rule: star });
    } else if (max > min) {
      // opt_k ::= one opt_{k-1} | ε, nested (max - min) times
      let tail: number | null = null;
      for (let k = 0; k < max - min; k++) {
        const alt: Element[] = tail === null ? [one] : [one, { kind: "rule", rule: tail }];
        tail = this.newRule(rule, [alt, []]);
      }
      seq.push({ kind: "rule", rule: tail! });
    }
    this.space(false);
    if ("*+?{".includes(this.#src[this.#at] ?? "x")) this.error("a repetition operator cannot follow another one");
  }

  escape(inClass: boolean): number {
    const s = this.#src;
    const c = s[this.#at++];
    const hex = (n: number) => {
      const h = s.slice(this.#at, this.#at + n);
      if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(h)) this.error(`expected ${n} hex digits after \\${c}`);
      this.#at += n;
      const v = parseInt(h, 16);
      if (v > 0x10ffff) this.error(`code point U+${h} is beyond Unicode`);
      return v;
    };
    switch (c) {
      case "x": return hex(2);
      case "u": return hex(4);
      case "U": return hex(8);
      case "t": return 9;
      case "r": return 13;
      case "n": return 10;
      case "\\": case '"': case "[": case "]": case "-": case "^":
        return c.codePointAt(0)!;
      default:
        if (inClass) return c.codePointAt(0)!;
        this.error(`unknown escape \\${c}`, this.#at - 2);
    }
  }

  literal(): CharSet[] {
    const s = this.#src;
    const open = this.#at++;
    const out: CharSet[] = [];
    for (;;) {
      if (this.#at >= s.length || s[this.#at] === "\n") this.error("unterminated string literal", open);
      const ch = s[this.#at];
      if (ch === '"') {
        this.#at++;
        break;
      }
      let cp: number;
      if (ch === "\\") {
        this.#at++;
        cp = this.escape(false);
      } else {
        cp = s.codePointAt(this.#at)!;
        this.#at += cp > 0xffff ? 2 : 1;
      }
      out.push({ kind: "chars", ranges: [cp, cp], negate: false });
    }
    return out;
  }

  charClass(): CharSet {
    const s = this.#src;
    const open = this.#at++;
    const negate = s[this.#at] === "^";
    if (negate) this.#at++;
    const ranges: number[] = [];
    const one = (): number => {
      if (this.#at >= s.length || s[this.#at] === "\n") this.error("unterminated character class", open);
      if (s[this.#at] === "\\") {
        this.#at++;
        return this.escape(true);
      }
      const cp = s.codePointAt(this.#at)!;
      this.#at += cp > 0xffff ? 2 : 1;
      return cp;
    };
    while (s[this.#at] !== "]") {
      const lo = one();
      let hi = lo;
      if (s[this.#at] === "-" && s[this.#at + 1] !== "]") {
        this.#at++;
        hi = one();
        if (hi < lo) this.error(`character range ${String.fromCodePoint(lo)}-${String.fromCodePoint(hi)} is reversed`);
      }
      ranges.push(lo, hi);
      if (this.#at >= s.length) this.error("unterminated character class", open);
    }
    this.#at++;
    return { kind: "chars", ranges, negate };
  }

  finish(root: string): Cfg {
    for (const [id, at] of this.#firstUse) {
      if (this.rules[id] === undefined) this.error(`rule "${this.names[id]}" is used but never defined`, at);
    }
    const rootId = this.#index.get(root);
    if (rootId === undefined) {
      throw new RingllmError("GRAMMAR_INVALID", `grammar: no rule named "${root}" (the start rule); define \`${root} ::= ...\``);
    }
    const cfg: Cfg = { names: this.names, rules: this.rules as Element[][][], root: rootId };
    checkLeftRecursion(cfg);
    return cfg;
  }
}

// A rule that can reach itself without consuming a character would make the matcher expand it for
// ever: refuse it, naming the rule.
function checkLeftRecursion(cfg: Cfg): void {
  const n = cfg.rules.length;
  const nullable = new Array<boolean>(n).fill(false);
  for (let changed = true; changed; ) {
    changed = false;
    for (let r = 0; r < n; r++) {
      if (nullable[r]) continue;
      if (cfg.rules[r].some((alt) => alt.every((e) => e.kind === "rule" && nullable[e.rule]))) {
        nullable[r] = changed = true;
      }
    }
  }
  // left[r]: rules r can start with (through nullable prefixes)
  const left: number[][] = cfg.rules.map((alts) => {
    const out: number[] = [];
    for (const alt of alts) {
      for (const e of alt) {
        if (e.kind !== "rule") break;
        out.push(e.rule);
        if (!nullable[e.rule]) break;
      }
    }
    return out;
  });
  const state = new Uint8Array(n); // 0 new, 1 on the path, 2 done
  const visit = (r: number, path: number[]): void => {
    state[r] = 1;
    path.push(r);
    for (const next of left[r]) {
      if (state[next] === 1) {
        const cycle = path.slice(path.indexOf(next)).map((x) => cfg.names[x].replace(/-\d+$/, ""));
        throw new RingllmError("GRAMMAR_INVALID", `grammar: left recursion through ${[...cycle, cycle[0]].join(" -> ")} (a rule reaches itself before any character); rewrite it with repetition`);
      }
      if (state[next] === 0) visit(next, path);
    }
    path.pop();
    state[r] = 2;
  };
  for (let r = 0; r < n; r++) if (state[r] === 0) visit(r, []);
}

/** Parses GBNF text; GRAMMAR_INVALID with line:column on errors. */
export function parseGbnf(text: string, root = "root"): Cfg {
  if (typeof text !== "string") throw new RingllmError("INVALID_ARGUMENT", "Grammar.fromGbnf: the grammar must be a string");
  const p = new Parser(text);
  p.parse();
  return p.finish(root);
}
