// Tool-call parsing on recorded replies of each common format, malformed ones included (they stay
// plain text, never a throw). The replies are written after each family's documented output format.
import { parseToolCalls } from "../../lib/index";
import { splitReasoning } from "../../lib/chat";

const strip = (r: ReturnType<typeof parseToolCalls>) => ({
  content: r.content,
  calls: r.toolCalls.map((c) => ({ name: c.name, arguments: c.arguments, argumentsText: c.argumentsText, id: typeof c.id })),
});

test("Hermes / Qwen <tool_call> blocks, one or several, with text around them", () => {
  const reply = 'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"location": "NYC", "unit": "f"}}\n</tool_call>\n' +
    '<tool_call>\n{"name": "get_time", "arguments": {"tz": "EST"}}\n</tool_call>';
  expect(strip(parseToolCalls(reply))).toEqual({
    content: "Let me check.",
    calls: [
      { name: "get_weather", arguments: { location: "NYC", unit: "f" }, argumentsText: '{"location":"NYC","unit":"f"}', id: "string" },
      { name: "get_time", arguments: { tz: "EST" }, argumentsText: '{"tz":"EST"}', id: "string" },
    ],
  });
  // arguments given as a JSON string (as some models write them)
  expect(parseToolCalls('<tool_call>{"name": "f", "arguments": "{\\"a\\": 1}"}</tool_call>').toolCalls[0].arguments).toEqual({ a: 1 });
  // ids are unique
  const two = parseToolCalls('<tool_call>{"name":"f","arguments":{}}</tool_call><tool_call>{"name":"f","arguments":{}}</tool_call>');
  expect(two.toolCalls[0].id).not.toBe(two.toolCalls[1].id);
});

test("Llama 3.1 JSON calls (with or without <|python_tag|>), parameters as the arguments", () => {
  expect(strip(parseToolCalls('{"name": "search", "parameters": {"query": "cats"}}'))).toEqual({
    content: "",
    calls: [{ name: "search", arguments: { query: "cats" }, argumentsText: '{"query":"cats"}', id: "string" }],
  });
  expect(parseToolCalls('<|python_tag|>{"type": "function", "name": "f", "parameters": {"x": [1, 2]}}').toolCalls[0].arguments).toEqual({ x: [1, 2] });
  // JSON that is not a call stays text
  expect(parseToolCalls('{"answer": 42}')).toEqual({ content: '{"answer": 42}', toolCalls: [] });
});

test("Mistral [TOOL_CALLS] lists (ids kept) and the [ARGS] form; granite <|tool_call|>", () => {
  const m = parseToolCalls('[TOOL_CALLS] [{"name": "add", "arguments": {"a": 1, "b": 2}, "id": "abc123xyz"}]');
  expect(m.toolCalls.map((c) => [c.id, c.name, c.arguments])).toEqual([["abc123xyz", "add", { a: 1, b: 2 }]]);
  const args = parseToolCalls('[TOOL_CALLS]add[ARGS]{"a": 1}[TOOL_CALLS]neg[ARGS]{"x": 3}');
  expect(args.toolCalls.map((c) => [c.name, c.arguments])).toEqual([["add", { a: 1 }], ["neg", { x: 3 }]]);
  const g = parseToolCalls('<|tool_call|>[{"name": "get_weather", "arguments": {"location": "NYC"}}]');
  expect(g.toolCalls.map((c) => [c.name, c.arguments])).toEqual([["get_weather", { location: "NYC" }]]);
});

test("malformed calls are plain text, never a throw", () => {
  const bad = [
    "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}\n</tool_call>", // unbalanced JSON
    "<tool_call>{\"arguments\": {}}</tool_call>", // no name
    "<tool_call>not json at all", // cut off
    "[TOOL_CALLS] [{\"name\": \"f\", \"arguments\": [1]}]", // arguments not an object
    "[TOOL_CALLS]f[ARGS]{oops",
    "<|tool_call|>",
    "{\"name\": \"f\", \"parameters\": {}", // truncated Llama call
    "",
  ];
  for (const text of bad) expect(parseToolCalls(text)).toEqual({ content: text, toolCalls: [] });
  expect(parseToolCalls("Just words.")).toEqual({ content: "Just words.", toolCalls: [] });
});

test("reasoning: text inside <think>…</think> is split from the answer", () => {
  expect(splitReasoning("<think>\nThe user wants a cat fact.\n</think>\n\nCats sleep a lot.")).toEqual({
    content: "\n\nCats sleep a lot.",
    reasoning: "\nThe user wants a cat fact.\n",
  });
  // the generation prompt opened the block: the reply starts inside it
  expect(splitReasoning("hmm</think>Answer", true)).toEqual({ content: "Answer", reasoning: "hmm" });
  expect(splitReasoning("no thinking here")).toEqual({ content: "no thinking here", reasoning: "" });
  expect(splitReasoning("<think>unfinished")).toEqual({ content: "", reasoning: "unfinished" });
});
