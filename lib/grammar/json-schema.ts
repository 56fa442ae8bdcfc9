// JSON Schema -> GBNF, accepting the language llama.cpp's json-schema-to-grammar converter accepts
// (as its grammars/README.md documents): compact JSON with optional whitespace between tokens
// (`space ::= | " " | "\n"{1,2} [ \t]{0,20}`), object properties in a fixed order (the schema's
// `properties` order, required ones never skipped), `additionalProperties` false unless the schema
// says otherwise, integers without leading zeros (at most 16 digits), strings with JSON escapes.
// Written here from that description; unknown keywords are ignored with a warning.
import { RingllmError } from "../errors";
import { log } from "../log";

type Schema = Record<string, unknown> | boolean;

const SPACE = 'space ::= | " " | "\\n"{1,2} [ \\t]{0,20}';

const PRIMITIVES: Record<string, string[]> = {
  boolean: ['boolean ::= ("true" | "false") space'],
  null: ['null ::= "null" space'],
  "integral-part": ["integral-part ::= [0] | [1-9] [0-9]{0,15}"],
  "decimal-part": ["decimal-part ::= [0-9]{1,16}"],
  integer: ['integer ::= ("-"? integral-part) space', "@integral-part"],
  number: ['number ::= ("-"? integral-part) ("." decimal-part)? ([eE] [-+]? integral-part)? space', "@integral-part", "@decimal-part"],
  char: ['char ::= [^"\\\\\\x7F\\x00-\\x1F] | [\\\\] (["\\\\bfnrt] | "u" [0-9a-fA-F]{4})'],
  string: ['string ::= "\\"" char* "\\"" space', "@char"],
  value: ["value ::= object | array | string | number | boolean | null", "@object", "@array", "@string", "@number", "@boolean", "@null"],
  object: ['object ::= "{" space ( string ":" space value ("," space string ":" space value)* )? "}" space', "@string", "@value"],
  array: ['array ::= "[" space ( value ("," space value)* )? "]" space', "@value"],
  date: ['date ::= [0-9]{4} "-" ( "0" [1-9] | "1" [0-2] ) "-" ( "0" [1-9] | [1-2] [0-9] | "3" [0-1] )'],
  time: ['time ::= ([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{3} )? ( "Z" | ( "+" | "-" ) ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] )'],
  "date-time": ['date-time ::= date "T" time', "@date", "@time"],
  "date-string": ['date-string ::= "\\"" date "\\"" space', "@date"],
  "time-string": ['time-string ::= "\\"" time "\\"" space', "@time"],
  "date-time-string": ['date-time-string ::= "\\"" date-time "\\"" space', "@date-time"],
  uuid: ['uuid ::= "\\"" [0-9a-fA-F]{8} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{12} "\\"" space'],
};

const KNOWN = new Set([
  "type", "properties", "required", "additionalProperties", "items", "prefixItems", "minItems", "maxItems", "enum", "const",
  "$ref", "$defs", "definitions", "anyOf", "oneOf", "allOf", "format", "pattern", "minLength", "maxLength", "minimum",
  "maximum", "exclusiveMinimum", "exclusiveMaximum", "$schema", "$id", "title", "description", "default", "examples",
  "$comment", "nullable", "readOnly", "writeOnly", "deprecated",
]);

