// JSON Schema grammars: on documents written in the schema's property order (the order the
// converter fixes, as llama.cpp's does) the grammar accepts exactly what ajv (a JSON Schema
// validator) accepts; generation under a schema on stories260K gives JSON that parses and
// validates; unsupported schemas are SCHEMA_UNSUPPORTED with the JSON pointer.
import Ajv from "ajv";
import { Grammar, loadModel, RingllmError, setLogger } from "../../lib/index";
import { sharedDescribe, STORIES } from "../helpers";

const ajv = new Ajv({ strict: false, validateFormats: false });

const person = {
  type: "object",
  properties: {
    name: { type: "string", minLength: 1, maxLength: 12 },
    age: { type: "integer", minimum: 0, maximum: 120 },
    email: { type: "string", maxLength: 24 },
    tags: { type: "array", items: { type: "string", maxLength: 16 }, minItems: 1, maxItems: 3 },
  },
  required: ["name", "age"],
  additionalProperties: false,
};

const schemas: [string, object, unknown[]][] = [
  ["object with required and optional properties", person, [
    { name: "Ann", age: 30 }, { name: "Ann", age: 30, email: "a@b" }, { name: "Ann", age: 30, tags: ["x"] },
    { name: "Ann", age: 30, email: "e", tags: ["x", "y", "z"] }, { name: "Ann", age: 30, tags: ["seventeen letters"] }, { name: "", age: 3 }, { name: "Ann" }, { age: 3 },
    { name: "Ann", age: -1 }, { name: "Ann", age: 121 }, { name: "Ann", age: 3.5 }, { name: "Ann", age: 30, tags: [] },
    { name: "Ann", age: 30, tags: ["a", "b", "c", "d"] }, { name: "Ann", age: 30, nick: "x" }, { name: "abcdefghijklm", age: 1 },
  ]],
  ["enum, const, null, boolean, number", {
    type: "object",
    properties: { kind: { enum: ["a", "b", 3, null] }, v: { const: "fixed" }, ok: { type: "boolean" }, n: { type: "null" }, x: { type: "number" } },
    required: ["kind", "v", "ok", "n", "x"], additionalProperties: false,
  }, [
    { kind: "a", v: "fixed", ok: true, n: null, x: 1.5 }, { kind: 3, v: "fixed", ok: false, n: null, x: -2e10 },
    { kind: null, v: "fixed", ok: true, n: null, x: 0 }, { kind: "c", v: "fixed", ok: true, n: null, x: 1 },
    { kind: "a", v: "other", ok: true, n: null, x: 1 }, { kind: "a", v: "fixed", ok: "yes", n: null, x: 1 },
  ]],
  ["$ref/$defs, nested objects, anyOf", {
    $defs: { point: { type: "object", properties: { x: { type: "integer" }, y: { type: "integer" } }, required: ["x", "y"], additionalProperties: false } },
    type: "object",
    properties: { from: { $ref: "#/$defs/point" }, to: { anyOf: [{ $ref: "#/$defs/point" }, { type: "string" }] } },
    required: ["from", "to"], additionalProperties: false,
  }, [
    { from: { x: 1, y: 2 }, to: { x: -3, y: 4 } }, { from: { x: 1, y: 2 }, to: "home" }, { from: { x: 1 }, to: "home" },
    { from: { x: 1, y: 2 }, to: 5 }, { from: "a", to: "b" },
  ]],
  ["allOf merges object schemas (a $ref member included)", {
    $defs: { withA: { type: "object", properties: { a: { type: "integer" } }, required: ["a"] } },
    allOf: [
      { $ref: "#/$defs/withA" },
      { type: "object", properties: { b: { type: "string" } }, required: ["b"] },
    ],
  }, [{ a: 1, b: "x" }, { a: 1 }, { b: "x" }]],
  ["arrays: items, bounds, tuples", {
    type: "object",
    properties: { list: { type: "array", items: { type: "integer" }, minItems: 2 }, pair: { type: "array", prefixItems: [{ type: "string" }, { type: "boolean" }] } },
    required: ["list", "pair"], additionalProperties: false,
  }, [{ list: [1, 2], pair: ["a", true] }, { list: [1, 2, 3, 4, 5], pair: ["", false] }, { list: [1], pair: ["a", true] }]],
  ["integer ranges with negatives", {
    type: "object", properties: { t: { type: "integer", minimum: -40, maximum: 125 }, k: { type: "integer", exclusiveMinimum: 9, exclusiveMaximum: 1000 } },
    required: ["t", "k"], additionalProperties: false,
  }, [
    { t: -40, k: 10 }, { t: 0, k: 999 }, { t: 125, k: 500 }, { t: -41, k: 10 }, { t: 126, k: 10 }, { t: 7, k: 9 }, { t: 7, k: 1000 }, { t: -9, k: 99 },
  ]],
  ["additionalProperties as a schema", {
    type: "object", properties: { id: { type: "integer" } }, required: ["id"], additionalProperties: { type: "number" },
  }, [{ id: 1 }, { id: 1, score: 2.5, w: 3 }, { id: 1, name: "x" }]],
  ["string formats and patterns", {
    type: "object",
    properties: { day: { type: "string", format: "date" }, id: { type: "string", format: "uuid" }, code: { type: "string", pattern: "^[A-Z]{2}-\\d{3}$" } },
    required: ["day", "id", "code"], additionalProperties: false,
  }, [
    { day: "2024-05-17", id: "123e4567-e89b-12d3-a456-426614174000", code: "AB-123" },
    { day: "2024-13-01", id: "123e4567-e89b-12d3-a456-426614174000", code: "AB-123" },
    { day: "2024-05-17", id: "not-a-uuid", code: "AB-123" },
    { day: "2024-05-17", id: "123e4567-e89b-12d3-a456-426614174000", code: "ab-123" },
  ]],
];

