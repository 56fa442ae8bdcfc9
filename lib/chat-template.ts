// Chat templates: the Jinja templates models carry in `tokenizer.chat_template`, rendered with
// @huggingface/jinja (trim_blocks and lstrip_blocks on, as Hugging Face renders them), plus named
// formats for models that carry none.
import { Template } from "@huggingface/jinja";
import { describe, RingllmError } from "./errors";
import { log } from "./log";

/** A tool call of an assistant message (OpenAI's shape, which templates read). */
export interface ChatToolCall {
  id?: string;
  type?: "function";
  function: { name: string; arguments: string | Record<string, unknown> };
}

/**
 * One message of a conversation. `role` is any string the template knows ("system", "user",
 * "assistant", "tool", or a template's own roles such as granite's "tool_response"); other fields
 * are passed to the template as they are.
 */
export interface ChatMessage {
  role: string;
  /** text; null or absent only on an assistant message that carries tool_calls */
  content?: string | null;
  tool_calls?: ChatToolCall[];
  tool_call_id?: string;
  name?: string;
  [field: string]: unknown;
}

/** A tool in OpenAI's function format. */
export interface ChatTool {
  type: "function";
  function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

export interface ApplyChatTemplateOptions {
  /** Jinja source, or the name of a built-in format ({@link chatFormats}); default "chatml" with a warning */
  template?: string;
  bosToken?: string;
  eosToken?: string;
  /** end with the opening of the assistant's turn (default true) */
  addGenerationPrompt?: boolean;
  /** tools the template lists for the model (OpenAI function format) */
  tools?: ChatTool[];
  /** more variables for the template (e.g. { enable_thinking: false }) */
  extra?: Record<string, unknown>;
}

// Built-in formats, written here from each family's published prompt format. The system message
// goes where the family puts it; families without a system role merge it into the first user turn
// (the probe below finds that and merges it the way llama.cpp does).
const FORMATS: Record<string, string> = {
  chatml:
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
  llama2:
    "{% if messages[0]['role'] == 'system' %}{% set sys = '<<SYS>>\\n' + messages[0]['content'] + '\\n<</SYS>>\\n\\n' %}" +
    "{% set rest = messages[1:] %}{% else %}{% set sys = '' %}{% set rest = messages %}{% endif %}" +
    "{% for m in rest %}{% if m['role'] == 'user' %}{{ bos_token + '[INST] ' + (sys if loop.first else '') + m['content'] | trim + ' [/INST]' }}" +
    "{% elif m['role'] == 'assistant' %}{{ ' ' + m['content'] | trim + ' ' + eos_token }}{% endif %}{% endfor %}",
  llama3:
    "{{ bos_token }}{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' + m['content'] | trim + '<|eot_id|>' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
  mistral:
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}{{ '[INST] ' + m['content'] + '[/INST]' }}" +
    "{% elif m['role'] == 'assistant' %}{{ m['content'] + eos_token }}{% endif %}{% endfor %}",
  gemma:
    "{{ bos_token }}{% for m in messages %}{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}" +
    "{{ '<start_of_turn>' + role + '\\n' + m['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}",
  phi3:
    "{{ bos_token }}{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] + '<|end|>\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}",
  vicuna:
    "{% for m in messages %}{% if m['role'] == 'system' %}{{ m['content'] + '\\n\\n' }}{% elif m['role'] == 'user' %}{{ 'USER: ' + m['content'] + '\\n' }}" +
    "{% else %}{{ 'ASSISTANT: ' + m['content'] + eos_token + '\\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}",
  zephyr:
    "{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] + eos_token + '\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}",
};

// Families whose format has no system turn: the probe would find that too, but naming it keeps
// the built-in templates free of raise_exception.
const NO_SYSTEM = new Set(["mistral", "gemma"]);

/** Names of the built-in chat formats, for models without a template. */
export const chatFormats: readonly string[] = Object.freeze(Object.keys(FORMATS));

/** The default format when a model has no template and none is named. */
export const defaultChatFormat = "chatml";

interface Compiled {
  template: Template;
  source: string;
  systemRole: boolean;
}

const cache = new Map<string, Compiled>();
const CACHE_MAX = 32;

function templateError(err: unknown, source: string, phase: "parse" | "render"): RingllmError {
  const message = err instanceof Error ? err.message : String(err);
  const line = phase === "parse" ? parseErrorLine(source, message) : raiseLine(source, message);
  const where = line ? ` (template line ${line})` : "";
  return new RingllmError("CHAT_TEMPLATE_ERROR", `chat template ${phase} error${where}: ${message}`, { cause: err });
}

// @huggingface/jinja reports no positions: the line of a syntax error is the first line whose
// prefix of the template already fails with the same message.
function parseErrorLine(source: string, message: string): number | null {
  const lines = source.split("\n");
  for (let n = 1; n <= lines.length; n++) {
    try {
      new Template(lines.slice(0, n).join("\n"));
    } catch (err) {
      if (err instanceof Error && err.message === message) return n;
    }
  }
  return null;
}

// The line of the raise_exception call whose literal message is the one raised.
function raiseLine(source: string, message: string): number | null {
  const lines = source.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].includes("raise_exception") && lines[i].includes(message)) return i + 1;
  }
  return null;
}

function compile(source: string): Compiled {
  const hit = cache.get(source);
  if (hit) return hit;
  let template: Template;
  try {
    template = new Template(source);
  } catch (err) {
    throw templateError(err, source, "parse");
  }
  const compiled: Compiled = { template, source, systemRole: probeSystemRole(template) };
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string);
  cache.set(source, compiled);
  return compiled;
}

