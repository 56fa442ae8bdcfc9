// `npm run bench` (bench/perf.mjs): a --quick run emits well-formed rows; the Q4_K_M mix picks
// llama.cpp's layers. Timings are only checked to be positive numbers, never compared.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { kQuantUsesMoreBits, q4KMMix } from "../../scripts/gguf/llama-model";
import { ROOT, tempDir } from "../helpers";

test("the Q4_K_M mix gives Q6_K to output and to attn_v and ffn_down in 10 of TinyLlama's 22 layers", () => {
  const more = Array.from({ length: 22 }, (_, i) => i).filter((i) => kQuantUsesMoreBits(i, 22));
  expect(more).toEqual([0, 1, 4, 7, 10, 13, 16, 19, 20, 21]);
  const mix = q4KMMix(22);
  expect(mix.weightType).toBe("Q4_K");
  expect(mix.fileType).toBe(15);
  expect(mix.tensorTypes?.["output.weight"]).toBe("Q6_K");
  expect(mix.tensorTypes?.["blk.4.attn_v.weight"]).toBe("Q6_K");
  expect(mix.tensorTypes?.["blk.4.ffn_down.weight"]).toBe("Q6_K");
  expect(mix.tensorTypes?.["blk.5.ffn_down.weight"]).toBeUndefined();
  expect(q4KMMix(22, true).tensorTypes?.["token_embd.weight"]).toBe("Q6_K");
});

test("bench --quick --no-llama writes JSON rows with positive prefill, decode, RSS and GB/s", () => {
  const dir = tempDir("ringllm-bench-");
  try {
    const out = join(dir.path, "out.json");
    const r = spawnSync(process.execPath, [join(ROOT, "bench", "perf.mjs"), "--quick", "--no-llama", "--no-bandwidth", "--threads", "1",
      "--cache", dir.path, "--json", out], { encoding: "utf8" });
    expect(r.stderr).not.toMatch(/exited .* without a result/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/\| engine +\| model/);
    const res = JSON.parse(readFileSync(out, "utf8"));
    expect(res.rows).toHaveLength(1);
    const row = res.rows[0];
    expect(row).toMatchObject({ engine: "ringllm", model: "small", type: "Q4_0", threads: 1 });
    for (const p of row.prefill) expect(p.medianTokS).toBeGreaterThan(0);
    expect(row.prefill.map((p: { tokens: number }) => p.tokens)).toEqual([128, 512]);
    expect(row.decode.tokS).toBeGreaterThan(0);
    expect(row.peakRssBytes).toBeGreaterThan(0);
    expect(row.achievedGBps).toBeGreaterThan(0);
    expect(row.bandwidthPct).toBeNull();
    expect(res.env.ringllm.kernels).toEqual(expect.any(String));
  } finally {
    dir.cleanup();
  }
}, 120000);
