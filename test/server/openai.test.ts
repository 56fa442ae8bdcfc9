// The OpenAI-compatible server (lib/server.ts) driven by the official `openai` client and raw HTTP,
// on 127.0.0.1 with a random port, serving the embedded model: every endpoint, streaming with usage,
// JSON-schema output that validates, concurrency equal to one-at-a-time, disconnecting clients, a
// malformed-input battery, auth, queue limits, and `ringllm serve` draining on SIGTERM.
import { spawn } from "node:child_process";
import { request } from "node:http";
import { connect } from "node:net";
import { basename, join } from "node:path";
import Ajv from "ajv";
import OpenAI from "openai";
import { createServer, defaultModelPath, type Server, setLogger } from "../../lib/index";
import { ROOT } from "../helpers";

jest.setTimeout(120_000);

let server: Server;
let url: string;
let client: OpenAI;
beforeAll(async () => {
  setLogger(null);
  server = await createServer({ port: 0, parallel: 8, contextSize: 512, requestTimeout: 2_000 });
  url = await server.listen();
  await server.ready;
  client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 });
});
afterAll(async () => {
  await server.close({ graceMs: 1000 });
});

const ask = (content: string, extra: Record<string, unknown> = {}) =>
  client.chat.completions.create({ model: "m", messages: [{ role: "user", content }], max_tokens: 24, temperature: 0, ...extra });

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(name + " "));
  return Number(line?.split(" ")[1]);
}

// A raw HTTP request: status, headers and body text (the body written as given, any bytes).
function raw(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, url);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method, headers: { "content-type": "application/json", ...headers } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => { text += d; });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

