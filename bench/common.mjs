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
