// Tables of bench/perf.mjs: rows of measurements in, Markdown tables out (pasteable into README).

const fixed = (x, d = 1) => (x == null || !Number.isFinite(x) ? "-" : x.toFixed(d));
const mib = (b) => (b == null ? "-" : (b / 2 ** 20).toFixed(0));
const loads = (l) => (l ? `${l.before[0].toFixed(2)} → ${l.after[0].toFixed(2)}` : "-");

/** A Markdown table; columns whose header starts with ">" are right-aligned (the ">" is dropped). */
export function markdownTable(headers, rows) {
  const names = headers.map((h) => h.replace(/^>/, ""));
  const right = headers.map((h) => h.startsWith(">"));
  const cells = rows.map((r) => r.map((c) => String(c ?? "-")));
  const width = names.map((n, i) => Math.max(n.length, 3, ...cells.map((r) => r[i].length)));
  const line = (r) => "| " + r.map((c, i) => (right[i] ? c.padStart(width[i]) : c.padEnd(width[i]))).join(" | ") + " |";
  const rule = "| " + width.map((w, i) => (right[i] ? "-".repeat(w - 1) + ":" : "-".repeat(w))).join(" | ") + " |";
  return [line(names), rule, ...cells.map(line)].join("\n");
}

/** Prefill / decode / RSS / bandwidth per engine, model, type and thread count. */
export function speedTable(rows, prompts) {
  const headers = ["engine", "model", "type", ">threads", ...prompts.map((n) => `>prefill ${n} tok/s`), ">decode tok/s", ">decode ms",
    ">GB/s", ">% of read bw", ">peak RSS MiB", "load 1 min before → after"];
  return markdownTable(headers, rows.map((r) => {
    if (r.error) return [r.engine, r.model, r.type, r.threads, ...prompts.map(() => "-"), "error", "-", "-", "-", "-", r.error.slice(0, 60)];
    return [
      r.engine, r.model, r.type, r.threads, ...prompts.map((n) => fixed(r.prefill.find((p) => p.tokens === n)?.medianTokS)),
      fixed(r.decode.tokS), fixed(r.decode.medianMs, 2), fixed(r.achievedGBps, 2), r.bandwidthPct == null ? "n/a" : fixed(r.bandwidthPct, 0) + " %",
      mib(r.peakRssBytes), loads(r.load),
    ];
  }));
}

/** ringllm / llama.cpp ratios for every (model, type, threads) that both engines measured. */
export function ratioRows(rows, prompts) {
  const ok = rows.filter((r) => !r.error);
  const out = [];
  for (const a of ok.filter((r) => r.engine === "ringllm")) {
    const same = (r) => r.engine === "llama.cpp" && r.model === a.model && r.type === a.type;
    const b = ok.find((r) => same(r) && r.threads === a.threads);
    if (!b) continue;
    const best = ok.filter(same).sort((x, y) => y.decode.tokS - x.decode.tokS)[0];
    const pre = (r, n) => r.prefill.find((p) => p.tokens === n)?.medianTokS;
    out.push({
      model: a.model, type: a.type, threads: a.threads,
      prefill: Object.fromEntries(prompts.map((n) => [n, pre(a, n) / pre(b, n)])),
      decode: a.decode.tokS / b.decode.tokS,
      decodeVsLlamaBest: a.decode.tokS / best.decode.tokS, llamaBestThreads: best.threads,
    });
  }
  return out;
}

export function ratioTable(ratios, prompts) {
  const headers = ["model", "type", ">threads", ...prompts.map((n) => `>prefill ${n}`), ">decode", ">decode vs llama.cpp's best threads"];
  return markdownTable(headers, ratios.map((r) => [
    r.model, r.type, r.threads, ...prompts.map((n) => fixed(r.prefill[n], 2) + "×"), fixed(r.decode, 2) + "×",
    `${fixed(r.decodeVsLlamaBest, 2)}× (llama.cpp ${r.llamaBestThreads} thr)`,
  ]));
}

/** Per-token latency from JS (generate and single-token decode). */
export function latencyTable(rows) {
  const headers = ["engine", "model", ">threads", ">generate ms/token (median)", ">generate ms/token (mean)", ">decode() ms/token (median)",
    ">peak RSS MiB", "load 1 min before → after"];
  return markdownTable(headers, rows.map((r) => (r.error
    ? [r.engine, r.model, r.threads, "error", "-", "-", "-", r.error.slice(0, 60)]
    : [r.engine, r.model, r.threads, fixed(r.generate.medianMs, 3), fixed(r.generate.meanMs, 3), fixed(r.decode.medianMs, 3), mib(r.peakRssBytes), loads(r.load)])));
}