describe("OpenAI endpoints through the official client", () => {
  test("chat completion: message, finish reason, usage", async () => {
    const c = await ask("Tell me about cats");
    expect(c.object).toBe("chat.completion");
    expect(c.choices).toHaveLength(1);
    expect(c.choices[0].message.role).toBe("assistant");
    expect(typeof c.choices[0].message.content).toBe("string");
    expect(["stop", "length"]).toContain(c.choices[0].finish_reason);
    expect(c.usage!.completion_tokens).toBeGreaterThan(0);
    expect(c.usage!.total_tokens).toBe(c.usage!.prompt_tokens + c.usage!.completion_tokens);
  });

  test("a streamed chat equals the same chat not streamed; usage arrives last when asked for", async () => {
    const whole = await ask("Tell me about dogs");
    const stream = await client.chat.completions.create({
      model: "m", messages: [{ role: "user", content: "Tell me about dogs" }], max_tokens: 24, temperature: 0, stream: true, stream_options: { include_usage: true },
    });
    let text = "";
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      const ch = chunk.choices[0];
      if (ch?.delta?.content) text += ch.delta.content;
      if (ch?.finish_reason) finish = ch.finish_reason;
    }
    expect(text).toBe(whole.choices[0].message.content);
    expect(finish).toBe(whole.choices[0].finish_reason);
    expect(usage?.completion_tokens).toBe(whole.usage!.completion_tokens);
    // the second time the prompt came from the prompt cache
    expect(usage?.prompt_tokens_details?.cached_tokens).toBeGreaterThan(0);
  });

  test("completions, models, embeddings (base64 by default, and float)", async () => {
    const c = await client.completions.create({ model: "m", prompt: "Once upon a time", max_tokens: 8, temperature: 0 });
    expect(c.object).toBe("text_completion");
    expect(c.usage!.completion_tokens).toBeGreaterThan(0);
    const models = await client.models.list();
    expect(models.data).toHaveLength(1);
    expect(models.data[0].id).toBe(basename(defaultModelPath()).replace(/\.gguf$/, "")); // the file's name
    const e = await client.embeddings.create({ model: "m", input: ["a cat", "a dog"] });
    expect(e.data).toHaveLength(2);
    const f = await client.embeddings.create({ model: "m", input: ["a cat", "a dog"], encoding_format: "float" });
    expect(f.data[1].embedding).toHaveLength(e.data[1].embedding.length);
    f.data[0].embedding.forEach((x, i) => expect(Math.abs(x - (e.data[0].embedding as number[])[i])).toBeLessThan(1e-6));
    const len = Math.sqrt(f.data[0].embedding.reduce((s, x) => s + x * x, 0));
    expect(len).toBeCloseTo(1, 4);
  });

  test("logprobs: one entry per generated token with its alternatives, streamed and not; completions' legacy form", async () => {
    const c = await ask("Tell me about owls", { logprobs: true, top_logprobs: 2, max_tokens: 8 });
    const content = c.choices[0].logprobs!.content!;
    expect(content.length).toBeGreaterThan(0);
    expect(content.length).toBeLessThanOrEqual(c.usage!.completion_tokens);
    for (const e of content) {
      expect(e.logprob).toBeLessThanOrEqual(0);
      expect(e.top_logprobs).toHaveLength(2);
      expect(Buffer.from(e.bytes!).toString("utf8")).toBe(e.token);
    }
    expect(content.map((e) => e.token).join("")).toContain(c.choices[0].message.content!.trim().slice(0, 3));
    const s = await client.chat.completions.create({
      model: "m", messages: [{ role: "user", content: "Tell me about owls" }], max_tokens: 8, temperature: 1, logprobs: true, top_logprobs: 2, stream: true,
    });
    let n = 0;
    for await (const chunk of s) n += chunk.choices[0]?.logprobs?.content?.length ?? 0;
    expect(n).toBeGreaterThan(0);
    const cmp = await client.completions.create({ model: "m", prompt: "Once upon a time", max_tokens: 6, temperature: 0, logprobs: 2 });
    const lp = cmp.choices[0].logprobs!;
    expect(lp.tokens!.length).toBe(lp.token_logprobs!.length);
    expect(lp.top_logprobs![0]).toEqual(expect.any(Object));
    expect((await raw("POST", "/v1/chat/completions", JSON.stringify({ messages: [{ role: "user", content: "x" }], top_logprobs: 2 }))).status).toBe(400);
  });

  test("response_format json_schema: the reply parses and validates", async () => {
    const schema = {
      type: "object", additionalProperties: false, required: ["answer", "score"],
      properties: { answer: { enum: ["yes", "no"] }, score: { type: "integer", minimum: 0, maximum: 9 } },
    };
    const c = await client.chat.completions.create({
      model: "m", messages: [{ role: "user", content: "Is it sunny? Answer in JSON." }], max_tokens: 300, temperature: 0,
      response_format: { type: "json_schema", json_schema: { name: "answer", schema } },
    });
    expect(c.choices[0].finish_reason).toBe("stop");
    const value = JSON.parse(c.choices[0].message.content!);
    expect(new Ajv().validate(schema, value)).toBe(true);
    const o = await client.chat.completions.create({
      model: "m", messages: [{ role: "user", content: "JSON please" }], max_tokens: 300, temperature: 0, response_format: { type: "json_object" },
    });
    // the tiny model fills an open object with whitespace until max_tokens: the reply is the start of
    // a JSON object (and parses when it ended), where the same request without the format is prose
    const text = o.choices[0].message.content!;
    expect(text.startsWith("{")).toBe(true);
    if (o.choices[0].finish_reason === "stop") expect(typeof JSON.parse(text)).toBe("object");
    const free = await client.chat.completions.create({ model: "m", messages: [{ role: "user", content: "JSON please" }], max_tokens: 20, temperature: 0 });
    expect(free.choices[0].message.content!.startsWith("{")).toBe(false);
  });
});

test("32 concurrent streaming requests with 8 sequences: all complete, each equal to the same request alone", async () => {
  const prompts = Array.from({ length: 8 }, (_, i) => `Tell me about ${["cats", "dogs", "rain", "tea", "ships", "stars", "bread", "owls"][i]}`);
  const alone: string[] = [];
  for (const p of prompts) alone.push((await ask(p, { max_tokens: 32 })).choices[0].message.content!);
  const streamed = async (p: string) => {
    const s = await client.chat.completions.create({ model: "m", messages: [{ role: "user", content: p }], max_tokens: 32, temperature: 0, stream: true });
    let text = "";
    for await (const chunk of s) text += chunk.choices[0]?.delta?.content ?? "";
    return text;
  };
  const jobs = Array.from({ length: 32 }, (_, i) => streamed(prompts[i % 8]));
  const got = await Promise.all(jobs);
  got.forEach((t, i) => expect({ i, t }).toEqual({ i, t: alone[i % 8] }));
  expect(await metric("ringllm_busy_sequences")).toBe(0);
  expect(await metric("ringllm_queue_depth")).toBe(0);
});