function literal(s: string): string {
  return '"' + s.replace(/[\\"]/g, (c) => "\\" + c).replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t") + '"';
}

class Converter {
  rules = new Map<string, string>();
  #root: Record<string, unknown>;
  #refs = new Map<string, string>();
  #warned = new Set<string>();

  constructor(root: Record<string, unknown>) {
    this.#root = root;
    this.rules.set("space", SPACE);
  }

  unsupported(pointer: string, what: string): never {
    throw new RingllmError("SCHEMA_UNSUPPORTED", `JSON schema at ${pointer || "/"}: ${what}`);
  }

  primitive(name: string): string {
    if (!this.rules.has(name)) {
      const [rule, ...deps] = PRIMITIVES[name];
      this.rules.set(name, rule);
      for (const d of deps) this.primitive(d.slice(1));
    }
    return name;
  }

  // A rule name for `base` not used yet.
  name(base: string): string {
    let n = base.replace(/[^A-Za-z0-9-]+/g, "-").replace(/^-+|-+$/g, "") || "item";
    if (PRIMITIVES[n] || this.rules.has(n)) {
      let i = 1;
      while (this.rules.has(`${n}-${i}`) || PRIMITIVES[`${n}-${i}`]) i++;
      n = `${n}-${i}`;
    }
    this.rules.set(n, ""); // reserved
    return n;
  }

  add(base: string, body: string): string {
    const n = this.name(base);
    this.rules.set(n, `${n} ::= ${body}`);
    return n;
  }

  warn(pointer: string, key: string): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    log("warn", `JSON schema: keyword "${key}" (first at ${pointer || "/"}) is not supported and is ignored`);
  }

  // The schema a $ref (a JSON pointer into this schema) names.
  lookup(ref: string, pointer: string): unknown {
    if (!ref.startsWith("#")) this.unsupported(pointer, `$ref "${ref}": only references inside the schema (#/...) are supported`);
    let target: unknown = this.#root;
    for (const part of ref.slice(1).split("/").filter(Boolean)) {
      const key = decodeURIComponent(part).replace(/~1/g, "/").replace(/~0/g, "~");
      if (typeof target !== "object" || target === null || !(key in (target as object))) this.unsupported(pointer, `$ref "${ref}" points nowhere`);
      target = (target as Record<string, unknown>)[key];
    }
    return target;
  }

  resolve(ref: string, pointer: string): string {
    const hit = this.#refs.get(ref);
    if (hit) return hit;
    const target = this.lookup(ref, pointer);
    const name = this.name("ref-" + ref.split("/").pop());
    this.#refs.set(ref, name);
    const body = this.visit(target as Schema, ref.slice(1), name);
    this.rules.set(name, `${name} ::= ${body}`);
    return name;
  }

  // The GBNF expression (right-hand side) for a schema.
  visit(schema: Schema, pointer: string, base: string): string {
    if (schema === true || (typeof schema === "object" && schema !== null && Object.keys(schema).length === 0)) return this.primitive("value");
    if (schema === false) this.unsupported(pointer, "the schema `false` accepts nothing");
    if (typeof schema !== "object" || schema === null || Array.isArray(schema)) this.unsupported(pointer, "a schema must be an object or a boolean");
    const s = schema as Record<string, unknown>;
    for (const key of Object.keys(s)) if (!KNOWN.has(key)) this.warn(`${pointer}/${key}`, key);

    if (typeof s.$ref === "string") return this.resolve(s.$ref, pointer);
    if (s.const !== undefined) return `${literal(JSON.stringify(s.const))} space`;
    if (Array.isArray(s.enum)) {
      if (s.enum.length === 0) this.unsupported(pointer, "enum is empty");
      return "(" + s.enum.map((v) => literal(JSON.stringify(v))).join(" | ") + ") space";
    }
    for (const key of ["anyOf", "oneOf"] as const) {
      if (Array.isArray(s[key])) {
        const alts = (s[key] as Schema[]).map((sub, i) => this.ref(sub, `${pointer}/${key}/${i}`, `${base}-${i}`));
        return alts.join(" | ");
      }
    }
    if (Array.isArray(s.allOf)) return this.visit(this.mergeAllOf(s, pointer), pointer, base);

    let type = s.type;
    if (Array.isArray(type)) {
      return type.map((t, i) => this.ref({ ...s, type: t }, `${pointer}/type/${i}`, `${base}-${t}`)).join(" | ");
    }
    if (type === undefined) {
      if (s.properties !== undefined || s.additionalProperties !== undefined) type = "object";
      else if (s.items !== undefined || s.prefixItems !== undefined) type = "array";
      else return this.primitive("value");
    }
    switch (type) {
      case "object":
        return this.object(s, pointer, base);
      case "array":
        return this.array(s, pointer, base);
      case "string":
        return this.string(s, pointer, base);
      case "integer":
        return this.integer(s, pointer);
      case "number":
        for (const k of ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]) if (s[k] !== undefined) this.warn(`${pointer}/${k}`, `${k} on numbers`);
        return this.primitive("number");
      case "boolean":
        return this.primitive("boolean");
      case "null":
        return this.primitive("null");
      default:
        this.unsupported(`${pointer}/type`, `unknown type ${JSON.stringify(type)}`);
    }
  }

  // A rule reference for a sub-schema (a new rule unless it is a plain name already).
  ref(schema: Schema, pointer: string, base: string): string {
    const body = this.visit(schema, pointer, base);
    return /^[A-Za-z0-9-]+$/.test(body) ? body : this.add(base, body);
  }

  mergeAllOf(s: Record<string, unknown>, pointer: string): Record<string, unknown> {
    const out: Record<string, unknown> = { type: "object", properties: {}, required: [] as string[] };
    const parts = [{ ...s, allOf: undefined }, ...(s.allOf as Schema[])];
    parts.forEach((p0, i) => {
      let p = p0 as Record<string, unknown>;
      if (typeof p.$ref === "string") p = this.lookup(p.$ref, `${pointer}/allOf/${i}`) as Record<string, unknown>;
      if (typeof p !== "object" || p === null) this.unsupported(`${pointer}/allOf/${i}`, "allOf members must be object schemas");
      if (p.type !== undefined && p.type !== "object") this.unsupported(`${pointer}/allOf/${i}`, "allOf is supported for object schemas");
      Object.assign(out.properties as object, p.properties ?? {});
      (out.required as string[]).push(...((p.required as string[]) ?? []));
      if (p.additionalProperties !== undefined) out.additionalProperties = p.additionalProperties;
    });
    return out;
  }

  object(s: Record<string, unknown>, pointer: string, base: string): string {
    const props = (s.properties ?? {}) as Record<string, Schema>;
    if (typeof props !== "object" || props === null) this.unsupported(`${pointer}/properties`, "properties must be an object");
    const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
    const names = Object.keys(props);
    // required first in schema order, then optional ones in schema order
    const order = [...names.filter((n) => required.has(n)), ...names.filter((n) => !required.has(n))];
    const kv = new Map<string, string>();
    for (const n of order) {
      const value = this.ref(props[n], `${pointer}/properties/${n}`, `${base}-${n}`);
      kv.set(n, this.add(`${base}-${n}-kv`, `${literal(JSON.stringify(n))} space ":" space ${value}`));
    }
    const addl = s.additionalProperties;
    let extra: string | null = null;
    if (addl === true || (typeof addl === "object" && addl !== null) || (addl === undefined && names.length === 0)) {
      const value = addl === true || addl === undefined ? this.primitive("value") : this.ref(addl as Schema, `${pointer}/additionalProperties`, `${base}-additional-value`);
      extra = this.add(`${base}-additional-kv`, `${this.primitive("string")} ":" space ${value}`);
    }
    const req = order.filter((n) => required.has(n)).map((n) => kv.get(n)!);
    const opt = order.filter((n) => !required.has(n)).map((n) => kv.get(n)!);
    // After the required properties: any subset of the optional ones in order, then any number of
    // additional ones, each after a comma. after[i] covers optional properties from i on.
    const m = opt.length;
    const after: string[] = new Array(m + 1);
    after[m] = extra ? this.add(`${base}-extra`, `("," space ${extra})*`) : "";
    for (let i = m - 1; i >= 0; i--) {
      const take = `"," space ${opt[i]}${after[i + 1] ? " " + after[i + 1] : ""}`;
      after[i] = this.add(`${base}-after`, after[i + 1] ? `${take} | ${after[i + 1]}` : `${take} | ""`);
    }
    let body = '"{" space';
    if (req.length > 0) {
      body += " " + req.join(' "," space ');
      if (after[0]) body += " " + after[0];
    } else if (m > 0 || extra) {
      // no leading comma before the first property present
      const first: string[] = new Array(m + 1);
      first[m] = extra ? this.add(`${base}-first`, `${extra} ("," space ${extra})*`) : "";
      for (let i = m - 1; i >= 0; i--) {
        const take = `${opt[i]}${after[i + 1] ? " " + after[i + 1] : ""}`;
        first[i] = this.add(`${base}-first`, first[i + 1] ? `${take} | ${first[i + 1]}` : take);
      }
      body += ` ${first[0]}?`;
    }
    return body + ' "}" space';
  }

  array(s: Record<string, unknown>, pointer: string, base: string): string {
    if (Array.isArray(s.prefixItems)) {
      const items = (s.prefixItems as Schema[]).map((sub, i) => this.ref(sub, `${pointer}/prefixItems/${i}`, `${base}-${i}`));
      return `"[" space ${items.join(' "," space ')} "]" space`;
    }
    const item = s.items === undefined ? this.primitive("value") : this.ref(s.items as Schema, `${pointer}/items`, `${base}-item`);
    const min = typeof s.minItems === "number" ? s.minItems : 0;
    const max = typeof s.maxItems === "number" ? s.maxItems : Infinity;
    if (max < min) this.unsupported(pointer, `maxItems ${max} is below minItems ${min}`);
    if (max === 0) return '"[" space "]" space';
    const rest = max === Infinity ? `("," space ${item})*` : `("," space ${item}){${Math.max(0, min - 1)},${max - 1}}`;
    const restMin = max === Infinity && min > 1 ? `("," space ${item}){${min - 1},}` : rest;
    const list = `${item} ${restMin}`;
    return min === 0 ? `"[" space ( ${list} )? "]" space` : `"[" space ${list} "]" space`;
  }

  string(s: Record<string, unknown>, pointer: string, base: string): string {
    const format = s.format;
    if (typeof format === "string") {
      const named: Record<string, string> = { date: "date-string", time: "time-string", "date-time": "date-time-string", uuid: "uuid" };
      if (named[format]) return this.primitive(named[format]);
      this.warn(`${pointer}/format`, `format ${format}`);
    }
    if (typeof s.pattern === "string") return `"\\"" ${this.pattern(s.pattern, `${pointer}/pattern`, base)} "\\"" space`;
    this.primitive("char");
    const min = typeof s.minLength === "number" ? s.minLength : 0;
    const max = typeof s.maxLength === "number" ? s.maxLength : Infinity;
    if (min === 0 && max === Infinity) return this.primitive("string");
    return `"\\"" char{${min},${max === Infinity ? "" : max}} "\\"" space`;
  }

  integer(s: Record<string, unknown>, pointer: string): string {
    let lo = -Infinity, hi = Infinity;
    if (typeof s.minimum === "number") lo = Math.ceil(s.minimum);
    if (typeof s.exclusiveMinimum === "number") lo = Math.max(lo, Math.floor(s.exclusiveMinimum) + 1);
    if (typeof s.maximum === "number") hi = Math.floor(s.maximum);
    if (typeof s.exclusiveMaximum === "number") hi = Math.min(hi, Math.ceil(s.exclusiveMaximum) - 1);
    if (lo === -Infinity && hi === Infinity) return this.primitive("integer");
    if (lo > hi) this.unsupported(pointer, `no integer lies in [${lo}, ${hi}]`);
    for (const v of [lo, hi]) if (Number.isFinite(v) && Math.abs(v) > 1e15) this.unsupported(pointer, "integer bounds beyond 1e15");
    return `(${intRange(lo, hi)}) space`;
  }

  // A practical subset of regular expressions: literals, escapes, classes, groups, alternation,
  // quantifiers; anchors at the ends are implied. Anything else is SCHEMA_UNSUPPORTED.
  pattern(re: string, pointer: string, base: string): string {
    let at = 0;
    const src = re.replace(/^\^/, "").replace(/\$$/, "");
    const fail = (what: string): never => this.unsupported(pointer, `pattern ${JSON.stringify(re)}: ${what}`);
    const jsonChar = (cp: number): string => {
      // characters inside a JSON string: quote, backslash and controls are written escaped
      if (cp === 0x22) return '"\\\\\\""';
      if (cp === 0x5c) return '"\\\\\\\\"';
      if (cp < 0x20) return fail("control characters are not supported");
      return literal(String.fromCodePoint(cp));
    };
    const alternation = (): string => {
      const alts = [sequence()];
      while (src[at] === "|") {
        at++;
        alts.push(sequence());
      }
      return alts.length === 1 ? alts[0] : `(${alts.join(" | ")})`;
    };
    const sequence = (): string => {
      const parts: string[] = [];
      while (at < src.length && src[at] !== "|" && src[at] !== ")") {
        let term = "";
        const c = src[at];
        if (c === "(") {
          at++;
          if (src.startsWith("?:", at)) at += 2;
          else if (src[at] === "?") fail("lookarounds and named groups are not supported");
          term = `(${alternation()})`;
          if (src[at] !== ")") fail("unclosed group");
          at++;
        } else if (c === "[") {
          const end = src.indexOf("]", at + 2);
          if (end < 0) fail("unclosed character class");
          const body = src.slice(at + 1, end).replace(/\\d/g, "0-9").replace(/\\w/g, "a-zA-Z0-9_").replace(/\\s/g, " \\t\\n");
          if (body.includes("\\p")) fail("Unicode property classes are not supported");
          term = `[${body.replace(/"/g, '\\"')}]`;
          at = end + 1;
        } else if (c === ".") {
          term = '[^"\\\\\\x00-\\x1F]';
          at++;
        } else if (c === "\\") {
          const e = src[at + 1];
          at += 2;
          const classes: Record<string, string> = { d: "[0-9]", w: "[a-zA-Z0-9_]", s: "[ \\t]", D: "[^0-9\"\\\\]", W: "[^a-zA-Z0-9_\"\\\\]", S: "[^ \\t\"\\\\]" };
          if (classes[e]) term = classes[e];
          else if (e === "b" || e === "B" || /[0-9]/.test(e)) fail(`\\${e} is not supported`);
          else term = jsonChar(e.codePointAt(0)!);
        } else if ("*+?{}".includes(c)) {
          fail(`a quantifier at offset ${at} follows nothing`);
        } else if (c === "^" || c === "$") {
          fail("anchors inside the pattern are not supported");
        } else {
          const cp = src.codePointAt(at)!;
          at += cp > 0xffff ? 2 : 1;
          term = jsonChar(cp);
        }
        const q = /^(\*|\+|\?|\{\d+(,\d*)?\})\??/.exec(src.slice(at));
        if (q) {
          at += q[0].length;
          term += q[1];
        }
        parts.push(term);
      }
      return parts.length === 0 ? '""' : parts.join(" ");
    };
    const body = alternation();
    if (at < src.length) fail(`unexpected ${JSON.stringify(src[at])} at offset ${at}`);
    return this.add(`${base}-pattern`, body);
  }
}

