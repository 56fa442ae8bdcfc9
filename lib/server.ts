// An OpenAI-compatible HTTP server over one model (fastify): chat completions (chat templates, tools,
// JSON output through grammars), completions, embeddings, models, health and Prometheus metrics.
//
// Requests run on `parallel` contexts ("slots") of the model, which decode together in batched steps
// (native/engine/batcher.h). A slot keeps the tokens of the request it last served, and a new request
// takes the free slot sharing the longest prefix with its prompt (the prompt cache: a conversation's
// next turn decodes only what is new). More requests than slots wait in a bounded queue; beyond it,
// 503 with retry-after. A client that disconnects stops its generation at the next token.
import { createServer as createHttpServer } from "node:http";
import { basename } from "node:path";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { type ChatMessage, type ChatTool } from "./chat-template";
import { commonPrefix, splitReasoning, toolCallGrammar, withBos } from "./chat";
import type { Context, GenerateOptions, GenerateResult, GeneratedChunk, KvOptions } from "./context";
import { defaultModelPath } from "./default-model";
import { RingllmError } from "./errors";
import { Grammar } from "./grammar/index";
import { loadModel, type LoadModelOptions, type Model } from "./model";
import { parseToolCalls } from "./tool-calls";

export interface ServerOptions {
  /** A GGUF path or a loaded Model (default: the embedded model). A path is loaded after createServer returns: /health says 503 until it is. */
  model?: string | Model;
  /** Default "127.0.0.1". */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Sequences served at once (contexts of the model, batched together); default 4. */
  parallel?: number;
  /** When set, every /v1 request needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Tokens per sequence (default: the model's training context, at most 4096). */
  contextSize?: number;
  kv?: KvOptions;
  /** Worker threads of the model's batched passes (default: physical cores). */
  threads?: number;
  /** How a model given as a path is loaded onto a GPU (loadModel's gpu, gpuDevice, gpuLayers). */
  gpu?: Pick<LoadModelOptions, "gpu" | "gpuDevice" | "gpuLayers">;
  /** Requests waiting for a free sequence at most (default 64); more get 503. */
  queueLimit?: number;
  /** Largest request body in bytes (default 1 MiB); larger: 413. */
  bodyLimit?: number;
  /** Milliseconds to receive a whole request (default 30,000): slow bodies do not hold a connection. */
  requestTimeout?: number;
  /** The id /v1/models lists (default: the file name without .gguf). */
  modelName?: string;
}

interface Slot {
  ctx: Context | null;
  tokens: Uint32Array | null; // what the context holds (its prompt cache), null: unknown
  busy: boolean;
  lastUsed: number;
}

interface Metrics {
  requests: Map<string, number>; // `${endpoint} ${status}` -> count
  promptTokens: number;
  cachedPromptTokens: number;
  generatedTokens: number;
  recent: { t: number; n: number }[]; // generated tokens per completed second, last 10 s
}

type Json = Record<string, unknown>;

interface Generated {
  result: GenerateResult;
  text: string;
  chunks: GeneratedChunk[]; // with logprobs: every token's chunk
  completionTokens: number;
  cachedTokens: number;
  evictedTokens: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly type = status >= 500 ? "server_error" : "invalid_request_error",
  ) {
    super(message);
  }
}

const bad = (param: string, message: string) => new HttpError(400, message, param, "invalid_value");

function errorBody(e: HttpError): Json {
  return { error: { message: e.message, type: e.type, param: e.param, code: e.code } };
}

// ---- request validation (OpenAI's parameters; unknown fields are ignored, as OpenAI's SDKs send extras)

function num(body: Json, key: string, lo: number, hi: number, integer = false): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v < lo || v > hi || (integer && !Number.isInteger(v))) {
    throw bad(key, `${key} must be ${integer ? "an integer" : "a number"} from ${lo} to ${hi}; received ${JSON.stringify(v)?.slice(0, 40)}`);
  }
  return v;
}

function bool(body: Json, key: string): boolean | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw bad(key, `${key} must be a boolean`);
  return v;
}

function stops(body: Json): string[] {
  const v = body.stop;
  if (v === undefined || v === null) return [];
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || list.length > 4 || list.some((s) => typeof s !== "string" || s.length === 0)) {
    throw bad("stop", "stop must be a non-empty string or an array of at most 4 of them");
  }
  return list as string[];
}

function logitBias(body: Json): Record<string, number> | undefined {
  const v = body.logit_bias;
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v)) throw bad("logit_bias", "logit_bias must be an object of token id -> bias");
  const out: Record<string, number> = {};
  for (const [k, b] of Object.entries(v as Json)) {
    if (!/^\d+$/.test(k) || typeof b !== "number" || !(b >= -100 && b <= 100)) {
      throw bad("logit_bias", `logit_bias entry ${JSON.stringify(k)} must map a token id to a number from -100 to 100`);
    }
    out[k] = b === -100 ? -Infinity : b;
  }
  return out;
}

