// Chat sessions on stories260K (no chat template: the default ChatML format). Each turn evaluates
// only what the cache lacks; replies equal a fresh context fed the whole rendered conversation;
// long conversations stay bounded; errors leave the conversation and the cache as they were.
import { join } from "node:path";
import { type Chat, type ChatMessage, loadModel, type Model, RingllmError, setLogger } from "../../lib/index";
import { sharedDescribe, STORIES, tempDir } from "../helpers";


const QUESTIONS = ["Once upon a time", "Tell me about the cat.", "What did the dog do?", "Where is the ball?", "Who was sad?", "Why?"];

function commonPrefix(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

sharedDescribe("chat sessions on stories260K", [STORIES], () => {
  let model: Model;
  beforeAll(async () => {
    setLogger(null);
    model = await loadModel(STORIES);
  });
  afterAll(() => model?.close());

  const opts = { contextSize: 1024, attentionSplits: 1, threads: 1 };
  const gen = { temperature: 0, maxTokens: 12 };

  async function promptTokens(messages: ChatMessage[], addGenerationPrompt = true): Promise<Uint32Array> {
    const text = await model.applyChatTemplate(messages, { template: "chatml", addGenerationPrompt });
    const ids = model.tokenize(text, { parseSpecial: true });
    return Uint32Array.from([model.vocab.bos!, ...ids]);
  }

  test("12 turns: each evaluates only what the cache lacks, and replies equal a fresh context fed the whole conversation", async () => {
    const chat = await model.createChat({ ...opts, system: "You tell short stories." });
    for (let turn = 0; turn < 12; turn++) {
      const question = QUESTIONS[turn % QUESTIONS.length];
      const before = chat.stats();
      const held = (await chat.context.tokens())!;
      const conversation: ChatMessage[] = [...chat.messages, { role: "user", content: question }];
      const expected = await promptTokens(conversation);
      const reply = await chat.ask(question, gen);
      const after = chat.stats();
      // what was evaluated: the rendering's tokens after the longest prefix the cache held
      const reused = Math.min(commonPrefix(held, expected), expected.length - 1);
      expect(after.evaluatedTokens - before.evaluatedTokens).toBe(expected.length - reused);
      expect(after.reusedTokens - before.reusedTokens).toBe(reused);
      if (turn > 0) {
        // the new message and the template's glue (the end of the last reply, the new turn), not the history
        const glue = "<|im_end|>\n" + (await model.applyChatTemplate([{ role: "user", content: question }], { template: "chatml" }));
        const own = model.tokenize(glue, { parseSpecial: true }).length;
        expect(after.evaluatedTokens - before.evaluatedTokens).toBeLessThanOrEqual(own + 2);
        expect(reused).toBeGreaterThan(expected.length / 2);
      }
      // a fresh context fed the whole rendering replies the same
      const ctx = await model.createContext(opts);
      let text = "";
      for await (const c of ctx.generate(expected, { ...gen, stop: ["<|im_end|>"] })) text += c.text;
      await ctx.close();
      expect({ turn, reply: reply.content }).toEqual({ turn, reply: text });
      expect(reply.finishReason === "length" || reply.finishReason === "stop").toBe(true);
    }
    expect(chat.messages.length).toBe(1 + 2 * 12);
    expect(chat.stats().turns).toBe(12);
    await chat.close();
  });

  test("a full cache drops the oldest turns when the next would not fit, and says so", async () => {
    const chat = await model.createChat({ contextSize: 160, threads: 1, system: "Short." });
    for (let turn = 0; turn < 10; turn++) await chat.ask(QUESTIONS[turn % QUESTIONS.length], { temperature: 0, maxTokens: 16 });
    const s = chat.stats();
    expect(s.truncatedTurns).toBeGreaterThan(0);
    expect(chat.messages[0]).toEqual({ role: "system", content: "Short." });
    expect(chat.messages.length).toBe(1 + 2 * (10 - s.truncatedTurns));
    // the cache holds exactly the rendering of what is left (plus the reply)
    const held = (await chat.context.tokens())!;
    const kept = await promptTokens(chat.messages.slice(0, -1));
    expect(commonPrefix(held, kept)).toBe(kept.length);
    await chat.close();
  });

  test("1,000 turns with sinks + keepSystem: constant KV bytes, the system prompt held, bounded work per turn", async () => {
    const system = "You are a storyteller. Keep every answer short.";
    const chat = await model.createChat({ system, keepSystem: true, threads: 1, kv: { recent: 96 } });
    const layers0 = chat.context.stats().layers;
    expect(layers0.every((l) => l.policy === "sinks")).toBe(true);
    const sinks = layers0[0].sinks!;
    // the sinks are exactly the system prompt's tokens (BOS and template glue included)
    const sysIds = await promptTokens([{ role: "system", content: system }], false);
    expect(sinks).toBe(sysIds.length);
    const kvBytes = chat.context.stats().kvBytes;
    const perTurn: number[] = [];
    const t0 = Date.now();
    const times: number[] = [];
    for (let turn = 0; turn < 1000; turn++) {
      const before = chat.stats().evaluatedTokens;
      const t = Date.now();
      await chat.ask(`Tell me about friend number ${turn}.`, { temperature: 0, maxTokens: 3 });
      times.push(Date.now() - t);
      perTurn.push(chat.stats().evaluatedTokens - before);
      expect(chat.context.stats().kvBytes).toBe(kvBytes);
    }
    const stats = chat.context.stats();
    expect(stats.tokensProcessed).toBeGreaterThan(96 * 10);
    // every layer's sink slots still hold positions 0..sinks-1: the system prompt was never evicted
    for (let layer = 0; layer < stats.layers.length; layer++) {
      const { positions } = chat.context.kvSlots(layer, 0);
      expect(positions.slice(0, sinks)).toEqual(Array.from({ length: sinks }, (_, i) => i));
    }
    // the first sinks tokens the context took are the system prompt's
    const history = (await chat.context.tokens())!;
    expect([...history.slice(0, sinks)]).toEqual([...sysIds.slice(0, sinks)]);
    // work per turn does not grow with the conversation (only appends: message + glue)
    const late = Math.max(...perTurn.slice(900));
    const early = Math.max(...perTurn.slice(1, 100));
    expect(late).toBeLessThanOrEqual(early + 2);
    const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
    console.log(`1,000 turns in ${Date.now() - t0} ms; median ms/turn first 100 ${median(times.slice(0, 100))}, last 100 ${median(times.slice(900))}`);
    expect(chat.messages.length).toBe(1 + 2000);
    await chat.close();
  }, 120_000);

  test("abort stops a reply: ABORTED, the partial reply kept with finishReason abort, the chat goes on", async () => {
    const chat = await model.createChat({ ...opts });
    const ac = new AbortController();
    let chunks = 0;
    await expect(
      (async () => {
        for await (const c of chat.send("Once upon a time", { temperature: 0, maxTokens: 50, signal: ac.signal })) {
          if (c.text && ++chunks === 3) ac.abort();
        }
      })(),
    ).rejects.toMatchObject({ code: "ABORTED" });
    expect(chat.lastReply!.finishReason).toBe("abort");
    expect(chat.messages.map((m) => m.role)).toEqual(["user", "assistant"]);
    // breaking out of the loop ends the turn too
    for await (const c of chat.send("Tell me more", { temperature: 0, maxTokens: 50 })) if (c.text) break;
    expect(chat.lastReply!.finishReason).toBe("abort");
    const reply = await chat.ask("And then?", { temperature: 0, maxTokens: 5 });
    expect(reply.finishReason).toBe("length");
    expect(chat.messages.length).toBe(6);
    await chat.close();
  });

  test("bad input and template errors are coded, and leave the conversation and the cache as they were", async () => {
    const template =
      "{% if messages | length > 2 %}{{ raise_exception('only one exchange') }}{% endif %}" +
      "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n";
    const chat: Chat = await model.createChat({ ...opts, template });
    await chat.ask("Hello", gen);
    const held = [...(await chat.context.tokens())!];
    const messages = chat.messages;
    await expect(chat.ask("Again")).rejects.toMatchObject({ code: "CHAT_TEMPLATE_ERROR", message: expect.stringMatching(/only one exchange/) });
    expect([...(await chat.context.tokens())!]).toEqual(held);
    expect(chat.messages).toEqual(messages);
    expect(() => chat.send(42 as unknown as string)).toThrow(RingllmError);
    expect(() => chat.send({ role: "user", content: 5 } as unknown as ChatMessage)).toThrow(/messages\[0\]\.content must be a string/);
    expect(() => chat.send([])).toThrow(/give a message/);
    expect(() => chat.send("x", { toolChoice: "missing" })).toThrow(/not among the tools/);
    await chat.close();
    await expect(chat.ask("closed?")).rejects.toMatchObject({ code: "CONTEXT_CLOSED" });
    await expect(model.createChat({ keepSystem: true })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/system/) });
    await expect(model.createChat({ system: "s", keepSystem: true, kv: { policy: "window" } })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(model.createChat({ template: "{% for %}" })).rejects.toMatchObject({ code: "CHAT_TEMPLATE_ERROR" });
  });

  test("save/load: a loaded chat continues without evaluating the conversation again, and replies the same", async () => {
    const a = await model.createChat({ ...opts, system: "Tell tales." });
    for (const q of QUESTIONS.slice(0, 3)) await a.ask(q, gen);
    const snapshot = await a.save();
    const dir = tempDir();
    try {
      const file = join(dir.path, "chat.json");
      await a.save(file);
      const before = a.stats().evaluatedTokens;
      const want = await a.ask("And the end?", gen);
      const evaluated = a.stats().evaluatedTokens - before;
      for (const source of [snapshot, file]) {
        const b = await model.createChat({ ...opts, system: "ignored: the saved conversation brings its own" });
        await b.load(source);
        expect(b.messages).toEqual(snapshot.messages);
        const got = await b.ask("And the end?", gen);
        expect(got.content).toBe(want.content);
        expect(b.stats().evaluatedTokens).toBe(evaluated);
        await b.close();
      }
      // a context the state does not fit: messages only, evaluated again, the same reply
      const warnings: string[] = [];
      setLogger((level, message) => level === "warn" && warnings.push(message));
      const c = await model.createChat({ ...opts, contextSize: 2048 });
      await c.load(snapshot);
      setLogger(null);
      expect(warnings.join()).toMatch(/state was not used/);
      const again = await c.ask("And the end?", gen);
      expect(again.content).toBe(want.content);
      expect(c.stats().evaluatedTokens).toBeGreaterThan(evaluated * 3);
      await c.close();
      await expect(a.load("/nonexistent/chat.json")).rejects.toMatchObject({ code: "ENOENT" });
    } finally {
      dir.cleanup();
      await a.close();
    }
  });

  test("toolChoice required / a name: the reply is a tool call in the template's format, with valid arguments", async () => {
    const template =
      "{% if tools %}<tools>{{ tools | tojson }}</tools>{% endif %}" +
      "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n" +
      "{# the model answers calls as <tool_call>{...}</tool_call> #}";
    const tools = [
      { type: "function" as const, function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string", maxLength: 12 }, days: { type: "integer", minimum: 1, maximum: 7 } }, required: ["city", "days"] } } },
      { type: "function" as const, function: { name: "get_time", parameters: { type: "object", properties: { zone: { enum: ["UTC", "CET"] } }, required: ["zone"] } } },
    ];
    const chat = await model.createChat({ ...opts, template, tools });
    for (const [seed, choice] of [[1, "required"], [2, "required"], [3, "get_time"]] as const) {
      const reply = await chat.ask("What is the weather?", { toolChoice: choice, temperature: 0.8, seed, maxTokens: 200 });
      expect(reply.finishReason).toBe("toolCalls");
      expect(reply.toolCalls).toHaveLength(1);
      const call = reply.toolCalls![0];
      if (choice === "get_time") expect(call.name).toBe("get_time");
      if (call.name === "get_weather") {
        expect(typeof call.arguments.city).toBe("string");
        expect(call.arguments.days).toBeGreaterThanOrEqual(1);
      } else expect(["UTC", "CET"]).toContain(call.arguments.zone);
      // the call is kept in the conversation as tool_calls; a tool result goes back as a tool message
      expect(chat.messages.at(-1)!.tool_calls![0].function.name).toBe(call.name);
      const next = await chat.ask({ role: "tool", content: "{\"ok\": true}", tool_call_id: call.id }, { maxTokens: 3 });
      expect(next.finishReason).not.toBe("toolCalls");
    }
    await chat.close();
  });

  test("tools reach the template; toolChoice none leaves them out", async () => {
    const template =
      "{% if tools %}[tools:{% for t in tools %}{{ t.function.name }};{% endfor %}]{% endif %}" +
      "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n";
    const tools = [{ type: "function" as const, function: { name: "get_weather", parameters: { type: "object" } } }];
    const chat = await model.createChat({ ...opts, template, tools });
    await chat.ask("Hi", { maxTokens: 1 });
    const text = model.detokenize((await chat.context.tokens())!, { unparseSpecial: true });
    expect(text).toContain("[tools:get_weather;]");
    await chat.reset();
    await chat.ask("Hi", { maxTokens: 1, toolChoice: "none" });
    expect(model.detokenize((await chat.context.tokens())!, { unparseSpecial: true })).not.toContain("[tools:");
    await chat.close();
  });
});

// The embedded model speaks ChatML with <|im_end|> as its end-of-turn control token.
describe("chat sessions on the embedded model", () => {
  test("20 turns: evaluated tokens = the new message and template glue; greedy replies equal a fresh context fed the whole conversation", async () => {
    setLogger(null);
    const model = await loadModel();
    expect(model.chatTemplate).toContain("<|im_start|>");
    const opts = { contextSize: 4096, attentionSplits: 1, threads: 1, kv: { policy: "full" as const } };
    const gen = { temperature: 0, maxTokens: 60 };
    const questions = ["Tell me about cats", "And dogs?", "What about love?", "Say something about computers", "Give me a fortune."];
    const chat = await model.createChat({ ...opts, system: "You are a fortune cookie." });
    let stops = 0;
    let ended = false; // the last reply ended with <|im_end|> (else maxTokens cut it)
    for (let turn = 0; turn < 20; turn++) {
      const question = questions[turn % questions.length];
      const before = chat.stats().evaluatedTokens;
      const text = await model.applyChatTemplate([...chat.messages, { role: "user", content: question }]);
      const expected = Uint32Array.from([model.vocab.bos!, ...model.tokenize(text, { parseSpecial: true })]);
      const reply = await chat.ask(question, gen);
      const evaluated = chat.stats().evaluatedTokens - before;
      if (turn > 0) {
        // after the last reply (and its cached <|im_end|>, if it wrote one): the new user turn + the generation prompt
        const glue = model.tokenize((ended ? "\n" : "<|im_end|>\n") + (await model.applyChatTemplate([{ role: "user", content: question }])), { parseSpecial: true });
        expect({ turn, evaluated }).toEqual({ turn, evaluated: glue.length });
      }
      const ctx = await model.createContext(opts);
      let fresh = "";
      for await (const c of ctx.generate(expected, gen)) fresh += c.text;
      await ctx.close();
      expect({ turn, reply: reply.content }).toEqual({ turn, reply: fresh });
      if (reply.finishReason === "stop") stops++;
      ended = reply.finishReason === "stop";
    }
    expect(stops).toBeGreaterThan(10); // the model ends most turns with <|im_end|>
    await chat.close();
    await model.close();
  }, 60_000);
});