const strictFormats = new Ajv({ strict: false });
strictFormats.addFormat("date", /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/);
strictFormats.addFormat("uuid", /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/);

beforeAll(() => setLogger(null));

describe.each(schemas)("%s", (_name, schema, docs) => {
  const g = Grammar.fromJsonSchema(schema);
  test.each(docs.map((d) => [JSON.stringify(d), d]))("%s: grammar agrees with ajv", (_text, doc) => {
    const valid = strictFormats.validate(schema, doc);
    expect({ doc, grammar: g.matches(JSON.stringify(doc)) }).toEqual({ doc, grammar: valid });
    // whitespace between tokens is allowed, as in llama.cpp's grammars
    if (valid) expect(g.matches(JSON.stringify(doc, null, 2))).toBe(true);
  });
});

test("property order is fixed (the schema's), and additionalProperties is false unless given", () => {
  const g = Grammar.fromJsonSchema({ type: "object", properties: { a: { type: "integer" }, b: { type: "integer" } } });
  expect(g.matches('{"a":1,"b":2}')).toBe(true);
  expect(g.matches('{"b":2}')).toBe(true);
  expect(g.matches('{}')).toBe(true);
  expect(g.matches('{"b":2,"a":1}')).toBe(false);
  expect(g.matches('{"a":1,"c":2}')).toBe(false);
  // no properties at all: any object
  expect(Grammar.fromJsonSchema({ type: "object" }).matches('{"x":[1,{"y":null}]}')).toBe(true);
  expect(Grammar.fromJsonSchema({}).matches('[1,"a",true]')).toBe(true);
});

test("unsupported schemas are SCHEMA_UNSUPPORTED with the JSON pointer; unknown keywords warn", () => {
  const code = (schema: unknown) => {
    try {
      Grammar.fromJsonSchema(schema as object);
    } catch (err) {
      expect(err).toBeInstanceOf(RingllmError);
      return `${(err as RingllmError).code}: ${(err as Error).message}`;
    }
    return "accepted";
  };
  expect(code({ type: "object", properties: { p: { type: "string", pattern: "(?=x)y" } } })).toMatch(/SCHEMA_UNSUPPORTED: .*\/properties\/p\/pattern/);
  expect(code({ type: "object", properties: { p: { $ref: "#/$defs/missing" } } })).toMatch(/SCHEMA_UNSUPPORTED: .*\/properties\/p: \$ref "#\/\$defs\/missing" points nowhere/);
  expect(code({ type: "array", items: { type: "widget" } })).toMatch(/SCHEMA_UNSUPPORTED: .*\/items\/type: unknown type "widget"/);
  expect(code({ type: "integer", minimum: 5, maximum: 1 })).toMatch(/no integer lies/);
  expect(code({ $ref: "http://example.com/s.json" })).toMatch(/only references inside the schema/);
  expect(code(null)).toMatch(/SCHEMA_UNSUPPORTED/);
  const warnings: string[] = [];
  setLogger((level, message) => level === "warn" && warnings.push(message));
  Grammar.fromJsonSchema({ type: "string", contentEncoding: "base64" });
  setLogger(null);
  expect(warnings.join()).toMatch(/"contentEncoding".*ignored/);
});

sharedDescribe("generation under a grammar on stories260K", [STORIES], () => {
  test("JSON schema: output parses and validates, greedy and sampled", async () => {
    const model = await loadModel(STORIES);
    const ctx = await model.createContext({ threads: 1, contextSize: 1024 });
    const validate = ajv.compile(person);
    for (const [temperature, seed] of [[0, 0], [0.8, 1], [0.8, 2], [1.2, 3]]) {
      let text = "";
      const it = ctx.generate("Once upon a time", { jsonSchema: person, temperature, seed, maxTokens: 500 });
      let r = await it.next();
      while (!r.done) {
        text += r.value.text;
        r = await it.next();
      }
      expect(r.value.finishReason).toBe("stop");
      const doc = JSON.parse(text);
      expect({ doc, valid: validate(doc) }).toEqual({ doc, valid: true });
      await ctx.reset();
    }
    await model.close();
  });

  test("maxTokens before the grammar completes: the partial text, finishReason length, no throw", async () => {
    const model = await loadModel(STORIES);
    const ctx = await model.createContext({ threads: 1, contextSize: 1024 });
    const g = Grammar.fromGbnf('root ::= "[" [a-z ]+ "]"');
    let text = "";
    const it = ctx.generate("Once", { grammar: g, temperature: 0, maxTokens: 4 });
    let r = await it.next();
    while (!r.done) {
      text += r.value.text;
      r = await it.next();
    }
    expect(r.value.finishReason).toBe("length");
    expect(text.startsWith("[")).toBe(true);
    expect(g.matches(text)).toBe(false);
    expect(g.matches(text + "]")).toBe(true);
    // a finite grammar stops by itself
    let yes = "";
    for await (const c of ctx.generate(" and", { grammar: Grammar.fromGbnf('root ::= " yes" | " no"'), temperature: 0 })) yes += c.text;
    expect([" yes", " no"]).toContain(yes); // the leading space is kept: the text continues the prompt
    await expect(async () => {
      for await (const _ of ctx.generate("x", { grammar: "root ::= x" as unknown as Grammar })) void _;
    }).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await model.close();
  });
});