// Sampling options shared by chat and completions, in OpenAI's defaults (temperature 1, top_p 1, no top-k).
function sampling(body: Json, vocabSize: number): GenerateOptions {
  if (body.n !== undefined && body.n !== null && body.n !== 1) throw bad("n", "n must be 1: this server returns one choice per request");
  const bias = logitBias(body);
  if (bias) for (const k of Object.keys(bias)) if (Number(k) >= vocabSize) throw bad("logit_bias", `token id ${k} is outside the vocabulary (size ${vocabSize})`);
  const seed = num(body, "seed", -(2 ** 53), 2 ** 53, true);
  return {
    temperature: num(body, "temperature", 0, 2) ?? 1,
    topP: num(body, "top_p", 0, 1) ?? 1,
    topK: 0,
    minP: 0,
    presencePenalty: num(body, "presence_penalty", -2, 2),
    frequencyPenalty: num(body, "frequency_penalty", -2, 2),
    penaltyLastN: -1,
    logitBias: bias,
    seed: seed === undefined ? undefined : Math.abs(seed),
    stop: stops(body),
  };
}

function maxTokensOf(body: Json): number | undefined {
  return num(body, "max_completion_tokens", 1, 2 ** 31, true) ?? num(body, "max_tokens", 1, 2 ** 31, true);
}

function streamOptions(body: Json): { stream: boolean; usage: boolean } {
  const stream = bool(body, "stream") ?? false;
  const so = body.stream_options;
  if (so !== undefined && so !== null && (typeof so !== "object" || Array.isArray(so))) throw bad("stream_options", "stream_options must be an object");
  const usage = (so as Json | undefined)?.include_usage;
  if (usage !== undefined && typeof usage !== "boolean") throw bad("stream_options.include_usage", "stream_options.include_usage must be a boolean");
  return { stream, usage: usage === true };
}

function messagesOf(body: Json): ChatMessage[] {
  const v = body.messages;
  if (!Array.isArray(v) || v.length === 0) throw bad("messages", "messages must be a non-empty array");
  return v.map((m, i) => {
    const p = `messages[${i}]`;
    if (typeof m !== "object" || m === null || Array.isArray(m)) throw bad(p, `${p} must be an object`);
    const msg = m as Json;
    const role = msg.role === "developer" ? "system" : msg.role;
    if (typeof role !== "string" || !["system", "user", "assistant", "tool"].includes(role)) {
      throw bad(`${p}.role`, `${p}.role must be "system", "developer", "user", "assistant" or "tool"`);
    }
    let content = msg.content;
    if (Array.isArray(content)) {
      // content parts: text only
      content = content.map((part, k) => {
        const pp = part as Json;
        if (typeof pp !== "object" || pp === null || pp.type !== "text" || typeof pp.text !== "string") {
          throw bad(`${p}.content[${k}]`, `${p}.content[${k}] must be a text part { type: "text", text }: this model reads text only`);
        }
        return pp.text;
      }).join("");
    }
    const calls = msg.tool_calls;
    if (content === undefined || content === null) {
      if (role !== "assistant" || !Array.isArray(calls)) throw bad(`${p}.content`, `${p}.content must be a string`);
      content = "";
    }
    if (typeof content !== "string") throw bad(`${p}.content`, `${p}.content must be a string or an array of text parts`);
    const out: ChatMessage = { role, content };
    if (Array.isArray(calls)) {
      out.tool_calls = calls.map((c, k) => {
        const fn = (c as Json)?.function as Json | undefined;
        if (!fn || typeof fn.name !== "string") throw bad(`${p}.tool_calls[${k}]`, `${p}.tool_calls[${k}] must be { type: "function", function: { name, arguments } }`);
        let args: unknown = fn.arguments ?? "{}";
        if (typeof args === "string") {
          try {
            args = JSON.parse(args);
          } catch {
            throw bad(`${p}.tool_calls[${k}].function.arguments`, "tool call arguments must be a JSON object");
          }
        }
        return { id: typeof (c as Json).id === "string" ? ((c as Json).id as string) : undefined, type: "function", function: { name: fn.name, arguments: args as Record<string, unknown> } };
      });
    }
    if (typeof msg.tool_call_id === "string") out.tool_call_id = msg.tool_call_id;
    if (typeof msg.name === "string") out.name = msg.name;
    return out;
  });
}

