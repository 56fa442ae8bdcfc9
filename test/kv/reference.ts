// A slow, obviously-correct llama forward pass in TypeScript, with the KV-cache policies of
// LONG_CONTEXT.md sections 2-4 written as per-query attention masks (and, for sinks, as positions
// assigned inside the cache). It is the specification the engine's ring buffers are tested against.
// F32 weights only; everything is computed in doubles.
import { closeSync, openSync, readSync } from "node:fs";

import { readGgufInfo } from "../../lib";

export interface RefLayer {
  attnNorm: Float32Array;
  wq: Float32Array; // (nEmbd rows, nEmbd)
  wk: Float32Array; // (nHeadKv*headDim rows, nEmbd)
  wv: Float32Array; // (nHeadKv*headDim rows, nEmbd)
  wo: Float32Array; // (nEmbd rows, nEmbd)
  ffnNorm: Float32Array;
  wGate: Float32Array; // (nFf rows, nEmbd)
  wUp: Float32Array; // (nFf rows, nEmbd)
  wDown: Float32Array; // (nEmbd rows, nFf)
}

export interface RefModel {
  nLayer: number;
  nEmbd: number;
  nHead: number;
  nHeadKv: number;
  headDim: number;
  nFf: number;
  nVocab: number;
  nRot: number;
  eps: number;
  ropeBase: number;
  /** llama.attention.sliding_window, when the file has it */
  slidingWindow?: number;
  /** per layer: the trained window (sliding_window, filtered by sliding_window_pattern), 0 for none */
  layerWindows: number[];
  contextLength: number;
  tokEmbd: Float32Array; // (nVocab rows, nEmbd)
  layers: RefLayer[];
  outputNorm: Float32Array;
  output: Float32Array; // (nVocab rows, nEmbd); token_embd when tied
}

/** A KV-cache policy as the reference applies it to one layer. */
export type RefPolicy =
  | { kind: "full" }
  | { kind: "window"; window: number }
  | { kind: "sinks"; sinks: number; recent: number }
  | { kind: "h2o"; heavy: number; recent: number }
  | { kind: "recall"; sinks: number; recent: number; blockSize: number; topBlocks: number; positions: "remap" | "absolute" };

export interface RefOptions {
  /** One policy for every layer, or one per layer. */
  policy: RefPolicy | RefPolicy[];
  /** Round stored K (after RoPE) and V to f16 as the engine's f16 cache does (default false). */
  f16Kv?: boolean;
  /**
   * RoPE angles p * base^(-2i/n_rot) in doubles instead of the engine's float32 recurrence (default
   * false). The float32 angles make a rotation at p differ from one at p-d followed by d by ~1e-6 rad.
   */
  exactRope?: boolean;
}

/** What the h2o policy holds after the last token, per layer and KV head. */
export interface H2oState {
  /** absolute positions held, ascending */
  positions: number[];
  /** accumulated attention probability of each held position (same order) */
  scores: number[];
}

export interface RefResult {
  /** n * nVocab logits, row t = the logits after token t */
  logits: Float64Array;
  /** h2o layers only: [layer][kvHead] */
  h2o: (H2oState[] | undefined)[];
}