test("100 clients that disconnect mid-stream: sequences freed, the server keeps serving, RSS bounded", async () => {
  const before = process.memoryUsage().rss;
  const body = JSON.stringify({ model: "m", messages: [{ role: "user", content: "Tell me a long story" }], max_tokens: 400, temperature: 0.8, stream: true });
  const dropAfterFirstChunk = () => new Promise<void>((resolve, reject) => {
    const u = new URL("/v1/chat/completions", url);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: "POST", headers: { "content-type": "application/json" } }, (res) => {
      res.once("data", () => {
        req.destroy();
        resolve();
      });
    });
    req.on("error", (e) => ((e as NodeJS.ErrnoException).code === "ECONNRESET" ? resolve() : reject(e)));
    req.end(body);
  });
  for (let round = 0; round < 10; round++) await Promise.all(Array.from({ length: 10 }, dropAfterFirstChunk));
  // every generation stops within a token or so of its client leaving
  for (let i = 0; i < 100 && (await metric("ringllm_busy_sequences")) > 0; i++) await new Promise((r) => setTimeout(r, 50));
  expect(await metric("ringllm_busy_sequences")).toBe(0);
  expect(await metric("ringllm_queue_depth")).toBe(0);
  expect((await ask("Still there?")).choices[0].message.content).toEqual(expect.any(String));
  expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
});

describe("bad input: OpenAI-shaped errors with the right status, and the server keeps serving", () => {
  const chat = (body: unknown, headers?: Record<string, string>) => raw("POST", "/v1/chat/completions", typeof body === "string" ? body : JSON.stringify(body), headers);
  const msgs = [{ role: "user", content: "hi" }];
  test.each([
    ["invalid JSON", "{not json", 400, null],
    ["a JSON array body", "[1,2]", 400, null],
    ["messages of the wrong type", { messages: "hi" }, 400, "messages"],
    ["an empty messages array", { messages: [] }, 400, "messages"],
    ["an unknown role", { messages: [{ role: "wizard", content: "x" }] }, 400, "messages[0].role"],
    ["a huge max_tokens", { messages: msgs, max_tokens: 1e308 }, 400, "max_tokens"],
    ["a negative temperature", { messages: msgs, temperature: -1 }, 400, "temperature"],
    ["temperature as a string", { messages: msgs, temperature: "hot" }, 400, "temperature"],
    ["n = 2", { messages: msgs, n: 2 }, 400, "n"],
    ["too many stop strings", { messages: msgs, stop: ["a", "b", "c", "d", "e"] }, 400, "stop"],
    ["a bad response_format", { messages: msgs, response_format: { type: "xml" } }, 400, "response_format.type"],
    ["an unsupported schema", { messages: msgs, response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "object", properties: { a: { $ref: "#/nowhere" } } } } } }, 400, "response_format.json_schema.schema"],
    ["model as a number", { model: 7, messages: msgs }, 400, "model"],
  ])("%s", async (_name, body, status, param) => {
    const r = await chat(body);
    expect(r.status).toBe(status);
    const e = JSON.parse(r.text).error;
    expect(typeof e.message).toBe("string");
    expect(e.type).toBe("invalid_request_error");
    expect(e.param).toBe(param);
  });

  test("unknown fields are ignored; invalid UTF-8 is not a server error", async () => {
    const ok = await chat({ messages: msgs, max_tokens: 2, user: "u1", metadata: { a: 1 }, some_future_field: true });
    expect(ok.status).toBe(200);
    const bytes = Buffer.concat([Buffer.from('{"messages":[{"role":"user","content":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}],"max_tokens":2}')]);
    const r = await chat(bytes);
    expect(r.status).toBeLessThan(500);
  });

  test("a 10 MB body is 413; a body that never finishes is cut off; a prompt beyond the context is 400 with the counts", async () => {
    const big = await chat(JSON.stringify({ messages: [{ role: "user", content: "x".repeat(10 << 20) }] }));
    expect(big.status).toBe(413);
    expect(JSON.parse(big.text).error.code).toBe("request_too_large");
    // slow body: headers and half a body, then nothing; the 2 s request timeout ends it
    const started = Date.now();
    const status = await new Promise<string>((resolve) => {
      const u = new URL(url);
      const sock = connect(Number(u.port), u.hostname, () => {
        sock.write("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"messages\":");
      });
      let got = "";
      sock.on("data", (d) => { got += d; });
      sock.on("close", () => resolve(got.split("\r\n")[0]));
      sock.on("error", () => resolve(got.split("\r\n")[0]));
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(status === "" || /408|400/.test(status)).toBe(true);
    const long = await chat({ messages: [{ role: "user", content: "cat ".repeat(2000) }] });
    expect(long.status).toBe(400);
    const e = JSON.parse(long.text).error;
    expect(e.code).toBe("context_length_exceeded");
    expect(e.message).toMatch(/512 tokens.*\d+ prompt tokens/);
    expect((await ask("ok?")).choices).toHaveLength(1);
  });

  test("unknown routes are 404 in OpenAI's shape; /health is ok", async () => {
    const r = await raw("GET", "/v1/nothing");
    expect(r.status).toBe(404);
    expect(JSON.parse(r.text).error.code).toBe("not_found");
    expect(JSON.parse((await raw("GET", "/health")).text)).toEqual({ status: "ok" });
  });
});