function toolsOf(body: Json): { tools?: ChatTool[]; choice: string } {
  const v = body.tools;
  let tools: ChatTool[] | undefined;
  if (v !== undefined && v !== null) {
    if (!Array.isArray(v)) throw bad("tools", "tools must be an array");
    tools = v.map((t, i) => {
      const fn = (t as Json)?.function as Json | undefined;
      if ((t as Json)?.type !== "function" || !fn || typeof fn.name !== "string" || fn.name.length === 0) {
        throw bad(`tools[${i}]`, `tools[${i}] must be { type: "function", function: { name, description?, parameters? } }`);
      }
      return { type: "function", function: { name: fn.name, description: typeof fn.description === "string" ? fn.description : undefined, parameters: (fn.parameters as Record<string, unknown>) ?? undefined } };
    });
    if (tools.length === 0) tools = undefined;
  }
  const c = body.tool_choice;
  let choice = "auto";
  if (typeof c === "string") {
    if (!["auto", "none", "required"].includes(c)) throw bad("tool_choice", 'tool_choice must be "auto", "none", "required" or { type: "function", function: { name } }');
    choice = c;
  } else if (c !== undefined && c !== null) {
    const name = ((c as Json)?.function as Json | undefined)?.name;
    if (typeof name !== "string") throw bad("tool_choice", 'tool_choice must be "auto", "none", "required" or { type: "function", function: { name } }');
    if (!tools?.some((t) => t.function.name === name)) throw bad("tool_choice", `tool_choice names "${name}", which is not among the tools`);
    choice = name;
  }
  if (choice === "none") tools = undefined;
  else if (choice !== "auto" && choice !== "required") tools = tools?.filter((t) => t.function.name === choice);
  if (choice === "required" && !tools) throw bad("tool_choice", 'tool_choice "required" needs tools');
  return { tools, choice };
}

function responseFormat(body: Json): Grammar | undefined {
  const rf = body.response_format;
  if (rf === undefined || rf === null) return undefined;
  const type = (rf as Json)?.type;
  if (type === "text") return undefined;
  if (type === "json_object") return Grammar.fromJsonSchema({ type: "object" });
  if (type === "json_schema") {
    const schema = ((rf as Json).json_schema as Json | undefined)?.schema;
    if (typeof schema !== "object" || schema === null) throw bad("response_format.json_schema.schema", "response_format.json_schema.schema must be a JSON schema object");
    try {
      return Grammar.fromJsonSchema(schema);
    } catch (e) {
      if (e instanceof RingllmError) throw bad("response_format.json_schema.schema", e.message);
      throw e;
    }
  }
  throw bad("response_format.type", 'response_format.type must be "text", "json_object" or "json_schema"');
}

// ---- the server

export class Server {
  readonly #opts: Required<Pick<ServerOptions, "host" | "port" | "parallel" | "queueLimit">> & ServerOptions;
  readonly #app: FastifyInstance;
  #model: Model | null = null;
  #ownsModel = false;
  #loadError: Error | null = null;
  readonly #loading: Promise<void>;
  readonly #slots: Slot[] = [];
  readonly #waiting: { resolve: (s: Slot) => void; reject: (e: Error) => void }[] = [];
  readonly #active = new Set<AbortController>();
  #draining = false;
  #url: string | null = null;
  #contextSize = 0;
  #modelName = "ringllm";
  readonly #metrics: Metrics = { requests: new Map(), promptTokens: 0, cachedPromptTokens: 0, generatedTokens: 0, recent: [] };