/** Reads a llama GGUF written by scripts/gguf/llama-model.ts (F32 matrices) back into memory. */
export async function loadRefModel(path: string): Promise<RefModel> {
  const info = await readGgufInfo(path);
  const md = info.metadata;
  const num = (k: string, dflt?: number): number => {
    const v = md[k];
    if (typeof v === "number") return v;
    if (dflt !== undefined) return dflt;
    throw new Error(`reference: ${path} has no numeric ${k}`);
  };
  const fd = openSync(path, "r");
  const tensor = (name: string): Float32Array | undefined => {
    const t = info.tensors.find((x) => x.name === name);
    if (!t) return undefined;
    if (t.type !== "F32") throw new Error(`reference: ${name} is ${t.type}; only F32 is supported`);
    const buf = Buffer.alloc(t.sizeBytes);
    readSync(fd, buf, 0, t.sizeBytes, t.offset);
    return new Float32Array(buf.buffer, buf.byteOffset, t.elements).slice();
  };
  const need = (name: string): Float32Array => {
    const t = tensor(name);
    if (!t) throw new Error(`reference: ${path} has no ${name}`);
    return t;
  };
  try {
    const nEmbd = num("llama.embedding_length");
    const nHead = num("llama.attention.head_count");
    const nLayer = num("llama.block_count");
    const layers: RefLayer[] = [];
    for (let l = 0; l < nLayer; l++) {
      const p = `blk.${l}.`;
      layers.push({
        attnNorm: need(p + "attn_norm.weight"),
        wq: need(p + "attn_q.weight"),
        wk: need(p + "attn_k.weight"),
        wv: need(p + "attn_v.weight"),
        wo: need(p + "attn_output.weight"),
        ffnNorm: need(p + "ffn_norm.weight"),
        wGate: need(p + "ffn_gate.weight"),
        wUp: need(p + "ffn_up.weight"),
        wDown: need(p + "ffn_down.weight"),
      });
    }
    const tokEmbd = need("token_embd.weight");
    const sw = md["llama.attention.sliding_window"];
    const window = typeof sw === "number" ? sw : 0;
    const pattern = md["llama.attention.sliding_window_pattern"];
    const layerWindows = Array.from({ length: nLayer }, (_, il) => {
      if (Array.isArray(pattern)) return pattern[il] === true ? window : 0;
      if (typeof pattern === "number") return il % pattern < pattern - 1 ? window : 0;
      return window;
    });
    return {
      nLayer,
      nEmbd,
      nHead,
      nHeadKv: num("llama.attention.head_count_kv", nHead),
      headDim: nEmbd / nHead,
      nFf: num("llama.feed_forward_length"),
      nVocab: tokEmbd.length / nEmbd,
      nRot: num("llama.rope.dimension_count", nEmbd / nHead),
      eps: num("llama.attention.layer_norm_rms_epsilon"),
      ropeBase: num("llama.rope.freq_base", 10000),
      slidingWindow: typeof sw === "number" ? sw : undefined,
      layerWindows,
      contextLength: num("llama.context_length"),
      tokEmbd,
      layers,
      outputNorm: need("output_norm.weight"),
      output: tensor("output.weight") ?? tokEmbd,
    };
  } finally {
    closeSync(fd);
  }
}

/** The `kv` options of model.createContext, as far as the reference needs them. */
export interface KvOptions {
  policy?: "auto" | "full" | "window" | "sinks" | "h2o";
  window?: number;
  sinks?: number;
  recent?: number;
  heavy?: number;
}

/**
 * The per-layer policies the engine applies for createContext({ kv }): auto and full give trained
 * window layers their window (a ring, or a mask over a full cache) and full attention elsewhere;
 * window applies to every layer; sinks and h2o apply to layers without a trained window.
 */
export function layerPolicies(m: RefModel, kv: KvOptions): RefPolicy[] {
  return m.layerWindows.map((w): RefPolicy => {
    switch (kv.policy ?? "auto") {
      case "auto":
      case "full":
        return w > 0 ? { kind: "window", window: w } : { kind: "full" };
      case "window": {
        const window = kv.window ?? m.slidingWindow;
        if (window === undefined) throw new Error("layerPolicies: window policy without a window");
        return { kind: "window", window };
      }
      case "sinks":
        if (w > 0) return { kind: "window", window: w };
        if (kv.recent === undefined) throw new Error("layerPolicies: give sinks an explicit recent");
        return { kind: "sinks", sinks: kv.sinks ?? 4, recent: kv.recent };
      case "h2o":
        if (w > 0) return { kind: "window", window: w };
        return { kind: "h2o", heavy: kv.heavy ?? 0, recent: kv.recent ?? 0 };
    }
  });
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Rounds to the nearest f16 value (round half to even), as a double. */
export function f16round(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  if (a >= 65520) return Math.sign(x) * Infinity;
  f32[0] = a;
  const exp = (u32[0] >>> 23) - 127;
  // spacing of f16 values around a: 2^(exp-10) for normals, 2^-24 for subnormals
  const ulp = 2 ** Math.max(exp - 10, -24);
  const q = a / ulp;
  let r = Math.round(q);
  if (Math.abs(q - Math.trunc(q) - 0.5) < 1e-12 && r % 2 === 1) r -= 1; // ties to even
  return Math.sign(x) * r * ulp;
}

/** y (rows) = W (rows x cols, row-major) · x */
function matvec(w: Float32Array, x: Float64Array, rows: number, cols: number): Float64Array {
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    const o = r * cols;
    for (let c = 0; c < cols; c++) s += w[o + c] * x[c];
    y[r] = s;
  }
  return y;
}

function rmsnorm(x: Float64Array, w: Float32Array, eps: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const scale = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * scale * w[i]);
}

