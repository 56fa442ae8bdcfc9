import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

// Helpers shared by the benchmark scripts (long-context.mjs, perf-child.mjs).

export const maxRssBytes = () => process.resourceUsage().maxRSS * 1024;

export const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// Deterministic random token ids in [3, vocab) (skips <unk>, <s>, </s> of llama vocabularies and the
// writer's BOS/EOS/UNK).
export function randomTokens(n, vocab, seed) {
  let s = seed >>> 0 || 1;
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = 3 + (s % (vocab - 3));
  }
  return out;
}

// Read bandwidth by thread count from scripts/bench-kernels.sh --bandwidth (its last stdout line is
// JSON: { readGBps: { "1": GB/s, "2": GB/s } }), or readGBps null with the reason.
export function measureReadBandwidth(root) {
  const script = join(root, "scripts", "bench-kernels.sh");
  if (!existsSync(script)) return Promise.resolve({ readGBps: null, note: "scripts/bench-kernels.sh not found" });
  console.error("measuring read bandwidth: bash scripts/bench-kernels.sh --bandwidth");
  return new Promise((res) => {
    const p = spawn("bash", [script, "--bandwidth"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d) => { out += d; });
    p.stderr.resume();
    const timer = setTimeout(() => p.kill("SIGKILL"), 600_000);
    p.on("close", (code, signal) => {
      clearTimeout(timer);
      const last = out.trim().split("\n").pop() ?? "";
      try {
        const j = JSON.parse(last);
        if (j && typeof j.readGBps === "object") return res({ readGBps: j.readGBps, note: "scripts/bench-kernels.sh --bandwidth" });
      } catch { /* not JSON: reported below */ }
      res({ readGBps: null, note: `scripts/bench-kernels.sh --bandwidth exited ${code ?? signal} without JSON on its last line` });
    });
  });
}
