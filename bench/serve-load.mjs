// A bounded load test of `ringllm serve` on loopback: C clients send streaming chat completions
// back to back for D seconds (or R requests in all), each with its own prompt; reports requests,
// errors, latency to the first token and to the end (p50 / p99), and generated tokens per second.
//
//   node bench/serve-load.mjs [--model file.gguf] [--parallel 8] [--clients 16] [--seconds 20]
//                             [--max-requests 400] [--tokens 32] [--threads 2]
//
// Starts the server in this process (createServer on 127.0.0.1, a free port); default model: the
// embedded one.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const r = require(join(ROOT, "dist", "cjs", "index.js"));
r.setLogger(null);
const { values: a } = parseArgs({
  options: {
    model: { type: "string" }, parallel: { type: "string", default: "8" }, clients: { type: "string", default: "16" },
    seconds: { type: "string", default: "20" }, "max-requests": { type: "string", default: "400" }, tokens: { type: "string", default: "32" },
    threads: { type: "string", default: "2" },
  },
});
const CLIENTS = Number(a.clients), SECONDS = Number(a.seconds), MAX = Number(a["max-requests"]), TOKENS = Number(a.tokens);

const server = await r.createServer({ model: a.model, port: 0, parallel: Number(a.parallel), threads: Number(a.threads), queueLimit: 1024 });
const url = await server.listen();
await server.ready;
const topics = "cats dogs rain tea ships stars bread owls rivers clocks maps bees snow kites".split(" ");

const pct = (xs, p) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};

async function one(i) {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({
      messages: [{ role: "user", content: `Tell me about ${topics[i % topics.length]} (${i})` }], max_tokens: TOKENS, temperature: 0.7, seed: i,
      stream: true, stream_options: { include_usage: true },
    }),
  });
  if (res.status !== 200) throw new Error(`status ${res.status}`);
  let first = -1, tokens = 0, buf = "";
  const decoder = new TextDecoder();
  for await (const chunk of res.body) {
    if (first < 0) first = performance.now() - t0;
    buf += decoder.decode(chunk, { stream: true });
    for (let at = buf.indexOf("\n\n"); at >= 0; at = buf.indexOf("\n\n")) {
      const line = buf.slice(0, at);
      buf = buf.slice(at + 2);
      if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
      const ev = JSON.parse(line.slice(6));
      if (ev.error) throw new Error(ev.error.message);
      if (ev.usage) tokens = ev.usage.completion_tokens;
    }
  }
  return { first, total: performance.now() - t0, tokens };
}

const results = [], errors = [];
let sent = 0;
const start = performance.now();
const deadline = start + SECONDS * 1000;
await Promise.all(Array.from({ length: CLIENTS }, async () => {
  while (performance.now() < deadline && sent < MAX) {
    const i = sent++;
    try {
      results.push(await one(i));
    } catch (e) {
      errors.push(String(e.message ?? e));
    }
  }
}));
const secs = (performance.now() - start) / 1000;
const tokens = results.reduce((s, x) => s + x.tokens, 0);
const metrics = await (await fetch(`${url}/metrics`)).text();
console.log(JSON.stringify({
  model: a.model ?? "embedded", parallel: Number(a.parallel), clients: CLIENTS, seconds: Math.round(secs * 10) / 10, tokensPerRequest: TOKENS,
  requests: results.length, errors: errors.length, firstErrors: errors.slice(0, 3),
  requestsPerS: results.length / secs, generatedTokensPerS: tokens / secs,
  firstTokenMs: { p50: pct(results.map((x) => x.first), 50), p99: pct(results.map((x) => x.first), 99) },
  latencyMs: { p50: pct(results.map((x) => x.total), 50), p99: pct(results.map((x) => x.total), 99) },
  busyAfter: Number(/ringllm_busy_sequences (\d+)/.exec(metrics)?.[1]),
}, null, 2));
await server.close();