  /** @internal use createServer() */
  constructor(options: ServerOptions) {
    this.#opts = { host: "127.0.0.1", port: 8080, parallel: 4, queueLimit: 64, ...options };
    const requestTimeout = options.requestTimeout ?? 30_000;
    this.#app = Fastify({
      bodyLimit: options.bodyLimit ?? 1 << 20,
      logger: false,
      return503OnClosing: true,
      // Node checks request timeouts every connectionsCheckingInterval (30 s by default): check every
      // second, so a slow body is cut off near requestTimeout (408), not up to a minute later
      serverFactory: (handler) =>
        createHttpServer({ requestTimeout, headersTimeout: requestTimeout, keepAliveTimeout: 5_000, connectionsCheckingInterval: 1_000 }, handler),
    });
    this.#routes();
    this.#loading = this.#load();
  }

  /** The base URL once listening (e.g. "http://127.0.0.1:8080"), else null. */
  get url(): string | null {
    return this.#url;
  }

  /** Resolves when the model is loaded and the first context made (rejects when loading failed). */
  get ready(): Promise<void> {
    return this.#loading;
  }

  /** Starts listening; resolves to the base URL. The model may still be loading (see ready). */
  async listen(): Promise<string> {
    const address = await this.#app.listen({ host: this.#opts.host, port: this.#opts.port });
    this.#url = address.replace("[::1]", "localhost");
    return this.#url;
  }

  /**
   * Stops accepting requests (new ones get 503), lets those in flight finish for up to `graceMs`
   * (default 10,000), cancels the rest, closes the contexts (and the model when the server loaded it).
   */
  async close(options?: { graceMs?: number }): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    for (const w of this.#waiting.splice(0)) w.reject(new HttpError(503, "the server is shutting down", null, "shutting_down"));
    const deadline = Date.now() + (options?.graceMs ?? 10_000);
    while (this.#active.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const ac of this.#active) ac.abort();
    while (this.#active.size > 0) await new Promise((r) => setTimeout(r, 10));
    await this.#app.close();
    await this.#loading.catch(() => undefined);
    for (const s of this.#slots) await s.ctx?.close();
    if (this.#ownsModel) await this.#model?.close();
  }

  async #load(): Promise<void> {
    try {
      const m = this.#opts.model;
      if (m === undefined || typeof m === "string") {
        const path = m ?? defaultModelPath();
        this.#model = await loadModel(path, this.#opts.gpu);
        this.#ownsModel = true;
        this.#modelName = this.#opts.modelName ?? basename(path).replace(/\.gguf$/i, "");
      } else {
        this.#model = m;
        this.#modelName = this.#opts.modelName ?? (typeof m.metadata["general.name"] === "string" ? (m.metadata["general.name"] as string) : "ringllm");
      }
      const trained = this.#model.hparams.contextLength ?? 2048;
      this.#contextSize = this.#opts.contextSize ?? Math.min(trained, 4096);
      for (let i = 0; i < this.#opts.parallel; i++) this.#slots.push({ ctx: null, tokens: null, busy: false, lastUsed: 0 });
      // the first context now: a bad contextSize or kv fails here, not on the first request
      this.#slots[0].ctx = await this.#newContext();
    } catch (e) {
      this.#loadError = e as Error;
      throw e;
    }
  }

  #newContext(): Promise<Context> {
    return this.#model!.createContext({ contextSize: this.#contextSize, kv: this.#opts.kv, threads: this.#opts.threads });
  }

  #count(endpoint: string, status: number): void {
    const k = `${endpoint} ${status}`;
    this.#metrics.requests.set(k, (this.#metrics.requests.get(k) ?? 0) + 1);
  }

  #tokensGenerated(n: number): void {
    this.#metrics.generatedTokens += n;
    const t = Math.floor(Date.now() / 1000);
    const r = this.#metrics.recent;
    if (r.length > 0 && r[r.length - 1].t === t) r[r.length - 1].n += n;
    else r.push({ t, n });
    while (r.length > 0 && r[0].t < t - 10) r.shift();
  }

  // A free slot, preferring the one whose cache shares the longest prefix with the prompt (then the
  // least recently used); waits in the queue when all are busy.
  async #acquire(prompt: Uint32Array, signal: AbortSignal): Promise<Slot> {
    let best: Slot | null = null;
    let bestShared = -1;
    for (const s of this.#slots) {
      if (s.busy) continue;
      const shared = s.ctx && s.tokens ? commonPrefix(s.tokens, prompt) : s.ctx ? 0 : -0.5;
      if (shared > bestShared || (shared === bestShared && best && s.lastUsed < best.lastUsed)) {
        best = s;
        bestShared = shared;
      }
    }
    if (best) {
      best.busy = true;
      return best;
    }
    if (signal.aborted) throw new HttpError(499, "the client went away");
    if (this.#waiting.length >= this.#opts.queueLimit) {
      throw new HttpError(503, `all ${this.#opts.parallel} sequences are busy and ${this.#waiting.length} requests wait; retry later`, null, "server_busy");
    }
    return new Promise<Slot>((resolve, reject) => {
      const w = { resolve, reject };
      this.#waiting.push(w);
      signal.addEventListener("abort", () => {
        const i = this.#waiting.indexOf(w);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(new HttpError(499, "the client went away"));
      }, { once: true });
    });
  }

  #release(slot: Slot): void {
    slot.lastUsed = Date.now();
    const next = this.#waiting.shift();
    if (next) next.resolve(slot);
    else slot.busy = false;
  }

  // Generates after `prompt` on a slot, reusing the slot's cached prefix. onText receives text as it comes.
  async #generate(prompt: Uint32Array, options: GenerateOptions, signal: AbortSignal, onChunk: (chunk: GeneratedChunk) => void):
  Promise<Generated> {
    if (this.#contextSize !== Infinity && prompt.length + 1 > this.#contextSize) {
      throw new HttpError(400, `This model's maximum context length is ${this.#contextSize} tokens. However, your request has ${prompt.length} prompt tokens (and needs at least one more to answer). Shorten the prompt or start the server with a larger --context-size.`, "messages", "context_length_exceeded");
    }
    const room = this.#contextSize === Infinity ? 4096 : this.#contextSize - prompt.length;
    const maxTokens = Math.min(options.maxTokens ?? room, room);
    const slot = await this.#acquire(prompt, signal);
    try {
      if (signal.aborted) throw new HttpError(499, "the client went away"); // keep the slot's cache as it is
      if (!slot.ctx) slot.ctx = await this.#newContext();
      const ctx = slot.ctx;
      let reuse = slot.tokens ? commonPrefix(slot.tokens, prompt) : 0;
      if (reuse === prompt.length) reuse--; // the last prompt token is decoded again for its logits
      try {
        if (reuse > 0) await ctx.truncate(reuse);
        else await ctx.reset();
      } catch (e) {
        if (!(e instanceof RingllmError && (e.code === "CONTEXT_REWIND" || e.code === "INVALID_ARGUMENT"))) throw e;
        reuse = 0;
        await ctx.reset();
      }
      slot.tokens = null;
      this.#metrics.promptTokens += prompt.length;
      this.#metrics.cachedPromptTokens += reuse;
      let text = "";
      let n = 0;
      const chunks: GeneratedChunk[] = [];
      const it = ctx.generate(prompt.subarray(reuse), { ...options, maxTokens, signal });
      let result: GenerateResult;
      try {
        for (;;) {
          const r = await it.next();
          if (r.done) {
            result = r.value;
            break;
          }
          n++;
          this.#tokensGenerated(1);
          text += r.value.text;
          if (options.logprobs !== undefined) chunks.push(r.value);
          onChunk(r.value);
        }
      } finally {
        // if onChunk threw, the generator is suspended at a yield: end it so the context is free
        await it.return(undefined as unknown as GenerateResult).catch(() => undefined);
      }
      slot.tokens = await ctx.tokens();
      const s = ctx.stats();
      // tokens of this sequence some layer no longer holds (ring policies, sliding-window layers)
      const held = Math.min(...s.layers.map((l) => l.held));
      return { result, text, chunks, completionTokens: n, cachedTokens: reuse, evictedTokens: Math.max(0, s.tokensProcessed - held) };
    } catch (e) {
      if (slot.ctx) slot.tokens = await slot.ctx.tokens().catch(() => null);
      throw e;
    } finally {
      this.#release(slot);
    }
  }

  #routes(): void {
    const app = this.#app;
    app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
      let e: HttpError;
      if (err instanceof HttpError) e = err;
      else if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") e = new HttpError(413, "the request body is larger than this server accepts", null, "request_too_large");
      else if (err.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") e = new HttpError(415, "send the body as application/json", null, "unsupported_media_type");
      else if (err.code === "FST_ERR_CTP_EMPTY_JSON_BODY" || err instanceof SyntaxError || (err.statusCode === 400 && /JSON/i.test(err.message))) {
        e = new HttpError(400, `the body is not valid JSON: ${err.message}`, null, "invalid_json");
      } else if (err instanceof RingllmError && ["INVALID_ARGUMENT", "GRAMMAR_INVALID", "SCHEMA_UNSUPPORTED", "CHAT_TEMPLATE_ERROR", "CONTEXT_FULL", "UNSUPPORTED"].includes(err.code)) {
        e = new HttpError(400, err.message, null, err.code.toLowerCase());
      } else if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
        e = new HttpError(err.statusCode, err.message);
      } else {
        e = new HttpError(500, `internal error: ${err.message}`, null, "internal_error");
      }
      if (e.status === 503) reply.header("retry-after", "1");
      void reply.code(e.status).send(errorBody(e));
    });
    app.setNotFoundHandler((req, reply) => {
      void reply.code(404).send(errorBody(new HttpError(404, `no route ${req.method} ${req.url.split("?")[0]}`, null, "not_found")));
    });
    app.addHook("onRequest", async (req, reply) => {
      if (this.#draining) {
        reply.header("retry-after", "1");
        return reply.code(503).send(errorBody(new HttpError(503, "the server is shutting down", null, "shutting_down")));
      }
      if (this.#opts.apiKey !== undefined && req.url.startsWith("/v1/")) {
        const auth = req.headers.authorization ?? "";
        if (auth !== `Bearer ${this.#opts.apiKey}`) {
          return reply.code(401).send(errorBody(new HttpError(401, "invalid or missing API key: send Authorization: Bearer <key>", null, "invalid_api_key")));
        }
      }
      if (req.url.startsWith("/v1/") && !this.#model) {
        reply.header("retry-after", "1");
        const msg = this.#loadError ? `the model failed to load: ${this.#loadError.message}` : "the model is still loading";
        return reply.code(503).send(errorBody(new HttpError(503, msg, null, "model_loading")));
      }
    });
    app.addHook("onResponse", async (req, reply) => {
      const endpoint = req.routeOptions.url ?? "unknown";
      if (endpoint !== "/metrics") this.#count(endpoint, reply.statusCode);
    });

    app.get("/health", async (_req, reply) => {
      if (this.#loadError) return reply.code(500).send({ status: "error", message: this.#loadError.message });
      if (!this.#model || !this.#slots[0]?.ctx) return reply.code(503).send({ status: "loading" });
      return { status: "ok" };
    });

    app.get("/metrics", async (_req, reply) => {
      const m = this.#metrics;
      const now = Math.floor(Date.now() / 1000);
      const window = m.recent.filter((r) => r.t >= now - 10 && r.t < now);
      const rate = window.reduce((a, r) => a + r.n, 0) / 10;
      const kv = this.#slots.reduce((a, s) => a + (s.ctx ? s.ctx.stats().kvUsedBytes : 0), 0);
      const lines = [
        "# HELP ringllm_prompt_tokens_total Prompt tokens of completed and running requests.",
        "# TYPE ringllm_prompt_tokens_total counter",
        `ringllm_prompt_tokens_total ${m.promptTokens}`,
        "# HELP ringllm_prompt_tokens_cached_total Prompt tokens taken from the prompt cache instead of decoded.",
        "# TYPE ringllm_prompt_tokens_cached_total counter",
        `ringllm_prompt_tokens_cached_total ${m.cachedPromptTokens}`,
        "# HELP ringllm_generated_tokens_total Tokens generated.",
        "# TYPE ringllm_generated_tokens_total counter",
        `ringllm_generated_tokens_total ${m.generatedTokens}`,
        "# HELP ringllm_generated_tokens_per_second Tokens generated per second over the last 10 s.",
        "# TYPE ringllm_generated_tokens_per_second gauge",
        `ringllm_generated_tokens_per_second ${rate}`,
        "# HELP ringllm_queue_depth Requests waiting for a free sequence.",
        "# TYPE ringllm_queue_depth gauge",
        `ringllm_queue_depth ${this.#waiting.length}`,
        "# HELP ringllm_busy_sequences Sequences serving a request.",
        "# TYPE ringllm_busy_sequences gauge",
        `ringllm_busy_sequences ${this.#slots.filter((s) => s.busy).length}`,
        "# HELP ringllm_kv_bytes KV cache bytes in use (rows written) over all sequences.",
        "# TYPE ringllm_kv_bytes gauge",
        `ringllm_kv_bytes ${kv}`,
        "# HELP ringllm_requests_total Requests by route and status.",
        "# TYPE ringllm_requests_total counter",
        ...[...m.requests].map(([k, n]) => {
          const [route, status] = k.split(" ");
          return `ringllm_requests_total{route="${route}",status="${status}"} ${n}`;
        }),
      ];
      return reply.type("text/plain; version=0.0.4").send(lines.join("\n") + "\n");
    });

    app.get("/v1/models", async () => ({
      object: "list",
      data: [{ id: this.#modelName, object: "model", created: 0, owned_by: "ringllm" }],
    }));

    app.post("/v1/chat/completions", (req, reply) => this.#chat(req, reply));
    app.post("/v1/completions", (req, reply) => this.#completion(req, reply));
    app.post("/v1/embeddings", (req) => this.#embeddings(req));
  }

  #body(req: FastifyRequest): Json {
    const b = req.body;
    if (typeof b !== "object" || b === null || Array.isArray(b)) throw new HttpError(400, "the body must be a JSON object", null, "invalid_json");
    const model = (b as Json).model;
    if (model !== undefined && typeof model !== "string") throw bad("model", "model must be a string");
    return b as Json;
  }

  // Runs a generation for an HTTP request: an AbortController tied to the client's connection,
  // SSE when streaming; `finish` builds the final response object.
  async #serve(req: FastifyRequest, reply: FastifyReply, stream: { stream: boolean; usage: boolean }, prompt: Uint32Array,
    options: GenerateOptions, chunk: (text: string, tokens: GeneratedChunk[]) => Json, finish: (r: Generated, usage: Json) => { final: Json[]; body: Json }): Promise<unknown> {
    const ac = new AbortController();
    const onClose = () => {
      if (!reply.raw.writableFinished) ac.abort();
    };
    reply.raw.on("close", onClose);
    if (reply.raw.destroyed || req.raw.socket?.destroyed) ac.abort(); // gone while the prompt was prepared
    this.#active.add(ac);
    let streaming = false;
    const send = (o: Json | string) => reply.raw.write(`data: ${typeof o === "string" ? o : JSON.stringify(o)}\n\n`);
    try {
      let unsent: GeneratedChunk[] = []; // tokens whose text is still pending (their logprobs go with the next text)
      const r = await this.#generate(prompt, options, ac.signal, (c) => {
        if (!stream.stream) return;
        if (!streaming) {
          streaming = true;
          reply.hijack();
          reply.raw.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
          send(chunk("", []));
        }
        unsent.push(c);
        if (!c.text) return;
        send(chunk(c.text, unsent));
        unsent = [];
      });
      const usage: Json = {
        prompt_tokens: prompt.length, completion_tokens: r.completionTokens, total_tokens: prompt.length + r.completionTokens,
        prompt_tokens_details: { cached_tokens: r.cachedTokens },
      };
      if (r.evictedTokens > 0) usage.evicted_tokens = r.evictedTokens;
      const { final, body } = finish(r, usage);
      if (!stream.stream) {
        if (r.evictedTokens > 0) reply.header("x-ringllm-evicted-tokens", String(r.evictedTokens));
        return reply.send(body);
      }
      if (!streaming) {
        streaming = true;
        reply.hijack();
        const headers: Record<string, string> = { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" };
        if (r.evictedTokens > 0) headers["x-ringllm-evicted-tokens"] = String(r.evictedTokens);
        reply.raw.writeHead(200, headers);
        send(chunk("", []));
      }
      for (const f of final) send(f);
      if (stream.usage) send({ ...final[final.length - 1], choices: [], usage });
      send("[DONE]");
      reply.raw.end();
      this.#count(req.routeOptions.url ?? "", 200);
    } catch (err) {
      let e = err;
      if (ac.signal.aborted && this.#draining) e = new HttpError(503, "the server is shutting down", null, "shutting_down");
      if (ac.signal.aborted && !this.#draining) {
        if (!streaming) reply.hijack();
        reply.raw.destroy();
        return;
      }
      if (streaming) {
        // the status line is gone: an error event, then the end
        const he = e instanceof HttpError ? e : new HttpError(500, (e as Error).message);
        send(errorBody(he));
        reply.raw.end();
        return;
      }
      throw e;
    } finally {
      reply.raw.off("close", onClose);
      this.#active.delete(ac);
    }
  }

  async #chat(req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const body = this.#body(req);
    const model = this.#model!;
    const messages = messagesOf(body);
    const { tools, choice } = toolsOf(body);
    const options = sampling(body, model.vocab.size);
    options.maxTokens = maxTokensOf(body);
    const wantLogprobs = bool(body, "logprobs") ?? false;
    const topLogprobs = num(body, "top_logprobs", 0, 20, true);
    if (topLogprobs !== undefined && !wantLogprobs) throw bad("top_logprobs", "top_logprobs needs logprobs: true");
    if (wantLogprobs) options.logprobs = topLogprobs ?? 0;
    const lpContent = (cs: GeneratedChunk[]) => cs.filter((c) => c.logprob !== undefined).map((c) => {
      const tok = (id: number) => {
        const t = model.tokenToText(id, { special: true });
        return { token: t, bytes: Array.from(Buffer.from(t, "utf8")) };
      };
      return { ...tok(c.token), logprob: c.logprob, top_logprobs: (c.topLogprobs ?? []).map((a) => ({ ...tok(a.token), logprob: a.logprob })) };
    });
    const stream = streamOptions(body);
    let grammar = responseFormat(body);
    const template = model.chatTemplate ?? undefined;
    if (choice !== "auto" && tools) {
      if (grammar) throw bad("response_format", "response_format and a required tool call exclude each other");
      grammar = toolCallGrammar(tools, template ?? "");
    }
    if (grammar) options.grammar = grammar;
    const text = model.renderChatTemplate(messages, { tools, addGenerationPrompt: true });
    const prompt = withBos(model, await model.tokenizeAsync(text, { addSpecial: false, parseSpecial: true }));
    const id = `chatcmpl-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    const created = Math.floor(Date.now() / 1000);
    const base = { id, object: "chat.completion.chunk", created, model: this.#modelName, system_fingerprint: "ringllm" };
    let first = true;
    return this.#serve(req, reply, stream, prompt, options,
      (t, cs) => {
        const delta: Json = first ? { role: "assistant", content: t } : { content: t };
        first = false;
        const logprobs = wantLogprobs && cs.length > 0 ? { content: lpContent(cs), refusal: null } : null;
        return { ...base, choices: [{ index: 0, delta, logprobs, finish_reason: null }] };
      },
      (r, usage) => {
        const parsed = tools ? parseToolCalls(r.text) : { content: r.text, toolCalls: [] };
        const { content, reasoning } = splitReasoning(parsed.content);
        const calls = parsed.toolCalls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.argumentsText } }));
        const finish = calls.length > 0 ? "tool_calls" : r.result.finishReason;
        const message: Json = { role: "assistant", content: calls.length > 0 && content.trim() === "" ? null : content, refusal: null };
        if (reasoning) message.reasoning_content = reasoning;
        if (calls.length > 0) message.tool_calls = calls;
        const final: Json[] = [];
        if (calls.length > 0) {
          final.push({ ...base, choices: [{ index: 0, delta: { tool_calls: calls.map((c, i) => ({ index: i, ...c })) }, logprobs: null, finish_reason: null }] });
        }
        final.push({ ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: finish }] });
        return {
          final,
          body: {
            id, object: "chat.completion", created, model: this.#modelName, system_fingerprint: "ringllm",
            choices: [{ index: 0, message, logprobs: wantLogprobs ? { content: lpContent(r.chunks), refusal: null } : null, finish_reason: finish }], usage,
          },
        };
      });
  }

  async #completion(req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const body = this.#body(req);
    const model = this.#model!;
    let p = body.prompt;
    if (Array.isArray(p) && p.length === 1 && typeof p[0] === "string") p = p[0];
    let prompt: Uint32Array;
    if (typeof p === "string") {
      prompt = await model.tokenizeAsync(p, { addSpecial: true });
    } else if (Array.isArray(p) && p.length > 0 && p.every((t) => Number.isInteger(t) && t >= 0 && t < model.vocab.size)) {
      prompt = Uint32Array.from(p as number[]);
    } else {
      throw bad("prompt", "prompt must be a string, a one-string array or an array of token ids (several prompts per request are not supported: send one request each)");
    }
    if (prompt.length === 0) throw bad("prompt", "the prompt is empty");
    if (body.suffix !== undefined && body.suffix !== null) throw bad("suffix", "suffix is not supported");
    if (body.echo === true) throw bad("echo", "echo is not supported");
    const options = sampling(body, model.vocab.size);
    options.maxTokens = num(body, "max_tokens", 0, 2 ** 31, true) ?? 16; // OpenAI's default for completions
    const lpCount = num(body, "logprobs", 0, 5, true);
    if (lpCount !== undefined) options.logprobs = lpCount;
    const legacy = (cs: GeneratedChunk[], offset: number) => {
      if (lpCount === undefined) return null;
      const tokens: string[] = [], tokenLogprobs: number[] = [], top: Record<string, number>[] = [], textOffset: number[] = [];
      for (const c of cs) {
        if (c.logprob === undefined) continue;
        const t = model.tokenToText(c.token, { special: true });
        tokens.push(t);
        tokenLogprobs.push(c.logprob);
        top.push(Object.fromEntries((c.topLogprobs ?? []).map((a) => [model.tokenToText(a.token, { special: true }), a.logprob])));
        textOffset.push(offset);
        offset += t.length;
      }
      return { tokens, token_logprobs: tokenLogprobs, top_logprobs: top, text_offset: textOffset };
    };
    let streamedChars = 0;
    const stream = streamOptions(body);
    const id = `cmpl-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    const created = Math.floor(Date.now() / 1000);
    const base = { id, object: "text_completion", created, model: this.#modelName };
    if (options.maxTokens === 0) options.maxTokens = 1; // at least one step; OpenAI answers "" here
    return this.#serve(req, reply, stream, prompt, options,
      (t, cs) => {
        const logprobs = cs.length > 0 ? legacy(cs, streamedChars) : null;
        streamedChars += t.length;
        return { ...base, choices: [{ index: 0, text: t, logprobs, finish_reason: null }] };
      },
      (r, usage) => ({
        final: [{ ...base, choices: [{ index: 0, text: "", logprobs: null, finish_reason: r.result.finishReason }] }],
        body: { ...base, choices: [{ index: 0, text: r.text, logprobs: legacy(r.chunks, 0), finish_reason: r.result.finishReason }], usage },
      }));
  }

  async #embeddings(req: FastifyRequest): Promise<unknown> {
    const body = this.#body(req);
    const model = this.#model!;
    const input = body.input;
    const texts = typeof input === "string" ? [input] : input;
    if (!Array.isArray(texts) || texts.length === 0 || texts.length > 2048 || texts.some((t) => typeof t !== "string" || t.length === 0)) {
      throw bad("input", "input must be a non-empty string or an array of 1 to 2048 non-empty strings (token arrays are not supported)");
    }
    const format = body.encoding_format ?? "float";
    if (format !== "float" && format !== "base64") throw bad("encoding_format", 'encoding_format must be "float" or "base64"');
    const dims = num(body, "dimensions", 1, 1 << 20, true);
    const width = model.hparams.embeddingLength ?? 0;
    if (dims !== undefined && dims !== width) throw bad("dimensions", `this model's embeddings have ${width} dimensions; dimensions must be ${width} or absent`);
    const tokens = (await Promise.all((texts as string[]).map((t) => model.tokenizeAsync(t, { addSpecial: true })))).reduce((a, t) => a + t.length, 0);
    const vectors = await model.embed(texts as string[], { threads: this.#opts.threads });
    this.#metrics.promptTokens += tokens;
    return {
      object: "list",
      data: vectors.map((v, index) => ({
        object: "embedding",
        index,
        embedding: format === "base64" ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") : Array.from(v),
      })),
      model: this.#modelName,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    };
  }
}

/**
 * An OpenAI-compatible server (see ServerOptions); call listen() to start it.
 *
 * @example
 * const server = await createServer({ model: "model.gguf", port: 0, parallel: 8 });
 * const url = await server.listen(); // e.g. http://127.0.0.1:41234 — use it as baseURL + "/v1"
 * await server.close();
 */
export async function createServer(options?: ServerOptions): Promise<Server> {
  const o = options ?? {};
  if (typeof o !== "object" || o === null) throw new RingllmError("INVALID_ARGUMENT", "createServer: options must be an object");
  const int = (k: keyof ServerOptions, lo: number, hi: number) => {
    const v = o[k];
    if (v !== undefined && (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi)) {
      throw new RingllmError("INVALID_ARGUMENT", `createServer: ${k} must be an integer from ${lo} to ${hi}; received ${String(v)}`);
    }
  };
  int("port", 0, 65535);
  int("parallel", 1, 256);
  int("queueLimit", 0, 1 << 20);
  int("bodyLimit", 1024, 1 << 30);
  int("requestTimeout", 1, 1 << 30);
  int("threads", 0, 1024);
  if (o.contextSize !== undefined && o.contextSize !== Infinity) int("contextSize", 16, 1 << 24);
  if (o.apiKey !== undefined && (typeof o.apiKey !== "string" || o.apiKey.length === 0)) throw new RingllmError("INVALID_ARGUMENT", "createServer: apiKey must be a non-empty string");
  if (o.host !== undefined && typeof o.host !== "string") throw new RingllmError("INVALID_ARGUMENT", "createServer: host must be a string");
  if (o.gpu !== undefined && (typeof o.gpu !== "object" || o.gpu === null)) throw new RingllmError("INVALID_ARGUMENT", "createServer: gpu must be an object ({ gpu, gpuDevice, gpuLayers })");
  return new Server(o);
}