// GBNF alternatives for the decimal integers in [lo, hi] (bounds may be infinite), written out
// digit by digit: no leading zeros, "-0" never.
function intRange(lo: number, hi: number): string {
  const alts: string[] = [];
  if (lo < 0) {
    // negative part: -[max(1,-hi) .. -lo]
    const a = Math.max(1, hi < 0 ? -hi : 1), b = -lo;
    alts.push(`"-" (${natRange(a, b)})`);
  }
  if (hi >= 0) alts.push(natRange(Math.max(0, lo), hi));
  return alts.join(" | ");
}

// Naturals in [a, b] (b may be Infinity).
function natRange(a: number, b: number): string {
  if (b === Infinity) {
    // [a, 10^k) exactly, then any longer number
    const digits = String(a).length;
    const upper = 10 ** digits - 1;
    return `${natRange(a, upper)} | [1-9] [0-9]{${digits},15}`;
  }
  const out: string[] = [];
  const sa = String(a), sb = String(b);
  if (sa.length < sb.length) {
    out.push(sameLength(sa, "9".repeat(sa.length)));
    for (let len = sa.length + 1; len < sb.length; len++) out.push(len === 1 ? "[0-9]" : `[1-9] [0-9]{${len - 1}}`);
    out.push(sameLength("1" + "0".repeat(sb.length - 1), sb));
  } else out.push(sameLength(sa, sb));
  return out.join(" | ");
}

