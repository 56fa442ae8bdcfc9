// Chat templates: the real templates of ../shared/chat/chat-templates.json render their raw
// conversation exactly (expected strings from llama.cpp's test suite, re-checked there with Python
// jinja2), built-in formats agree with the real templates of their families, errors are coded.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { applyChatTemplate, chatFormats, RingllmError, setLogger } from "../../lib/index";
import { renderChat, templateSupportsSystem, type ChatMessage } from "../../lib/chat-template";
import { SHARED, sharedTest } from "../helpers";

const FILE = join(SHARED, "chat", "chat-templates.json");

interface Case {
  name: string;
  template: string;
  bos: string;
  eos: string;
  messages: ChatMessage[];
  expected: string;
  llamacpp_system_polyfill: boolean;
}
const data: { conversation: ChatMessage[]; cases: Case[] } | null = existsSync(FILE) ? JSON.parse(readFileSync(FILE, "utf8")) : null;
const byName = (name: string): Case => data!.cases.find((c) => c.name === name)!;

beforeAll(() => setLogger(null));
afterAll(() => setLogger((level, message) => level === "warn" && process.emitWarning(message)));

sharedTest("every real template renders its raw conversation exactly (system merged where the template has no system role)", [FILE], async () => {
  expect(data!.cases.length).toBeGreaterThanOrEqual(12);
  for (const c of data!.cases) {
    const out = await applyChatTemplate(c.messages, { template: c.template, bosToken: c.bos, eosToken: c.eos });
    expect({ name: c.name, out }).toEqual({ name: c.name, out: c.expected });
    expect({ name: c.name, system: templateSupportsSystem(c.template) }).toEqual({ name: c.name, system: !c.llamacpp_system_polyfill });
  }
});

sharedTest("built-in formats render the conversation as their family's real template does", [FILE], () => {
  const conv = data!.conversation;
  expect(renderChat(conv, { template: "chatml" })).toBe(byName("teknium/OpenHermes-2.5-Mistral-7B").expected);
  expect(renderChat(conv, { template: "gemma" })).toBe(byName("google/gemma-7b-it").expected);
  expect(renderChat(conv, { template: "llama3" })).toBe(byName("Llama-3").expected);
  expect(renderChat(conv, { template: "vicuna", eosToken: "</s>" })).toBe(byName("eachadea/vicuna-13b-1.1").expected);
});

test("built-in formats without a real template here: exact renderings of their published layouts", () => {
  const conv: ChatMessage[] = [
    { role: "system", content: "S" },
    { role: "user", content: "U1" },
    { role: "assistant", content: "A1" },
    { role: "user", content: "U2" },
  ];
  expect(renderChat(conv, { template: "mistral", bosToken: "<s>", eosToken: "</s>" })).toBe("<s>[INST] S\nU1[/INST]A1</s>[INST] U2[/INST]");
  expect(renderChat(conv, { template: "llama2", bosToken: "<s>", eosToken: "</s>" })).toBe(
    "<s>[INST] <<SYS>>\nS\n<</SYS>>\n\nU1 [/INST] A1 </s><s>[INST] U2 [/INST]",
  );
  expect(renderChat(conv, { template: "phi3" })).toBe("<|system|>\nS<|end|>\n<|user|>\nU1<|end|>\n<|assistant|>\nA1<|end|>\n<|user|>\nU2<|end|>\n<|assistant|>\n");
  expect(renderChat(conv, { template: "zephyr", eosToken: "</s>" })).toBe(
    "<|system|>\nS</s>\n<|user|>\nU1</s>\n<|assistant|>\nA1</s>\n<|user|>\nU2</s>\n<|assistant|>\n",
  );
  expect(renderChat(conv.slice(1), { template: "chatml", addGenerationPrompt: false })).toBe(
    "<|im_start|>user\nU1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n<|im_start|>user\nU2<|im_end|>\n",
  );
  expect(chatFormats).toEqual(expect.arrayContaining(["chatml", "llama2", "llama3", "mistral", "gemma", "phi3"]));
});

test("any role string reaches the template; tools, tojson with non-ASCII text, extra variables", () => {
  const template =
    "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}{% if tools %}{{ tools | tojson }}{% endif %}{{ greeting }}";
  const tools = [{ type: "function" as const, function: { name: "météo", description: "天气", parameters: { type: "object" } } }];
  const out = renderChat([{ role: "tool_response", content: "{\"t\": 72}" }], { template, tools, extra: { greeting: "¡hola!" } });
  expect(out).toBe('[tool_response]{"t": 72}[{"type": "function", "function": {"name": "météo", "description": "天气", "parameters": {"type": "object"}}}]¡hola!');
});

