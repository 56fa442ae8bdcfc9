// Writes a random-but-seeded llama-family GGUF model.
// Usage: npx tsx scripts/make-model.ts --out file.gguf [--preset tinyllama] [--type Q4_0]
//        [--layers 2] [--dim 64] [--heads 4] [--kv-heads 2] [--ffn 128] [--vocab 512] [--ctx 256]
//        [--seed 1] [--sliding-window N] [--rope-base F] [--rms-eps F] [--tied] [--std F] [--name S]
//        [--mix q4_k_m]

import { parseArgs } from "node:util";
import { type BertModelOptions, writeBertModel } from "./gguf/bert-models";
import { LLAMA_PRESETS, LlamaModelOptions, q4KMMix, writeLlamaModel } from "./gguf/llama-model";
import { QUANTIZABLE_TYPES, isQuantizable } from "./gguf/quants";

const USAGE = `usage: npx tsx scripts/make-model.ts --out FILE.gguf [options]
  --preset NAME        ${Object.keys(LLAMA_PRESETS).join(" | ")} (flags below override it; default tiny)
  --type T             weight type: ${QUANTIZABLE_TYPES.join(", ")}
  --mix q4_k_m         llama.cpp's Q4_K_M mix: Q4_K, with Q6_K for output.weight and for attn_v and
                       ffn_down in about half of the layers (instead of --type)
  --layers N --dim N --heads N --kv-heads N --ffn N --vocab N --ctx N
  --seed N             PRNG seed (default 1)
  --sliding-window N   write llama.attention.sliding_window
  --rope-base F --rms-eps F --std F --name S
  --tied               omit output.weight (tied embeddings)
  --simulate-type T    F32 twin: weights rounded through T's quantizer, stored as F32
  --version 2|3        GGUF version (default 3)
  --arch bert|nomic-bert  an encoder (scripts/gguf/bert-models.ts) with --layers --dim --heads --ffn
                       --ctx --type --seed (vocabulary: 1,000 WordPiece tokens) and --pooling N`;

function main(argv: string[]): void {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: "string", short: "o" },
      preset: { type: "string" },
      type: { type: "string" },
      mix: { type: "string" },
      layers: { type: "string" },
      dim: { type: "string" },
      heads: { type: "string" },
      "kv-heads": { type: "string" },
      ffn: { type: "string" },
      vocab: { type: "string" },
      ctx: { type: "string" },
      seed: { type: "string" },
      "sliding-window": { type: "string" },
      "rope-base": { type: "string" },
      "rms-eps": { type: "string" },
      std: { type: "string" },
      name: { type: "string" },
      tied: { type: "boolean" },
      "simulate-type": { type: "string" },
      version: { type: "string" },
      arch: { type: "string" },
      pooling: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!values.out) throw new Error(`--out is required\n${USAGE}`);
  const presetName = values.preset ?? "tiny";
  const preset = LLAMA_PRESETS[presetName];
  if (!preset) throw new Error(`unknown preset ${JSON.stringify(presetName)}; expected one of ${Object.keys(LLAMA_PRESETS).join(", ")}`);

  const int = (flag: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isSafeInteger(n)) throw new Error(`--${flag} expects an integer; got ${JSON.stringify(v)}`);
    return n;
  };
  const num = (flag: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`--${flag} expects a number; got ${JSON.stringify(v)}`);
    return n;
  };
  if (values.type !== undefined && !isQuantizable(values.type)) {
    throw new Error(`--type must be one of ${QUANTIZABLE_TYPES.join(", ")}; got ${JSON.stringify(values.type)}`);
  }
  if (values.mix !== undefined && values.mix !== "q4_k_m") throw new Error(`--mix must be q4_k_m; got ${JSON.stringify(values.mix)}`);
  if (values.mix !== undefined && values.type !== undefined) throw new Error("--mix and --type exclude each other");
  const sim = values["simulate-type"];
  if (sim !== undefined && !isQuantizable(sim)) {
    throw new Error(`--simulate-type must be one of ${QUANTIZABLE_TYPES.join(", ")}; got ${JSON.stringify(sim)}`);
  }
  const version = int("version", values.version);
  if (version !== undefined && version !== 2 && version !== 3) throw new Error(`--version must be 2 or 3; got ${version}`);

  const defined = <T extends object>(o: T): Partial<T> =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
  const opts: LlamaModelOptions = {
    ...preset,
    ...defined({
      seed: int("seed", values.seed) ?? 1,
      weightType: values.type as LlamaModelOptions["weightType"],
      nLayer: int("layers", values.layers),
      nEmbd: int("dim", values.dim),
      nHead: int("heads", values.heads),
      nHeadKv: int("kv-heads", values["kv-heads"]),
      nFf: int("ffn", values.ffn),
      nVocab: int("vocab", values.vocab),
      contextLength: int("ctx", values.ctx),
      slidingWindow: int("sliding-window", values["sliding-window"]),
      ropeFreqBase: num("rope-base", values["rope-base"]),
      rmsEps: num("rms-eps", values["rms-eps"]),
      weightStd: num("std", values.std),
      name: values.name,
      tiedEmbeddings: values.tied,
      simulateType: sim as LlamaModelOptions["simulateType"],
      version: version as 2 | 3 | undefined,
    }),
  };
  // --heads without --kv-heads means no GQA rather than the preset's ratio.
  if (values.heads !== undefined && values["kv-heads"] === undefined) opts.nHeadKv = opts.nHead;
  if (values.mix === "q4_k_m") Object.assign(opts, q4KMMix(opts.nLayer, opts.tiedEmbeddings));

  const t0 = Date.now();
  if (values.arch !== undefined) {
    if (values.arch !== "bert" && values.arch !== "nomic-bert") throw new Error(`--arch must be bert or nomic-bert; got ${JSON.stringify(values.arch)}`);
    const enc: BertModelOptions = {
      arch: values.arch, seed: opts.seed, nLayer: opts.nLayer, nEmbd: opts.nEmbd, nHead: opts.nHead, nFf: opts.nFf,
      contextLength: opts.contextLength, weightType: opts.weightType, pooling: int("pooling", values.pooling), name: values.name,
    };
    const r = writeBertModel(values.out, enc);
    console.log(`wrote ${values.out}: ${(r.size / 1e6).toFixed(1)} MB, ${values.arch} ${enc.nLayer} layers, dim ${enc.nEmbd}, ` +
      `heads ${enc.nHead}, ffn ${enc.nFf}, ${enc.weightType ?? "F32"} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return;
  }
  const res = writeLlamaModel(values.out, opts);
  const mb = (res.size / 1e6).toFixed(1);
  console.log(
    `wrote ${values.out}: ${mb} MB, ${res.tensorOffsets.length} tensors, ${opts.nLayer} layers, dim ${opts.nEmbd}, ` +
      `heads ${opts.nHead}/${opts.nHeadKv ?? opts.nHead}, ffn ${opts.nFf}, vocab ${opts.nVocab}, ` +
      `${opts.simulateType ? `F32 (through ${opts.simulateType})` : values.mix ? "Q4_K_M mix" : opts.weightType ?? "F32"}, seed ${opts.seed} in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
}

try {
  main(process.argv.slice(2));
} catch (e) {
  console.error(`make-model: ${(e as Error).message}`);
  process.exitCode = 1;
}