// Numbers with the same digit count between a and b (strings, a <= b), as alternatives.
function sameLength(a: string, b: string): string {
  if (a.length === 0) return '""';
  if (a === b) return literal(a);
  if (a[0] === b[0]) return `${literal(a[0])} (${sameLength(a.slice(1), b.slice(1))})`;
  const rest = a.length - 1;
  const alts: string[] = [];
  const any = rest === 0 ? "" : ` [0-9]{${rest}}`;
  // a[0] followed by >= a.slice(1)
  alts.push(rest === 0 ? literal(a[0]) : `${literal(a[0])} (${sameLength(a.slice(1), "9".repeat(rest))})`);
  const d0 = Number(a[0]) + 1, d1 = Number(b[0]) - 1;
  if (d0 <= d1) alts.push(`[${d0}-${d1}]${any}`);
  alts.push(rest === 0 ? literal(b[0]) : `${literal(b[0])} (${sameLength("0".repeat(rest), b.slice(1))})`);
  return alts.join(" | ");
}

/** GBNF text (root rule `root`) for a JSON schema. */
export function jsonSchemaToGbnf(schema: unknown): string {
  if (typeof schema !== "object" && typeof schema !== "boolean") {
    throw new RingllmError("SCHEMA_UNSUPPORTED", "JSON schema at /: a schema must be an object or a boolean");
  }
  if (schema === null || Array.isArray(schema)) throw new RingllmError("SCHEMA_UNSUPPORTED", "JSON schema at /: a schema must be an object or a boolean");
  const c = new Converter(typeof schema === "object" ? (schema as Record<string, unknown>) : {});
  const body = c.visit(schema as Schema, "", "root");
  const lines = [`root ::= ${body}`];
  for (const [name, rule] of c.rules) if (name !== "root" && rule) lines.push(rule);
  return lines.join("\n") + "\n";
}