test("an API key is required when set (401), a full queue is 503 with retry-after, a model that fails to load says so", async () => {
  const s = await createServer({ port: 0, parallel: 1, queueLimit: 0, apiKey: "sekret", contextSize: 2048 });
  const u = await s.listen();
  await s.ready;
  const noKey = new OpenAI({ baseURL: `${u}/v1`, apiKey: "wrong", maxRetries: 0 });
  await expect(noKey.models.list()).rejects.toMatchObject({ status: 401 });
  const good = new OpenAI({ baseURL: `${u}/v1`, apiKey: "sekret", maxRetries: 0 });
  expect((await good.models.list()).data).toHaveLength(1);
  // holds the only sequence: end-of-text banned, so it runs its 1,500 tokens
  const eos = [2, 4].map(String);
  const long = good.chat.completions.create({
    model: "m", messages: [{ role: "user", content: "a long one" }], max_tokens: 1500, temperature: 0, logit_bias: Object.fromEntries(eos.map((t) => [t, -100])),
  });
  for (let i = 0; i < 100; i++) {
    const m = await (await fetch(`${u}/metrics`)).text();
    if (/ringllm_busy_sequences 1/.test(m)) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const busy = await fetch(`${u}/v1/chat/completions`, {
    method: "POST", headers: { "content-type": "application/json", authorization: "Bearer sekret" },
    body: JSON.stringify({ messages: [{ role: "user", content: "me too" }], max_tokens: 2 }),
  });
  expect(busy.status).toBe(503);
  expect(busy.headers.get("retry-after")).toBe("1");
  expect((await long).choices).toHaveLength(1);
  await s.close();

  const broken = await createServer({ port: 0, model: join(ROOT, "no-such-model.gguf") });
  const bu = await broken.listen();
  await expect(broken.ready).rejects.toMatchObject({ code: "ENOENT" });
  expect((await fetch(`${bu}/health`)).status).toBe(500);
  const r = await fetch(`${bu}/v1/models`);
  expect(r.status).toBe(503);
  expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(/failed to load/);
  await broken.close();
});

test("an embedding model (bert): embeddings served, chat refused with a 400 that says why", async () => {
  const { writeEmbedModel } = await import("../../scripts/gguf/embed-models");
  const { tempDir } = await import("../helpers");
  const dir = tempDir("ringllm-serve-bert-");
  const file = join(dir.path, "bert.gguf");
  writeEmbedModel(file, "bert-mean");
  const s = await createServer({ port: 0, model: file, parallel: 1 });
  const u = await s.listen();
  await s.ready;
  const c = new OpenAI({ baseURL: `${u}/v1`, apiKey: "x", maxRetries: 0 });
  const e = await c.embeddings.create({ model: "bert", input: ["a cat sat on the mat", "x"] });
  expect(e.data[0].embedding).toHaveLength(64);
  await expect(c.chat.completions.create({ model: "bert", messages: [{ role: "user", content: "hi" }] })).rejects.toMatchObject({
    status: 400, message: expect.stringContaining("embedding model"),
  });
  await s.close();
  dir.cleanup();
});

test("ringllm serve: answers, then on SIGTERM finishes the request in flight and exits 0", async () => {
  const cli = join(ROOT, "dist", "cjs", "cli.js");
  const child = spawn(process.execPath, [cli, "serve", "--port", "0", "--parallel", "2", "--grace", "20"], { env: { ...process.env, NODE_NO_WARNINGS: "1" } });
  let err = "";
  child.stderr.on("data", (d) => { err += d; });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  for (let i = 0; i < 200 && !/ready/.test(err); i++) await new Promise((r) => setTimeout(r, 50));
  const base = /listening on (http:\/\/[^\s]+)/.exec(err)![1];
  const c = new OpenAI({ baseURL: `${base}/v1`, apiKey: "x", maxRetries: 0 });
  const inFlight = c.chat.completions.create({ model: "m", messages: [{ role: "user", content: "Tell me about cats" }], max_tokens: 200, temperature: 0 });
  await new Promise((r) => setTimeout(r, 30));
  child.kill("SIGTERM");
  const reply = await inFlight;
  expect(reply.choices[0].message.content).toEqual(expect.any(String));
  expect(await exited).toBe(0);
  expect(err).toMatch(/SIGTERM/);
});