// As llama.cpp does: a template supports a system role when a system message's content shows up
// in its rendering (and rendering it does not raise).
function probeSystemRole(template: Template): boolean {
  const needle = "<ringllm system probe 7f3a>";
  try {
    const out = template.render({
      messages: [
        { role: "system", content: needle },
        { role: "user", content: "Hi" },
      ],
      bos_token: "",
      eos_token: "",
      add_generation_prompt: true,
    });
    return out.includes(needle);
  } catch {
    return false;
  }
}

/** Checks a conversation's shape; throws INVALID_ARGUMENT naming the offending field. */
export function checkMessages(fn: string, messages: unknown): asserts messages is ChatMessage[] {
  if (!Array.isArray(messages)) {
    throw new RingllmError("INVALID_ARGUMENT", `${fn}: messages must be an array of { role, content }; received ${describe(messages)}`);
  }
  messages.forEach((m: unknown, i) => {
    if (typeof m !== "object" || m === null || Array.isArray(m)) {
      throw new RingllmError("INVALID_ARGUMENT", `${fn}: messages[${i}] must be an object { role, content }; received ${describe(m)}`);
    }
    const msg = m as Record<string, unknown>;
    if (typeof msg.role !== "string" || msg.role.length === 0) {
      throw new RingllmError("INVALID_ARGUMENT", `${fn}: messages[${i}].role must be a non-empty string; received ${describe(msg.role)}`);
    }
    const toolCalls = msg.tool_calls;
    if (toolCalls !== undefined && !Array.isArray(toolCalls)) {
      throw new RingllmError("INVALID_ARGUMENT", `${fn}: messages[${i}].tool_calls must be an array; received ${describe(toolCalls)}`);
    }
    const content = msg.content;
    if (typeof content !== "string" && !((content === null || content === undefined) && Array.isArray(toolCalls))) {
      throw new RingllmError(
        "INVALID_ARGUMENT",
        `${fn}: messages[${i}].content must be a string (null only with tool_calls); received ${describe(content)}`,
      );
    }
  });
}

/** The Jinja source of a template option: a built-in format's name, or the source itself. */
export function resolveTemplate(template: string | undefined | null): string {
  if (template === undefined || template === null) {
    log("warn", `no chat template given and the model has none: using the "${defaultChatFormat}" format`);
    return FORMATS[defaultChatFormat];
  }
  if (typeof template !== "string" || template.length === 0) {
    throw new RingllmError("INVALID_ARGUMENT", `template must be Jinja source or one of ${chatFormats.join(", ")}; received ${describe(template)}`);
  }
  return FORMATS[template] ?? template;
}

/** Whether the template renders a system message itself (else it is merged into the next message). */
export function templateSupportsSystem(template: string): boolean {
  if (NO_SYSTEM.has(template)) return false;
  return compile(resolveTemplate(template)).systemRole;
}

/**
 * Renders a conversation with a chat template. Templates without a system role get the leading
 * system message merged into the next message (`system + "\n" + content`), as llama.cpp does.
 * Template errors (syntax, or the template's own raise_exception) are CHAT_TEMPLATE_ERROR.
 *
 * @example
 * const text = await applyChatTemplate([{ role: "user", content: "Hi" }], { template: "chatml" });
 * // "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
 */
export async function applyChatTemplate(messages: ChatMessage[], options?: ApplyChatTemplateOptions): Promise<string> {
  return renderChat(messages, options);
}

/** Synchronous {@link applyChatTemplate} (rendering is pure JavaScript and fast). */
export function renderChat(messages: ChatMessage[], options?: ApplyChatTemplateOptions): string {
  checkMessages("applyChatTemplate", messages);
  const o = options ?? {};
  if (typeof o !== "object") throw new RingllmError("INVALID_ARGUMENT", `applyChatTemplate: options must be an object; received ${describe(o)}`);
  for (const key of ["bosToken", "eosToken"] as const) {
    if (o[key] !== undefined && typeof o[key] !== "string") {
      throw new RingllmError("INVALID_ARGUMENT", `applyChatTemplate: options.${key} must be a string; received ${describe(o[key])}`);
    }
  }
  if (o.tools !== undefined && !Array.isArray(o.tools)) {
    throw new RingllmError("INVALID_ARGUMENT", `applyChatTemplate: options.tools must be an array; received ${describe(o.tools)}`);
  }
  if (o.extra !== undefined && (typeof o.extra !== "object" || o.extra === null)) {
    throw new RingllmError("INVALID_ARGUMENT", `applyChatTemplate: options.extra must be an object; received ${describe(o.extra)}`);
  }
  const name = o.template;
  const compiled = compile(resolveTemplate(name));
  const systemRole = !(typeof name === "string" && NO_SYSTEM.has(name)) && compiled.systemRole;
  const msgs = systemRole ? messages : mergeSystem(messages);
  try {
    return compiled.template.render({
      ...(o.extra ?? {}),
      messages: msgs,
      bos_token: o.bosToken ?? "",
      eos_token: o.eosToken ?? "",
      add_generation_prompt: o.addGenerationPrompt ?? true,
      ...(o.tools ? { tools: o.tools } : {}),
    });
  } catch (err) {
    throw templateError(err, compiled.source, "render");
  }
}

// The leading system message folded into the message after it.
export function mergeSystem(messages: ChatMessage[]): ChatMessage[] {
  if (messages.length === 0 || messages[0].role !== "system") return messages;
  const system = messages[0].content ?? "";
  if (messages.length === 1) return [{ ...messages[0], role: "user" }];
  const next = messages[1];
  return [{ ...next, content: system + "\n" + (next.content ?? "") }, ...messages.slice(2)];
}