/** cos/sin per rotated pair at position pos, with the engine's float32 recurrence for theta. */
function ropeTable(m: RefModel, pos: number, exact: boolean): Float64Array {
  const half = m.nRot / 2;
  const cs = new Float64Array(2 * half);
  if (exact) {
    for (let i = 0; i < half; i++) {
      const theta = pos * Math.pow(m.ropeBase, (-2 * i) / m.nRot);
      cs[2 * i] = Math.cos(theta);
      cs[2 * i + 1] = Math.sin(theta);
    }
    return cs;
  }
  const scale = Math.fround(Math.pow(Math.fround(m.ropeBase), Math.fround(-2 / m.nRot)));
  let theta = Math.fround(pos);
  for (let i = 0; i < half; i++) {
    cs[2 * i] = Math.cos(theta);
    cs[2 * i + 1] = Math.sin(theta);
    theta = Math.fround(theta * scale);
  }
  return cs;
}

const ropeCache = new WeakMap<RefModel, Map<number, Float64Array>>();
function rope(m: RefModel, pos: number, exact: boolean): Float64Array {
  let c = ropeCache.get(m);
  if (!c) ropeCache.set(m, (c = new Map()));
  const key = exact ? -1 - pos : pos;
  let t = c.get(key);
  if (!t) c.set(key, (t = ropeTable(m, pos, exact)));
  return t;
}

/** Rotates one head vector (headDim) in adjacent-pair (NORM) order at `pos`. */
function rotate(m: RefModel, x: Float64Array, pos: number, exact = false): Float64Array {
  const cs = rope(m, pos, exact);
  const y = Float64Array.from(x);
  for (let i = 0; i < m.nRot / 2; i++) {
    const c = cs[2 * i], s = cs[2 * i + 1];
    const x0 = x[2 * i], x1 = x[2 * i + 1];
    y[2 * i] = x0 * c - x1 * s;
    y[2 * i + 1] = x0 * s + x1 * c;
  }
  return y;
}

