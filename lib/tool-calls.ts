// Tool calls in a model's reply, in the formats common chat templates teach their models:
//   Hermes / Qwen:   <tool_call>{"name": "f", "arguments": {...}}</tool_call>   (one block per call)
//   Llama 3.1:       {"name": "f", "parameters": {...}}   (the whole reply; maybe after <|python_tag|>)
//   Mistral:         [TOOL_CALLS] [{"name": "f", "arguments": {...}, "id": "abc123xyz"}]
//                    [TOOL_CALLS]f[ARGS]{...}   (newer Mistral templates)
//   Granite:         <|tool_call|>[{"name": "f", "arguments": {...}}]
// Anything malformed is left as plain text: parsing never throws.

/** A parsed tool call: `arguments` is the parsed object, `argumentsText` the JSON as written. */
export interface ToolCall {
  id: string;
  name: string;
  arguments: Record<string, unknown>;
  argumentsText: string;
}

export interface ParsedReply {
  /** the reply without the tool-call markup */
  content: string;
  toolCalls: ToolCall[];
}

let counter = 0;
function callId(given: unknown): string {
  if (typeof given === "string" && given.length > 0) return given;
  counter = (counter + 1) % 1e9;
  return `call_${Date.now().toString(36)}${counter.toString(36)}`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

// One call object: { name, arguments | parameters } (OpenAI's { function: { name, arguments } } too).
function toCall(v: unknown): ToolCall | null {
  if (!isObject(v)) return null;
  const fn = isObject(v.function) ? v.function : v;
  const name = fn.name;
  if (typeof name !== "string" || name.length === 0) return null;
  let args: unknown = fn.arguments ?? fn.parameters ?? {};
  if (typeof args === "string") args = parseJson(args);
  if (!isObject(args)) return null;
  return { id: callId(v.id), name, arguments: args, argumentsText: JSON.stringify(args) };
}

function toCalls(v: unknown): ToolCall[] | null {
  const list = Array.isArray(v) ? v : [v];
  const calls = list.map(toCall);
  return calls.length > 0 && calls.every((c) => c !== null) ? (calls as ToolCall[]) : null;
}

/** Finds tool calls in a reply; malformed markup stays in `content` and yields no call. */
export function parseToolCalls(reply: string): ParsedReply {
  const text = String(reply);
  // Hermes / Qwen: every <tool_call> block must parse, else the reply is plain text.
  if (text.includes("<tool_call>")) {
    const calls: ToolCall[] = [];
    const re = /<tool_call>([\s\S]*?)(?:<\/tool_call>|$)/g;
    let ok = true;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const c = toCalls(parseJson(m[1].trim()));
      if (!c) {
        ok = false;
        break;
      }
      calls.push(...c);
    }
    if (ok && calls.length > 0) return { content: text.replace(re, "").trim(), toolCalls: calls };
    return { content: text, toolCalls: [] };
  }
  for (const marker of ["[TOOL_CALLS]", "<|tool_call|>"]) {
    const at = text.indexOf(marker);
    if (at < 0) continue;
    const rest = text.slice(at + marker.length).trim();
    const args = rest.indexOf("[ARGS]");
    if (marker === "[TOOL_CALLS]" && args > 0 && !rest.startsWith("[")) {
      // [TOOL_CALLS]name[ARGS]{...} (one or more, each after its own [TOOL_CALLS])
      const calls: ToolCall[] = [];
      for (const part of text.slice(at).split("[TOOL_CALLS]").slice(1)) {
        const [name, json] = part.split("[ARGS]");
        const args = json === undefined ? undefined : parseJson(json.trim());
        const c = args === undefined ? null : toCall({ name: name.trim(), arguments: args });
        if (!c) return { content: text, toolCalls: [] };
        calls.push(c);
      }
      return { content: text.slice(0, at).trim(), toolCalls: calls };
    }
    const calls = toCalls(parseJson(rest));
    return calls ? { content: text.slice(0, at).trim(), toolCalls: calls } : { content: text, toolCalls: [] };
  }
  // Llama 3.1: the whole reply is one JSON call (or a list of them).
  const body = text.replace(/^\s*<\|python_tag\|>/, "").trim();
  if (body.startsWith("{") || body.startsWith("[")) {
    const v = parseJson(body);
    const calls = v === undefined ? null : toCalls(v);
    if (calls && (Array.isArray(v) ? v : [v]).every((c) => isObject(c) && ("parameters" in c || "arguments" in c || "function" in c))) {
      return { content: "", toolCalls: calls };
    }
  }
  return { content: text, toolCalls: [] };
}
