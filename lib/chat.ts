// Chat sessions: a conversation over one context that evaluates, each turn, only what the cache
// does not hold yet.
//
// Full caches: the conversation is rendered whole each turn; the context rewinds to the longest
// common token prefix of that rendering and what it holds, and decodes the rest (a template that
// rewrites history costs a partial re-evaluation, never a wrong cache). When the next turn would
// not fit, the oldest turns after the system message are dropped (truncatedTurns says so).
// Ring caches (window, sinks, h2o, recall) cannot rewind once they evict: the chat only appends the
// difference between two renderings of the last turns, so a turn costs the same at turn 1,000 as
// at turn 1; keepSystem pins the system prompt as the sinks of a sinks cache.
import { readFile, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

import {
  type ApplyChatTemplateOptions,
  type ChatMessage,
  type ChatTool,
  checkMessages,
  defaultChatFormat,
  resolveTemplate,
  templateSupportsSystem,
} from "./chat-template";
import type { Context, ContextOptions, GenerateOptions, GenerateResult } from "./context";
import { describe, RingllmError } from "./errors";
import { log } from "./log";
import type { Model } from "./model";
import { Grammar } from "./grammar/index";
import { jsonSchemaToGbnf } from "./grammar/json-schema";
import { partialMarkerLength } from "./text";
import { parseToolCalls, type ToolCall } from "./tool-calls";
import { checkOptions, isBoolean } from "./validate";

export interface ChatOptions extends ContextOptions {
  /** system prompt, the first message of the conversation */
  system?: string;
  /** Jinja source or a built-in format name (default: the model's tokenizer.chat_template) */
  template?: string;
  /**
   * Keep the system prompt in the cache forever: the context uses the "sinks" policy with the
   * system prompt's tokens as its sinks (kv.sinks is set to their count unless given).
   */
  keepSystem?: boolean;
  /** tools offered on every turn (OpenAI function format); send() may override */
  tools?: ChatTool[];
}

export interface ChatSendOptions extends GenerateOptions {
  /** tools offered on this turn (default: the chat's) */
  tools?: ChatTool[];
  /**
   * "auto" (default): the template lists the tools; "none": it lists none; "required" or a tool's
   * name: it lists them (only that one for a name) and the reply is constrained by a grammar to one
   * call in the template's format (Hermes/Qwen `<tool_call>`, Mistral `[TOOL_CALLS]`, Llama 3.1 JSON),
   * its arguments following the tool's parameter schema.
   */
  toolChoice?: "auto" | "none" | "required" | (string & {});
  /** more template variables for this turn (e.g. { enable_thinking: false }) */
  extra?: Record<string, unknown>;
}

/** A piece of the streamed reply: `text` is answer text, `reasoning` thinking text (either may be ""). */
export interface ChatChunk {
  token: number;
  text: string;
  reasoning: string;
}

export interface ChatReply {
  role: "assistant";
  /** the answer, without thinking text, end-of-turn markers or tool-call markup */
  content: string;
  /** text inside the template's thinking markers (<think>…</think>), when the model wrote any */
  reasoning?: string;
  toolCalls?: ToolCall[];
  /** "stop": end of turn; "length": maxTokens or the context's end; "toolCalls": the reply calls tools; "abort" */
  finishReason: "stop" | "length" | "toolCalls" | "abort";
}

/** A saved chat (chat.save()): the conversation, the context's state, and the chat's own counters. */
export interface ChatSnapshot {
  messages: ChatMessage[];
  /** the context's saved state (ctx.saveState()) */
  state: Buffer;
  /** whether the last reply's end-of-turn marker is in the cache, and the turns so far */
  chat: { endInCache: boolean; turns: number };
}

export interface ChatStats {
  /** tokens of the rendered conversation found in the cache, summed over turns */
  reusedTokens: number;
  /** tokens decoded for prompts (new messages and template glue), summed over turns */
  evaluatedTokens: number;
  /** turns dropped from the start of the conversation to fit a full cache */
  truncatedTurns: number;
  /** tokens generated, summed over turns */
  generatedTokens: number;
  turns: number;
}

type Markers = readonly [open: string, close: string];
const emptyStats = (): ChatStats => ({ reusedTokens: 0, evaluatedTokens: 0, truncatedTurns: 0, generatedTokens: 0, turns: 0 });

const THINK: readonly Markers[] = [
  ["<think>", "</think>"],
  ["<thinking>", "</thinking>"],
];

// Splits streamed text into reasoning (inside thinking markers) and answer text, holding back a
// partial marker until it is decided.
class ReasoningSplitter {
  #inside: Markers | null;
  #held = "";
  constructor(startInside: Markers | null) {
    this.#inside = startInside;
  }
  push(text: string, final = false): { text: string; reasoning: string } {
    let s = this.#held + text;
    this.#held = "";
    let out = "";
    let reasoning = "";
    for (;;) {
      if (this.#inside) {
        const close = this.#inside[1];
        const at = s.indexOf(close);
        if (at >= 0) {
          reasoning += s.slice(0, at);
          s = s.slice(at + close.length);
          this.#inside = null;
          continue;
        }
        const keep = final ? 0 : partialMarkerLength(s, [close]);
        reasoning += s.slice(0, s.length - keep);
        this.#held = s.slice(s.length - keep);
        break;
      }
      let first: [number, Markers] | null = null;
      for (const pair of THINK) {
        const at = s.indexOf(pair[0]);
        if (at >= 0 && (!first || at < first[0])) first = [at, pair];
      }
      if (first) {
        out += s.slice(0, first[0]);
        s = s.slice(first[0] + first[1][0].length);
        this.#inside = first[1];
        continue;
      }
      const keep = final ? 0 : partialMarkerLength(s, THINK.map((p) => p[0]));
      out += s.slice(0, s.length - keep);
      this.#held = s.slice(s.length - keep);
      break;
    }
    return { text: out, reasoning };
  }
}

type TurnPlan =
  | { kind: "full"; messages: ChatMessage[]; tokens: Uint32Array; prompt: string; dropped: number }
  | { kind: "append"; text: string; prompt: string };

/** @internal A rendering's tokens start with BOS when the vocabulary asks for it and the template did not write it. */
export function withBos(model: Model, ids: Uint32Array): Uint32Array {
  const { addBos, bos } = model.vocab;
  if (!addBos || bos === null || ids[0] === bos) return ids;
  const out = new Uint32Array(ids.length + 1);
  out[0] = bos;
  out.set(ids, 1);
  return out;
}

/** @internal Length of the common prefix of two token lists. */
export function commonPrefix(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

function commonTextPrefix(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

/**
 * A conversation with a model over one context. Create with `model.createChat()`.
 *
 * @example
 * const chat = await model.createChat({ system: "You are terse." });
 * for await (const { text } of chat.send("Hi!")) process.stdout.write(text);
 * const reply = await chat.ask("And then?");
 */
export class Chat {
  #model: Model;
  #ctx: Context;
  #template: string;
  #tools: ChatTool[] | undefined;
  #messages: ChatMessage[] = [];
  #system: ChatMessage | null;
  #lastReply: ChatReply | null = null;
  #stats = emptyStats();
  #endText = "";  // the template's end-of-turn marker after an assistant message ("<|im_end|>")
  #stopId: number | null = null;  // the marker as one control token, when it is one
  #appendOnly: boolean;
  // what the cache holds after the last turn (append mode): did the end-of-turn marker make it in
  #endInCache = true;
  #busy = false;
  #closed = false;

  /** @internal use model.createChat() */
  constructor(model: Model, ctx: Context, options: { system?: string; template: string; tools?: ChatTool[] }) {
    this.#model = model;
    this.#ctx = ctx;
    this.#template = options.template;
    this.#tools = options.tools;
    this.#system = options.system !== undefined ? { role: "system", content: options.system } : null;
    if (this.#system) this.#messages.push(this.#system);
    this.#appendOnly = ctx.contextSize === Infinity;
    this.#findEndOfTurn();
  }

  /** The conversation so far (a copy): system, user, assistant and tool messages. */
  get messages(): ChatMessage[] {
    return this.#messages.map((m) => ({ ...m }));
  }

  /** The last assistant reply, or null before the first. */
  get lastReply(): ChatReply | null {
    return this.#lastReply;
  }

  /** The context the chat runs in (its stats(), kvSlots()). */
  get context(): Context {
    return this.#ctx;
  }

  stats(): ChatStats {
    return { ...this.#stats };
  }

  #render(messages: ChatMessage[], addGenerationPrompt: boolean, extra?: Omit<ApplyChatTemplateOptions, "template">): string {
    return this.#model.renderChatTemplate(messages, { template: this.#template, addGenerationPrompt, ...extra });
  }

  // Off the main thread: a long conversation's rendering is tokenized again every turn.
  async #tokenize(text: string, atStart: boolean): Promise<Uint32Array> {
    const ids = await this.#model.tokenizeAsync(text, { addSpecial: false, parseSpecial: true });
    return atStart ? withBos(this.#model, ids) : ids;
  }

  // The end-of-turn marker: what the template writes right after an assistant message's content.
  #findEndOfTurn(): void {
    const probe = "\u0001ringllm-reply\u0001";
    let after = "";
    try {
      const text = this.#render([{ role: "user", content: "hi" }, { role: "assistant", content: probe }], false);
      const at = text.lastIndexOf(probe);
      if (at >= 0) after = text.slice(at + probe.length);
    } catch {
      // a template that cannot render this probe: the vocabulary's end tokens still stop a reply
    }
    this.#endText = after.trimEnd();
    if (this.#endText) {
      const t = this.#model.tokenize(this.#endText, { addSpecial: false, parseSpecial: true });
      if (t.length > 0 && this.#model.vocab.isControl(t[0])) this.#stopId = t[0]; // "<|im_end|>", "<|eot_id|>"
    }
  }

  #checkLive(fn: string): void {
    if (this.#closed) throw new RingllmError("CONTEXT_CLOSED", `${fn}: the chat was closed; create a new one`);
    if (this.#busy) throw new RingllmError("CONTEXT_BUSY", `${fn}: a reply is still being generated; wait for it (or abort it) first`);
  }

  /**
   * Adds a message (text = a user message) and streams the assistant's reply. The reply is added
   * to `messages` and `lastReply` when the stream ends (also when the loop breaks early or the
   * signal aborts; then finishReason is "abort").
   */
  send(input: string | ChatMessage | ChatMessage[], options?: ChatSendOptions): AsyncGenerator<ChatChunk, ChatReply, undefined> {
    this.#checkLive("send");
    const incoming: ChatMessage[] =
      typeof input === "string" ? [{ role: "user", content: input }] : Array.isArray(input) ? input : [input];
    checkMessages("send", incoming);
    if (incoming.length === 0) throw new RingllmError("INVALID_ARGUMENT", "send: give a message (a string, a message or an array of messages)");
    const { tools: toolsOpt, toolChoice, extra, ...generate } = options ?? {};
    if (toolChoice !== undefined && typeof toolChoice !== "string") {
      throw new RingllmError("INVALID_ARGUMENT", `send: toolChoice must be "auto", "none", "required" or a tool name; received ${describe(toolChoice)}`);
    }
    let tools = toolsOpt ?? this.#tools;
    if (tools !== undefined && !Array.isArray(tools)) throw new RingllmError("INVALID_ARGUMENT", `send: tools must be an array; received ${describe(tools)}`);
    if (toolChoice === "none") tools = undefined;
    else if (toolChoice && toolChoice !== "auto" && toolChoice !== "required") {
      tools = (tools ?? []).filter((t) => t?.function?.name === toolChoice);
      if (tools.length === 0) throw new RingllmError("INVALID_ARGUMENT", `send: toolChoice names "${toolChoice}", which is not among the tools`);
    }
    const renderExtra = { tools: tools && tools.length > 0 ? tools : undefined, extra };
    const mustCall = toolChoice !== undefined && toolChoice !== "auto" && toolChoice !== "none" && renderExtra.tools !== undefined;
    // the reply must be a call: constrained by a grammar in the template's tool-call format
    if (mustCall && generate.grammar === undefined && generate.jsonSchema === undefined) generate.grammar = toolCallGrammar(tools!, this.#template);
    return this.#run(incoming, renderExtra, generate, mustCall);
  }

  /** Sends a message and resolves with the whole reply. */
  async ask(input: string | ChatMessage | ChatMessage[], options?: ChatSendOptions): Promise<ChatReply> {
    const it = this.send(input, options);
    for (;;) {
      const r = await it.next();
      if (r.done) return r.value;
    }
  }

  // What to evaluate for a turn: the prompt tokens and, for a full cache, the messages kept.
  async #plan(
    incoming: ChatMessage[],
    renderExtra: Omit<ApplyChatTemplateOptions, "template">,
    maxTokens: number,
  ): Promise<TurnPlan> {
    if (this.#appendOnly && this.#stats.turns > 0) {
      // The difference between two renderings of the last turns: system + last exchange (+ new).
      const tail = this.#tail();
      const before = this.#render(tail, false, renderExtra);
      const after = this.#render([...tail, ...incoming], true, renderExtra);
      // what follows the end-of-turn marker in the rendering (and the marker, when the reply lacks it)
      let sep = "";
      const end = this.#endText ? before.lastIndexOf(this.#endText) : -1;
      if (end >= 0) sep = before.slice(end + this.#endText.length);
      if (!this.#endInCache && this.#endText) sep = this.#endText + sep;
      const same = commonTextPrefix(before, after);
      if (same < before.length) log("debug", "chat: the template rewrote earlier turns; appending from where the renderings differ");
      return { kind: "append", text: sep + after.slice(same), prompt: after };
    }
    let messages = [...this.#messages, ...incoming];
    let prompt = this.#render(messages, true, renderExtra);
    let tokens = await this.#tokenize(prompt, true);
    let dropped = 0;
    const size = this.#ctx.contextSize;
    if (size !== Infinity) {
      const reserve = Math.min(maxTokens, Math.floor(size / 4));
      const first = this.#system ? 1 : 0;
      while (tokens.length + reserve > size) {
        // drop the oldest turn after the system message: a user message and what answered it
        let cut = first + 1;
        while (cut < messages.length - incoming.length && messages[cut].role !== "user") cut++;
        if (cut >= messages.length - incoming.length + 1 || messages.length - incoming.length <= first) {
          throw new RingllmError(
            "CONTEXT_FULL",
            `send: the message needs ${tokens.length} tokens (+${reserve} for the reply) but the context holds ${size}; ` +
              "create the chat with a larger contextSize",
          );
        }
        messages = [...messages.slice(0, first), ...messages.slice(cut)];
        dropped++;
        prompt = this.#render(messages, true, renderExtra);
        tokens = await this.#tokenize(prompt, true);
      }
    }
    return { kind: "full", messages, tokens, prompt, dropped };
  }

  // The system message and the last exchange (from the last user message on).
  #tail(): ChatMessage[] {
    let i = this.#messages.length - 1;
    while (i > 0 && this.#messages[i].role !== "user") i--;
    const from = Math.max(i, this.#system ? 1 : 0);
    return [...(this.#system ? [this.#system] : []), ...this.#messages.slice(from)];
  }

  async *#run(
    incoming: ChatMessage[],
    renderExtra: Omit<ApplyChatTemplateOptions, "template">,
    generate: GenerateOptions,
    mustCall: boolean,
  ): AsyncGenerator<ChatChunk, ChatReply, undefined> {
    this.#checkLive("send");
    // Rendered before anything is evaluated: a template error leaves the context as it was.
    this.#busy = true;
    let plan: TurnPlan;
    try {
      plan = await this.#plan(incoming, renderExtra, generate.maxTokens ?? 256);
    } catch (err) {
      this.#busy = false;
      throw err;
    }
    const ctx = this.#ctx;
    let feed: Uint32Array;
    let split = new ReasoningSplitter(null);
    const reply = { text: "", reasoning: "" };
    // what the splitter still holds back (a partial marker) joins the reply at its end
    const flush = () => {
      const last = split.push("", true);
      reply.text += last.text;
      reply.reasoning += last.reasoning;
      return last;
    };
    let generated = 0;
    let reuse = -1;
    let finish: GenerateResult | null = null;
    let aborted = false;
    try {
      if (plan.kind === "full") {
        const held = await ctx.tokens();
        reuse = held ? commonPrefix(held, plan.tokens) : 0;
        if (reuse === plan.tokens.length) reuse--;  // the last token is decoded again for its logits
        try {
          await ctx.truncate(reuse);
        } catch (err) {
          if (!(err instanceof RingllmError && err.code === "CONTEXT_REWIND")) throw err;
          reuse = 0;
          await ctx.reset();
        }
        feed = plan.tokens.subarray(reuse);
        this.#stats.reusedTokens += reuse;
      } else {
        feed = await this.#tokenize(plan.text, false);
        if (feed.length === 0) feed = await this.#tokenize("\n", false);
      }
      this.#stats.evaluatedTokens += feed.length;
      // a generation prompt that opens a thinking block starts the reply inside it
      const startInside = THINK.find(([open, close]) => {
        const o = plan.prompt.lastIndexOf(open);
        return o >= 0 && plan.prompt.indexOf(close, o) < 0;
      });
      split = new ReasoningSplitter(startInside ?? null);
      const end = this.#stopId ?? (this.#endText || null);
      const stop = end === null ? generate.stop : [...(generate.stop ?? []), end];
      const it = ctx.generate(feed, { ...generate, stop });
      try {
        for (;;) {
          const r = await it.next();
          if (r.done) {
            finish = r.value;
            break;
          }
          generated++;
          const part = split.push(r.value.text);
          reply.text += part.text;
          reply.reasoning += part.reasoning;
          if (part.text || part.reasoning) yield { token: r.value.token, text: part.text, reasoning: part.reasoning };
        }
      } catch (err) {
        if (err instanceof RingllmError && err.code === "CONTEXT_FULL" && generated > 0) finish = { finishReason: "length" };
        else throw err;
      } finally {
        if (!finish) {
          aborted = true;
          await it.return?.(undefined as unknown as GenerateResult);
        }
      }
      const last = flush();
      if (last.text || last.reasoning) yield { token: -1, text: last.text, reasoning: last.reasoning };
    } catch (err) {
      this.#busy = false;
      if (generated === 0) {
        // nothing of the turn is kept: the conversation, and a full cache, are as they were
        if (reuse >= 0) await ctx.truncate(reuse).catch(() => undefined);
        throw err;
      }
      aborted = true;
      flush();
      this.#finishTurn(incoming, plan, reply, generated, null, mustCall, generate.stop);
      throw err;
    } finally {
      if (aborted && this.#busy) {
        // the consumer broke out of the loop: keep what was generated
        flush();
        this.#finishTurn(incoming, plan, reply, generated, null, mustCall, generate.stop);
      }
      this.#busy = false;
    }
    return this.#finishTurn(incoming, plan, reply, generated, finish, mustCall, generate.stop);
  }

  #finishTurn(
    incoming: ChatMessage[],
    plan: TurnPlan,
    out: { text: string; reasoning: string },
    generated: number,
    finish: GenerateResult | null,
    mustCall: boolean,
    userStops: readonly (string | number)[] | undefined,
  ): ChatReply {
    this.#busy = false;
    const thinking = out.reasoning.trim();
    const parsed = parseToolCalls(out.text);
    const reply: ChatReply = {
      role: "assistant",
      // as generated (whitespace included: the next rendering then matches the cache token for token);
      // after a thinking block, without the blank lines that separate it
      content: parsed.toolCalls.length > 0 ? parsed.content : thinking ? out.text.replace(/^\s+/, "") : out.text,
      finishReason: finish === null ? "abort" : parsed.toolCalls.length > 0 ? "toolCalls" : finish.finishReason,
    };
    if (thinking) reply.reasoning = thinking;
    if (parsed.toolCalls.length > 0) reply.toolCalls = parsed.toolCalls;
    if (mustCall && parsed.toolCalls.length === 0) log("warn", "chat: toolChoice asked for a tool call, but the reply (cut short?) has none");
    const message: ChatMessage = { role: "assistant", content: reply.content };
    if (reply.toolCalls) {
      message.tool_calls = reply.toolCalls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } }));
    }
    if (plan.kind === "full") {
      this.#stats.truncatedTurns += plan.dropped;
      this.#messages = [...plan.messages, message];
    } else {
      this.#messages.push(...incoming, message);
    }
    // the end-of-turn marker is in the cache when the reply ended at it (not at a caller's stop)
    this.#endInCache = finish !== null && finish.finishReason === "stop" && !(userStops ?? []).includes(finish.stop as string | number);
    this.#stats.generatedTokens += generated;
    this.#stats.turns++;
    this.#lastReply = reply;
    return reply;
  }

  /**
   * Replaces the conversation (e.g. one saved from `messages`): a leading system message becomes
   * the chat's system prompt. The cache is cleared; the next turn evaluates the whole conversation.
   */
  async restore(messages: ChatMessage[]): Promise<void> {
    this.#checkLive("restore");
    checkMessages("restore", messages);
    const copy = messages.map((m) => ({ ...m }));
    this.#system = copy.length > 0 && copy[0].role === "system" ? copy[0] : null;
    this.#messages = copy;
    this.#lastReply = null;
    this.#stats = emptyStats();
    this.#endInCache = true;
    await this.#ctx.reset();
  }

  /**
   * Saves the chat: messages and the context's state, so a later `load` (same model, same context
   * options) continues without evaluating anything again. Without a path: a ChatSnapshot; with a
   * path: `path` (JSON: the messages) and `path + ".state"` (the context, streamed).
   */
  save(): Promise<ChatSnapshot>;
  save(path: string): Promise<void>;
  async save(path?: string): Promise<ChatSnapshot | void> {
    this.#checkLive("save");
    const chat = { endInCache: this.#endInCache, turns: this.#stats.turns };
    if (path === undefined) return { messages: this.messages, state: await this.#ctx.saveState(), chat };
    await this.#ctx.saveState(path + ".state");
    const doc = { format: "ringllm-chat", version: 1, messages: this.messages, chat, state: basename(path) + ".state" };
    await writeFile(path, JSON.stringify(doc, null, 2) + "\n");
  }

  /**
   * Loads a chat saved by `save` (a ChatSnapshot, or the path given to save). The context state is
   * used when it fits this chat's context; otherwise (another model or KV configuration, or a
   * messages-only file) the messages are restored and the next turn evaluates them, with a warning.
   */
  async load(source: ChatSnapshot | string): Promise<void> {
    this.#checkLive("load");
    let messages: unknown;
    let state: Buffer | string | undefined;
    let chat: { endInCache?: unknown; turns?: unknown } | undefined;
    if (typeof source === "string") {
      let doc: { format?: unknown; version?: unknown; messages?: unknown; chat?: typeof chat; state?: unknown };
      try {
        doc = JSON.parse(await readFile(source, "utf8"));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new RingllmError(code === "ENOENT" ? "ENOENT" : "INVALID_ARGUMENT", `load: cannot read ${source}: ${(err as Error).message}`);
      }
      if (doc?.format !== "ringllm-chat" || doc.version !== 1) {
        throw new RingllmError("INVALID_ARGUMENT", `load: ${source} is not a saved chat (format "ringllm-chat", version 1)`);
      }
      messages = doc.messages;
      chat = doc.chat;
      if (typeof doc.state === "string") state = join(dirname(source), basename(doc.state));
    } else if (typeof source === "object" && source !== null) {
      messages = source.messages;
      state = source.state;
      chat = source.chat;
    } else {
      throw new RingllmError("INVALID_ARGUMENT", `load: give a saved chat or its path; received ${describe(source)}`);
    }
    checkMessages("load", messages);
    await this.restore(messages);
    if (state === undefined) return;
    try {
      await this.#ctx.loadState(state);
    } catch (err) {
      if (!(err instanceof RingllmError) || !["STATE_MISMATCH", "STATE_CORRUPT", "ENOENT"].includes(err.code)) throw err;
      log("warn", `chat: the saved context state was not used (${err.message}); the next turn evaluates the conversation again`);
      await this.#ctx.reset();
      return;
    }
    this.#endInCache = chat?.endInCache !== false;
    this.#stats.turns = typeof chat?.turns === "number" && chat.turns >= 0 ? chat.turns : 1;
  }

  /** Forgets the conversation (the system message stays) and clears the cache. */
  async reset(): Promise<void> {
    this.#checkLive("reset");
    this.#messages = this.#system ? [this.#system] : [];
    this.#lastReply = null;
    this.#stats = emptyStats();
    this.#endInCache = true;
    await this.#ctx.reset();
  }

  /** Closes the chat and its context. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#ctx.close();
  }
}

/**
 * @internal A grammar for one tool call in the format the template teaches: Hermes/Qwen `<tool_call>`
 * JSON (the default), Mistral `[TOOL_CALLS] [...]`, or Llama 3.1's bare JSON with "parameters".
 */
export function toolCallGrammar(tools: ChatTool[], template: string): Grammar {
  const mistral = template.includes("[TOOL_CALLS]");
  const llama = !mistral && !template.includes("<tool_call>") && template.includes("<|python_tag|>");
  const argsKey = llama ? "parameters" : "arguments";
  const call = {
    anyOf: tools.map((t) => ({
      type: "object",
      properties: { name: { const: t.function.name }, [argsKey]: t.function.parameters ?? { type: "object" } },
      required: ["name", argsKey],
    })),
  };
  const json = jsonSchemaToGbnf(call).replace(/^root ::=/m, "call ::=");
  const root = mistral ? 'root ::= "[TOOL_CALLS] [" call "]"' : llama ? "root ::= call" : 'root ::= "<tool_call>\\n" call "\\n</tool_call>"';
  return Grammar.fromGbnf(`${root}\n${json}`);
}

/** @internal model.createChat(): resolves the template and the context options, then the chat. */
export async function createChat(model: Model, options: ChatOptions | undefined): Promise<Chat> {
  if (options !== undefined && (typeof options !== "object" || options === null)) {
    throw new RingllmError("INVALID_ARGUMENT", `createChat: options must be an object; received ${describe(options)}`);
  }
  const { system, template, keepSystem, tools, ...contextOptions } = options ?? {};
  checkOptions("createChat", { keepSystem }, { keepSystem: isBoolean });
  if (system !== undefined && typeof system !== "string") {
    throw new RingllmError("INVALID_ARGUMENT", `createChat: system must be a string; received ${describe(system)}`);
  }
  if (tools !== undefined && !Array.isArray(tools)) throw new RingllmError("INVALID_ARGUMENT", `createChat: tools must be an array; received ${describe(tools)}`);
  const source = template ?? model.chatTemplate ?? undefined;
  if (source === undefined) resolveTemplate(undefined); // warns: the model has no template
  const name = source ?? defaultChatFormat;
  templateSupportsSystem(name); // compiles it: a syntax error is CHAT_TEMPLATE_ERROR here
  const kv = { ...(contextOptions.kv ?? {}) };
  if (keepSystem) {
    if (system === undefined) throw new RingllmError("INVALID_ARGUMENT", "createChat: keepSystem needs a system prompt");
    if (kv.policy !== undefined && kv.policy !== "sinks") {
      throw new RingllmError("INVALID_ARGUMENT", `createChat: keepSystem uses the "sinks" policy; kv.policy is "${kv.policy}"`);
    }
    kv.policy = "sinks";
    if (kv.sinks === undefined) kv.sinks = systemTokens(model, name, system);
    if (contextOptions.contextSize === undefined) contextOptions.contextSize = Infinity;
  }
  const ctx = await model.createContext({ ...contextOptions, kv });
  try {
    return new Chat(model, ctx, { system, template: name, tools });
  } catch (err) {
    await ctx.close();
    throw err;
  }
}

// Tokens of the rendered conversation that come before the first user message's text: what a
// system prompt (with BOS and template glue) occupies at the start of the cache.
function systemTokens(model: Model, template: string, system: string): number {
  const render = (messages: ChatMessage[]) => {
    const text = model.renderChatTemplate(messages, { template, addGenerationPrompt: false });
    return withBos(model, model.tokenize(text, { addSpecial: false, parseSpecial: true }));
  };
  const sys: ChatMessage = { role: "system", content: system };
  const a = render([sys, { role: "user", content: "a" }]);
  const shared = commonPrefix(a, render([sys, { role: "user", content: "b" }]));
  // the system turn alone, when the template renders it as a prefix of the conversation
  const own = render([sys]);
  return commonPrefix(own, a) === own.length ? Math.min(own.length, shared) : shared;
}

/** @internal Answer text and thinking text of a whole reply (thinking markers removed). */
export function splitReasoning(text: string, startInside = false): { content: string; reasoning: string } {
  const r = new ReasoningSplitter(startInside ? THINK[0] : null).push(text, true);
  return { content: r.text, reasoning: r.reasoning };
}
