// context.truncate(n) / context.tokens(): going back to a prefix gives the same logits as a fresh
// context fed that prefix (bit for bit: attention sums in a fixed order whatever the chunking), and
// ring caches refuse once they have evicted what the rewind would need.
import { loadModel, type Model, RingllmError, setLogger } from "../../lib/index";
import { sharedDescribe, STORIES } from "../helpers";


sharedDescribe("truncate and tokens on stories260K", [STORIES], () => {
  let model: Model;
  beforeAll(async () => {
    setLogger(null);
    model = await loadModel(STORIES);
  });
  afterAll(() => model?.close());

  const ids = (n: number, seed: number) => Array.from({ length: n }, (_, i) => 3 + ((i * 7919 + seed * 104729) % 500));

  async function fresh(tokens: number[], kv?: object): Promise<Float32Array> {
    const ctx = await model.createContext({ contextSize: 256, attentionSplits: 1, threads: 1, kv });
    try {
      return await ctx.decode(tokens);
    } finally {
      await ctx.close();
    }
  }

  test.each([
    ["full", { policy: "full" }],
    ["window 48 (not wrapped)", { policy: "window", window: 48 }],
    ["sinks 4 + 40 (not wrapped)", { policy: "sinks", sinks: 4, recent: 40 }],
  ])("%s: decode A+B, truncate to A, decode C = a fresh decode of A+C", async (_name, kv) => {
    const a = ids(17, 1), b = ids(13, 2), c = ids(9, 3);
    const ctx = await model.createContext({ contextSize: 256, attentionSplits: 1, threads: 1, kv: kv as object });
    await ctx.decode([...a, ...b]);
    expect([...(await ctx.tokens())!]).toEqual([...a, ...b]);
    await ctx.truncate(a.length);
    expect(ctx.position).toBe(a.length);
    expect([...(await ctx.tokens())!]).toEqual(a);
    const got = await ctx.decode(c);
    expect(Buffer.from(got.buffer).equals(Buffer.from((await fresh([...a, ...c], kv)).buffer))).toBe(true);
    expect(ctx.stats().layers.every((l) => l.held === a.length + c.length)).toBe(true);
    await ctx.close();
  });

  test("a ring that wrapped, and h2o, refuse with CONTEXT_REWIND; the context stays usable", async () => {
    const ctx = await model.createContext({ attentionSplits: 1, threads: 1, kv: { policy: "window", window: 16 } });
    await ctx.decode(ids(20, 4));
    await expect(ctx.truncate(10)).rejects.toMatchObject({ code: "CONTEXT_REWIND", message: expect.stringMatching(/evicted/) });
    expect(ctx.position).toBe(20);
    await ctx.truncate(20); // the position itself: nothing to forget
    await ctx.decode([5]);
    await ctx.close();
    const h2o = await model.createContext({ contextSize: 64, threads: 1, kv: { policy: "h2o", heavy: 8, recent: 8 } });
    await h2o.decode(ids(6, 5));
    await expect(h2o.truncate(5)).rejects.toMatchObject({ code: "CONTEXT_REWIND" });
    await h2o.truncate(6);
    await h2o.close();
  });

  test("bad positions are INVALID_ARGUMENT; the last sampled token counts as held", async () => {
    const ctx = await model.createContext({ contextSize: 64, threads: 1 });
    await ctx.decode(ids(5, 6));
    await expect(ctx.truncate(6)).rejects.toBeInstanceOf(RingllmError);
    await expect(ctx.truncate(-1)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(ctx.truncate(1.5)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    const out: number[] = [];
    for await (const chunk of ctx.generate(ids(2, 7), { temperature: 0, maxTokens: 3 })) out.push(chunk.token);
    const held = [...(await ctx.tokens())!];
    expect(held.length).toBe(ctx.position);
    expect(held.slice(-out.length)).toEqual(out);
    await ctx.truncate(5);
    expect([...(await ctx.tokens())!]).toEqual(ids(5, 6));
    await ctx.close();
  });
});