function softmax(s: number[]): number[] {
  const max = Math.max(...s);
  const e = s.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

type RecallPolicy = Extract<RefPolicy, { kind: "recall" }>;

/**
 * Recall, written from its definition: blocks of `blockSize` aligned to absolute positions cover
 * the evicted positions [S, tailLo); the tail is the last R positions plus the rest of their block.
 * Returns the complete blocks' [lo, hi] for a query at p, and tailLo.
 */
export function recallBlocks(policy: RecallPolicy, p: number): { blocks: [number, number][]; tailLo: number } {
  const { sinks: S, recent: R, blockSize: B } = policy;
  const r0 = Math.max(S, p - R + 1);
  const tailLo = Math.max(S, Math.floor(r0 / B) * B);
  const blocks: [number, number][] = [];
  for (let b = Math.floor(S / B); (b + 1) * B <= tailLo; b++) blocks.push([Math.max(S, b * B), (b + 1) * B - 1]);
  return { blocks, tailLo };
}

/**
 * The keys a recall query at p sees given the score of each complete block: the topBlocks highest
 * (ties to the lower index) in position order, after the sinks and before the tail; with `remap`,
 * positions of the compacted cache (sinks, selected blocks, tail) and the query at its end.
 */
export function recallKeys(policy: RecallPolicy, p: number, score: (lo: number, hi: number) => number): { keys: number[]; keyPos: number[]; queryPos: number; selected: number[] } {
  const range = (a: number, b: number) => Array.from({ length: Math.max(0, b - a + 1) }, (_, i) => a + i);
  const { blocks, tailLo } = recallBlocks(policy, p);
  const scores = blocks.map(([lo, hi]) => score(lo, hi));
  const order = blocks.map((_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  const selected = order.slice(0, policy.topBlocks).sort((a, b) => a - b);
  const keys = [...range(0, Math.min(policy.sinks - 1, p)), ...selected.flatMap((i) => range(blocks[i][0], blocks[i][1])), ...range(tailLo, p)];
  if (policy.positions === "absolute") return { keys, keyPos: keys, queryPos: p, selected };
  const keyPos = keys.map((_, j) => j); // the compacted cache
  return { keys, keyPos, queryPos: keys.length - 1, selected };
}

/** The keys query p sees under a mask policy, with the RoPE position of each key and of the query. */
export function visibleKeys(policy: RefPolicy, p: number): { keys: number[]; keyPos: number[]; queryPos: number } {
  const range = (a: number, b: number) => Array.from({ length: Math.max(0, b - a + 1) }, (_, i) => a + i);
  switch (policy.kind) {
    case "full": {
      const keys = range(0, p);
      return { keys, keyPos: keys, queryPos: p };
    }
    case "window": {
      const keys = range(Math.max(0, p - policy.window + 1), p);
      return { keys, keyPos: keys, queryPos: p };
    }
    case "sinks": {
      const { sinks: S, recent: R } = policy;
      if (p < S + R) {
        const keys = range(0, p);
        return { keys, keyPos: keys, queryPos: p };
      }
      // cache full: sinks at 0..S-1, recent token u at (S+R-1) - (p-u), the query at S+R-1
      const keys = [...range(0, S - 1), ...range(Math.max(S, p - R + 1), p)];
      const keyPos = keys.map((u) => (u < S ? u : S + R - 1 - (p - u)));
      return { keys, keyPos, queryPos: S + R - 1 };
    }
    default:
      throw new Error(`visibleKeys: ${policy.kind} is not a mask policy`);
  }
}

/**
 * Full-sequence forward pass over `tokens` with a KV policy per layer. Returns the logits of every
 * position and, for h2o layers, the held set and scores per KV head after the last token.
 */
export function referenceForward(m: RefModel, tokens: readonly number[], opts: RefOptions): RefResult {
  const n = tokens.length;
  const E = m.nEmbd, hd = m.headDim, H = m.nHead, G = m.nHeadKv, group = H / G;
  const kvDim = G * hd;
  const policies = Array.isArray(opts.policy) ? opts.policy : Array.from({ length: m.nLayer }, () => opts.policy as RefPolicy);
  if (policies.length !== m.nLayer) throw new Error(`reference: ${policies.length} policies for ${m.nLayer} layers`);
  const store = opts.f16Kv ? f16round : (v: number) => v;
  const scale = 1 / Math.sqrt(hd);
  const exact = opts.exactRope ?? false;
  const rot = (x: Float64Array, pos: number) => rotate(m, x, pos, exact);
  const head = (v: Float64Array, h: number) => v.subarray(h * hd, (h + 1) * hd);
  const dot = (a: Float64Array, b: Float64Array) => {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += a[i] * b[i];
    return s;
  };

  let x: Float64Array[] = tokens.map((t) => Float64Array.from(m.tokEmbd.subarray(t * E, (t + 1) * E)));
  const h2o: (H2oState[] | undefined)[] = [];
  for (let l = 0; l < m.nLayer; l++) {
    const L = m.layers[l];
    const policy = policies[l];
    const hn = x.map((v) => rmsnorm(v, L.attnNorm, m.eps));
    const q = hn.map((v) => matvec(L.wq, v, E, E));
    const k = hn.map((v) => matvec(L.wk, v, kvDim, E)); // pre-RoPE
    const v = hn.map((u) => matvec(L.wv, u, kvDim, E).map(store));
    const att = Array.from({ length: n }, () => new Float64Array(E));

    // K rotated at its absolute position (what a post-RoPE cache stores), per token and KV head
    const kAbs = k.map((kt, t) => Array.from({ length: G }, (_, g) => rot(head(kt, g), t).map(store)));

    if (policy.kind === "h2o") {
      const states: H2oState[] = [];
      for (let g = 0; g < G; g++) {
        let held: number[] = [];
        let score = new Map<number, number>();
        for (let p = 0; p < n; p++) {
          held.push(p);
          score.set(p, 0);
          for (let hq = g * group; hq < (g + 1) * group; hq++) {
            const qr = rot(head(q[p], hq), p);
            const probs = softmax(held.map((u) => dot(qr, kAbs[u][g]) * scale));
            const out = head(att[p], hq);
            held.forEach((u, j) => {
              score.set(u, score.get(u)! + probs[j]);
              const vu = head(v[u], g);
              for (let i = 0; i < hd; i++) out[i] += probs[j] * vu[i];
            });
          }
          if (held.length > policy.heavy + policy.recent) {
            // evict the lowest-scored token older than the last `recent` positions (ties: the oldest)
            let victim = -1;
            for (const u of held) {
              if (u > p - policy.recent) continue;
              if (victim < 0 || score.get(u)! < score.get(victim)!) victim = u;
            }
            if (victim >= 0) {
              held = held.filter((u) => u !== victim);
              score.delete(victim);
            }
          }
        }
        states.push({ positions: [...held], scores: held.map((u) => score.get(u)!) });
        score = new Map();
      }
      h2o.push(states);
    } else if (policy.kind === "recall") {
      h2o.push(undefined);
      const range = (a: number, b: number) => Array.from({ length: Math.max(0, b - a + 1) }, (_, i) => a + i);
      for (let p = 0; p < n; p++) {
        for (let g = 0; g < G; g++) {
          // Quest's bound per block from the stored (rotated, rounded) keys, summed over the group.
          // absolute: the query at p, the keys as stored. remap: every block as if it ended just
          // before the tail: the query rotated at p - tailLo, the block's keys rotated back by hi + 1.
          const remap = policy.positions === "remap";
          const { tailLo } = recallBlocks(policy, p);
          const qs = Array.from({ length: group }, (_, i) => rot(head(q[p], g * group + i), remap ? p - tailLo : p));
          const score = (lo: number, hi: number) => {
            const ks = range(lo, hi).map((u) => (remap ? rot(kAbs[u][g], -(hi + 1)) : kAbs[u][g]));
            let sc = 0;
            for (let d = 0; d < hd; d++) {
              let mn = Infinity, mx = -Infinity;
              for (const kk of ks) {
                mn = Math.min(mn, kk[d]);
                mx = Math.max(mx, kk[d]);
              }
              for (const qq of qs) sc += Math.max(qq[d] * mn, qq[d] * mx);
            }
            return sc;
          };
          const { keys, keyPos, queryPos } = recallKeys(policy, p, score);
          const absolute = keys.every((u, j) => keyPos[j] === u);
          for (let hq = g * group; hq < (g + 1) * group; hq++) {
            const qr = rot(head(q[p], hq), queryPos);
            const probs = softmax(keys.map((u, j) => dot(qr, absolute ? kAbs[u][g] : rot(head(k[u], g), keyPos[j]).map(store)) * scale));
            const out = head(att[p], hq);
            keys.forEach((u, j) => {
              const vu = head(v[u], g);
              for (let i = 0; i < hd; i++) out[i] += probs[j] * vu[i];
            });
          }
        }
      }
    } else {
      h2o.push(undefined);
      for (let p = 0; p < n; p++) {
        const { keys, keyPos, queryPos } = visibleKeys(policy, p);
        const absolute = keys.every((u, j) => keyPos[j] === u);
        for (let hq = 0; hq < H; hq++) {
          const g = Math.floor(hq / group);
          const qr = rot(head(q[p], hq), queryPos);
          const probs = softmax(
            keys.map((u, j) => dot(qr, absolute ? kAbs[u][g] : rot(head(k[u], g), keyPos[j]).map(store)) * scale),
          );
          const out = head(att[p], hq);
          keys.forEach((u, j) => {
            const vu = head(v[u], g);
            for (let i = 0; i < hd; i++) out[i] += probs[j] * vu[i];
          });
        }
      }
    }

    x = x.map((xt, t) => {
      const o = matvec(L.wo, att[t], E, E);
      const r = xt.map((val, i) => val + o[i]);
      const hf = rmsnorm(r, L.ffnNorm, m.eps);
      const gate = matvec(L.wGate, hf, m.nFf, E);
      const up = matvec(L.wUp, hf, m.nFf, E);
      const act = gate.map((gv, i) => (gv / (1 + Math.exp(-gv))) * up[i]);
      const d = matvec(L.wDown, act, E, m.nFf);
      return r.map((val, i) => val + d[i]);
    });
  }

  const logits = new Float64Array(n * m.nVocab);
  x.forEach((xt, t) => logits.set(matvec(m.output, rmsnorm(xt, m.outputNorm, m.eps), m.nVocab, E), t * m.nVocab));
  return { logits, h2o };
}

/** Largest |a-b| / (max |b| over the row) over rows of width `width`: a scale-free logit error. */
export function maxRelError(a: ArrayLike<number>, b: ArrayLike<number>, width: number): number {
  if (a.length !== b.length) throw new Error(`maxRelError: lengths ${a.length} and ${b.length}`);
  let worst = 0;
  for (let r = 0; r < a.length / width; r++) {
    let scale = 0, err = 0;
    for (let i = r * width; i < (r + 1) * width; i++) {
      scale = Math.max(scale, Math.abs(b[i]));
      err = Math.max(err, Math.abs(a[i] - b[i]));
    }
    worst = Math.max(worst, err / (scale || 1));
  }
  return worst;
}

/** Mean over rows of KL(softmax(p) || softmax(q)) for row-major logits of width `width`. */
export function meanKl(p: ArrayLike<number>, q: ArrayLike<number>, width: number): number {
  const rows = p.length / width;
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const lp = logSoftmax(p, r * width, width), lq = logSoftmax(q, r * width, width);
    let kl = 0;
    for (let i = 0; i < width; i++) kl += Math.exp(lp[i]) * (lp[i] - lq[i]);
    total += kl;
  }
  return total / rows;
}

export function logSoftmax(x: ArrayLike<number>, off: number, n: number): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, x[off + i]);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(x[off + i] - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = x[off + i] - lse;
  return out;
}