test("no template: the default format with a warning", () => {
  const warnings: string[] = [];
  setLogger((level, message) => level === "warn" && warnings.push(message));
  try {
    expect(renderChat([{ role: "user", content: "Hi" }])).toBe("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    expect(warnings.join("\n")).toMatch(/chatml/);
  } finally {
    setLogger(null);
  }
});

function codeOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RingllmError);
    return { code: (err as RingllmError).code, message: (err as Error).message };
  }
  throw new Error("did not throw");
}

test("template errors are CHAT_TEMPLATE_ERROR with the template's message and line", () => {
  const syntax = codeOf(() => renderChat([{ role: "user", content: "x" }], { template: "line one\n{% for m in messages %}\n{{ m.content ( }}\n{% endfor %}" }));
  expect(syntax.code).toBe("CHAT_TEMPLATE_ERROR");
  expect(syntax.message).toMatch(/line 3/);
  const gemma =
    "{% for message in messages %}\n{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n" +
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}\n{% endif %}{{ message['content'] }}{% endfor %}";
  const raised = codeOf(() => renderChat([{ role: "user", content: "a" }, { role: "user", content: "b" }], { template: gemma }));
  expect(raised.code).toBe("CHAT_TEMPLATE_ERROR");
  expect(raised.message).toMatch(/Conversation roles must alternate/);
  expect(raised.message).toMatch(/line 3/);
});

test("bad messages are INVALID_ARGUMENT naming the field", () => {
  expect(codeOf(() => renderChat("hi" as unknown as ChatMessage[], { template: "chatml" }))).toEqual({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/messages must be an array/) });
  expect(codeOf(() => renderChat([{ role: "user", content: "a" }, { role: "user", content: 5 as unknown as string }], { template: "chatml" })).message).toMatch(
    /messages\[1\]\.content must be a string/,
  );
  expect(codeOf(() => renderChat([{ content: "a" } as unknown as ChatMessage], { template: "chatml" })).message).toMatch(/messages\[0\]\.role/);
  expect(codeOf(() => renderChat([null as unknown as ChatMessage], { template: "chatml" })).message).toMatch(/messages\[0\] must be an object/);
  // an assistant message with tool calls may have no content
  const calls = [{ role: "assistant", content: null, tool_calls: [{ function: { name: "f", arguments: "{}" } }] }];
  expect(renderChat(calls, { template: "{% for m in messages %}{{ m.tool_calls[0].function.name }}{% endfor %}" })).toBe("f");
});

test("model.chatTemplate, named variants and model.applyChatTemplate with the file's BOS/EOS text", async () => {
  const { GgufWriter } = await import("../../scripts/gguf/writer");
  const { addSpmVocab, makeSpmVocab } = await import("../../scripts/gguf/llama-model");
  const { loadModel } = await import("../../lib/index");
  const { tempDir } = await import("../helpers");
  const dir = tempDir();
  try {
    const w = new GgufWriter();
    w.addString("general.architecture", "llama");
    addSpmVocab(w, makeSpmVocab(300));
    w.addString("tokenizer.chat_template", "{{ bos_token }}{% for m in messages %}{{ m.role }}: {{ m.content }}{{ eos_token }}{% endfor %}");
    w.addString("tokenizer.chat_template.tool_use", "{% for t in tools %}{{ t.function.name }} {% endfor %}{{ messages[-1].content }}");
    const file = join(dir.path, "templated.gguf");
    w.writeFile(file);
    const model = await loadModel(file, { vocabOnly: true });
    expect(model.chatTemplate).toMatch(/^\{\{ bos_token \}\}/);
    expect(Object.keys(model.chatTemplates)).toEqual(["tool_use"]);
    expect(await model.applyChatTemplate([{ role: "user", content: "hi" }])).toBe("<s>user: hi</s>");
    const tools = [{ type: "function" as const, function: { name: "lookup" } }];
    expect(await model.applyChatTemplate([{ role: "user", content: "q" }], { template: model.chatTemplates.tool_use, tools })).toBe("lookup q");
    expect(await model.applyChatTemplate([{ role: "user", content: "q" }], { template: "chatml" })).toBe("<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n");
    await model.close();
  } finally {
    dir.cleanup();
  }
});
