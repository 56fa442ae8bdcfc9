#!/usr/bin/env node
// The `ringllm` command line.
import { readFile } from "node:fs/promises";

import { Command } from "commander";
import { SingleBar } from "cli-progress";

import { defaultModelPath } from "./default-model";
import { RingllmError } from "./errors";
import { GgufInfo, MetadataValue, readGgufInfo } from "./gguf";
import { readHyperParameters } from "./hparams";
import { loadModel, type LoadModelOptions, type MemoryEstimate } from "./model";
import type { ContextOptions, GenerateOptions, KvOptions } from "./context";
import { runChat } from "./cli-chat";
import { createServer } from "./server";
import { listGpus, systemInfo } from "./system";
import { downloadModel } from "./download";

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return `${u === 0 ? n : n.toFixed(2)} ${units[u]}`;
}

function formatValue(v: MetadataValue | undefined): string {
  if (v === undefined) return "-";
  if (typeof v === "bigint") return v.toString();
  if (Array.isArray(v)) {
    const head = v.slice(0, 8).map((x) => formatValue(x)).join(", ");
    return `[${head}${v.length > 8 ? `, ... (${v.length} items)` : ""}]`;
  }
  if (typeof v === "object") return `<${v.type}, ${v.length} items>`;
  if (typeof v === "string") return JSON.stringify(v.length > 120 ? v.slice(0, 117) + "..." : v);
  return String(v);
}

/** The human-readable report of `ringllm inspect`. */
export function inspectReport(file: string, info: GgufInfo, showMetadata: boolean): string {
  const out: string[] = [];
  const hp = readHyperParameters(info.architecture, info.metadata);
  const meta = info.metadata;
  out.push(`file:          ${file}`);
  out.push(`gguf:          v${info.version}, alignment ${info.alignment}, ${formatBytes(info.fileSize)}`);
  out.push(`architecture:  ${info.architecture || "(none)"}`);
  if (typeof meta["general.name"] === "string") out.push(`name:          ${meta["general.name"]}`);
  out.push("");
  out.push("hyper-parameters:");
  const rows: [string, unknown][] = [
    ["context length", hp.contextLength],
    ["embedding length", hp.embeddingLength],
    ["layers", hp.blockCount],
    ["feed-forward length", hp.feedForwardLength],
    ["attention heads", hp.headCount],
    ["KV heads", hp.headCountKv],
    ["head dim", hp.headDim],
    ["rope dimensions", hp.ropeDimensionCount],
    ["rope freq base", hp.ropeFreqBase],
    ["rms norm epsilon", hp.rmsNormEpsilon],
    ["sliding window", hp.slidingWindow],
    ["vocabulary size", hp.vocabSize],
  ];
  for (const [k, v] of rows) if (v !== undefined) out.push(`  ${k.padEnd(22)}${v}`);
  out.push("");
  out.push("tokenizer:");
  out.push(`  ${"model".padEnd(22)}${formatValue(meta["tokenizer.ggml.model"])}`);
  if (meta["tokenizer.ggml.pre"] !== undefined) out.push(`  ${"pre-tokenizer".padEnd(22)}${formatValue(meta["tokenizer.ggml.pre"])}`);
  for (const [key, label] of [
    ["tokenizer.ggml.bos_token_id", "bos id"],
    ["tokenizer.ggml.eos_token_id", "eos id"],
  ] as const) {
    if (meta[key] !== undefined) out.push(`  ${label.padEnd(22)}${formatValue(meta[key])}`);
  }
  out.push("");
  const byType = new Map<string, { count: number; bytes: number }>();
  let total = 0;
  for (const t of info.tensors) {
    const e = byType.get(t.type) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += t.sizeBytes;
    byType.set(t.type, e);
    total += t.sizeBytes;
  }
  out.push(`tensors: ${info.tensors.length}, ${formatBytes(total)}`);
  for (const [type, e] of [...byType].sort((a, b) => b[1].bytes - a[1].bytes)) {
    out.push(`  ${type.padEnd(10)}${String(e.count).padStart(6)} tensors  ${formatBytes(e.bytes).padStart(12)}`);
  }
  if (showMetadata) {
    out.push("");
    out.push("metadata:");
    for (const key of Object.keys(meta)) {
      out.push(`  ${key} (${info.metadataTypes[key]}) = ${formatValue(meta[key])}`);
    }
  }
  return out.join("\n");
}

// Reads the prompt of `generate`: the argument, a file (-f), or standard input ("-").
async function readPrompt(arg: string | undefined, file: string | undefined): Promise<string> {
  if (file !== undefined && arg !== undefined) {
    throw new RingllmError("INVALID_ARGUMENT", "give the prompt either as an argument or with --file, not both");
  }
  if (file !== undefined) {
    try {
      return await readFile(file, "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new RingllmError(code === "ENOENT" ? "ENOENT" : "INVALID_ARGUMENT", `cannot read the prompt file ${file}: ${(err as Error).message}`);
    }
  }
  if (arg === undefined) throw new RingllmError("INVALID_ARGUMENT", 'no prompt: give it as an argument, with --file <path>, or "-" to read standard input');
  if (arg !== "-") return arg;
  return readStdin();
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * A progress bar on stderr, only when stderr is a terminal (never in pipes or redirected output):
 * model loading as a percentage, prompt reading as tokens done / total with tok/s and ETA.
 */
class Progress {
  #bar: SingleBar | null = null;
  #start = 0;
  constructor(private readonly enabled: boolean) {}

  load(fraction: number): void {
    if (!this.enabled) return;
    if (!this.#bar) {
      this.#bar = new SingleBar({
        format: "loading model  {bar} {percentage}%", clearOnComplete: true, hideCursor: true, stream: process.stderr,
      });
      this.#bar.start(100, 0);
    }
    this.#bar.update(Math.round(fraction * 100));
  }

  prompt(done: number, total: number): void {
    if (!this.enabled || total < 64) return;  // a short prompt takes no visible time
    if (!this.#bar) {
      this.#start = performance.now();
      this.#bar = new SingleBar({
        format: "reading prompt {bar} {value}/{total} tokens | {speed} tok/s | ETA {remaining}",
        clearOnComplete: true, hideCursor: true, stream: process.stderr,
      });
      this.#bar.start(total, 0, { speed: "-", remaining: "-" });
    }
    const secs = (performance.now() - this.#start) / 1000;
    const speed = secs > 0 && done > 0 ? done / secs : 0;
    const eta = speed > 0 ? Math.round((total - done) / speed) : -1;
    this.#bar.update(done, {
      speed: speed > 0 ? Math.round(speed) : "-",
      remaining: eta < 0 ? "-" : eta >= 60 ? `${Math.floor(eta / 60)}m${String(eta % 60).padStart(2, "0")}s` : `${eta}s`,
    });
  }

  stop(): void {
    this.#bar?.stop();
    this.#bar = null;
  }
}

// The model, context and sampling options `generate` and `chat` share.
function modelOptions(cmd: Command): Command {
  cmd
    .option("-m, --model <file>", "GGUF model file (default: the embedded fortune-cookie model, models/README.md)")
    .option("-t, --temperature <t>", "sampling temperature (0 = greedy)", "0.8")
    .option("--top-k <k>", "top-k sampling (0 = off)", "40")
    .option("--top-p <p>", "top-p sampling (1 = off)", "0.95")
    .option("--min-p <p>", "min-p sampling (0 = off)", "0.05")
    .option("-s, --seed <n>", "sampler seed", "0")
    .option("-c, --context-size <n>", "context size in tokens (\"inf\": unbounded, with a bounded --kv; \"auto\": the most that fits in memory)", "2048");
  return kvOptions(cmd).option("-b, --batch-size <n>", "prompt chunk size in tokens (default 512)");
}

// The KV cache and thread options `generate`, `chat` and `serve` share.
function kvOptions(cmd: Command): Command {
  return cmd
    .option("--kv <policy>", "KV cache policy: auto, full, window, sinks, h2o, recall (README \"Long context\")")
    .option("--kv-type <type>", "KV storage: f16, q8_0, q4_0")
    .option("--window <n>", "--kv window: tokens kept per layer")
    .option("--sinks <n>", "--kv sinks: leading tokens kept (default 4)")
    .option("--recent <n>", "--kv sinks/h2o/recall: recent tokens kept")
    .option("--heavy <n>", "--kv h2o: heavy-hitter tokens kept")
    .option("--block-size <n>", "--kv recall: tokens per stored block, a multiple of 32 (default 64)")
    .option("--top-blocks <n>", "--kv recall: stored blocks each token attends to (default 8)")
    .option("--positions <mode>", "--kv recall: remap (default) or absolute")
    .option("--threads <n>", "worker threads (default: physical cores)")
    .option("--gpu <backend>", "run layers on a GPU: auto (default: a GPU when there is one), vulkan, off")
    .option("--gpu-layers <n>", "layers on the GPU (the last ones): a count, max (default) or auto (as many as fit)")
    .option("--gpu-device <name>", "GPU by (part of) its name or its index in `ringllm system`; may name lavapipe");
}

/** loadModel's GPU options from --gpu, --gpu-layers, --gpu-device. */
export function gpuOptionsFrom(opts: Record<string, string | boolean | undefined>): Pick<LoadModelOptions, "gpu" | "gpuDevice" | "gpuLayers"> {
  const out: Pick<LoadModelOptions, "gpu" | "gpuDevice" | "gpuLayers"> = {};
  if (typeof opts.gpu === "string") {
    if (!["auto", "vulkan", "cuda", "off"].includes(opts.gpu)) {
      throw new RingllmError("INVALID_ARGUMENT", `--gpu expects auto, vulkan or off; received "${opts.gpu}"`);
    }
    out.gpu = opts.gpu === "off" ? false : (opts.gpu as "auto" | "vulkan" | "cuda");
  }
  if (typeof opts.gpuLayers === "string") {
    out.gpuLayers = opts.gpuLayers === "max" || opts.gpuLayers === "auto" ? opts.gpuLayers : num("gpu-layers", opts.gpuLayers);
  }
  if (typeof opts.gpuDevice === "string") out.gpuDevice = opts.gpuDevice;
  return out;
}

function num(name: string, v: string | boolean | undefined): number | undefined {
  if (v === undefined || typeof v === "boolean") return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new RingllmError("INVALID_ARGUMENT", `--${name} expects a number; received "${v}"`);
  return n;
}

function contextOptionsFrom(opts: Record<string, string | boolean>): ContextOptions {
  const kv = {
    policy: opts.kv as KvOptions["policy"], type: opts.kvType as KvOptions["type"], window: num("window", opts.window),
    sinks: num("sinks", opts.sinks), recent: num("recent", opts.recent), heavy: num("heavy", opts.heavy),
    blockSize: num("block-size", opts.blockSize), topBlocks: num("top-blocks", opts.topBlocks),
    positions: opts.positions as KvOptions["positions"],
  };
  const raw = String(opts.contextSize ?? "");
  const contextSize = /^(inf|infinity)$/i.test(raw) ? Infinity : raw === "auto" ? "auto" : num("context-size", opts.contextSize);
  return {
    contextSize, threads: num("threads", opts.threads), seed: num("seed", opts.seed), batchSize: num("batch-size", opts.batchSize),
    kv: Object.values(kv).some((v) => v !== undefined) ? kv : undefined,
  };
}

function badAuto(): never {
  throw new RingllmError("INVALID_ARGUMENT", "serve: --context-size takes a number (each sequence gets that many tokens)");
}

function samplingFrom(opts: Record<string, string | boolean>): GenerateOptions {
  return {
    maxTokens: num("max-tokens", opts.maxTokens), temperature: num("temperature", opts.temperature),
    topK: num("top-k", opts.topK), topP: num("top-p", opts.topP), minP: num("min-p", opts.minP), seed: num("seed", opts.seed),
  };
}

function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("ringllm")
    .description("Run GGUF language models locally")
    .version(require("../../package.json").version as string)
    .showHelpAfterError();

  program
    .command("inspect")
    .description("print a GGUF file's architecture, hyper-parameters, tokenizer and tensor types")
    .argument("<file>", "GGUF file")
    .option("--json", "print the full header as JSON")
    .option("--metadata", "also list every metadata key")
    .option("--fit", "also estimate the memory a context takes (with -c and the --kv options) against the memory available")
    .option("-c, --context-size <n>", "--fit: context size in tokens (0: the training context)", "2048")
    .option("--kv <policy>", "--fit: KV cache policy: auto, full, window, sinks, h2o, recall")
    .option("--kv-type <type>", "--fit: KV storage: f16, q8_0, q4_0")
    .option("--window <n>", "--fit: --kv window: tokens kept per layer")
    .option("--sinks <n>", "--fit: --kv sinks: leading tokens kept")
    .option("--recent <n>", "--fit: --kv sinks/h2o: recent tokens kept")
    .option("--heavy <n>", "--fit: --kv h2o: heavy-hitter tokens kept")
    .action(async (file: string, opts: Record<string, string | boolean>) => {
      const info = await readGgufInfo(file, { maxArrayLength: opts.json ? 64 : 16 });
      let fit: MemoryEstimate | undefined;
      if (opts.fit) {
        const model = await loadModel(file, { gpu: false });
        try {
          const o = contextOptionsFrom(opts);
          fit = model.estimateMemory({ ...o, contextSize: o.contextSize === "auto" ? badAuto() : o.contextSize });
        } finally {
          await model.close();
        }
      }
      if (opts.json) {
        process.stdout.write(JSON.stringify(fit ? { ...info, memory: fit } : info, jsonReplacer, 2) + "\n");
        return;
      }
      process.stdout.write(inspectReport(file, info, !!opts.metadata) + "\n");
      if (fit) {
        const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;
        process.stdout.write(
          `memory for a context of ${fit.contextSize} tokens: weights ${gib(fit.weights)}, KV cache ${gib(fit.kv)}, ` +
            `compute ${gib(fit.compute)}, total ${gib(fit.total)}; available ${gib(fit.available)} ` +
            `(${fit.total <= fit.available ? "fits" : fit.fits ? "the context fits; the weights page in from the file" : "does not fit"})\n`,
        );
      }
    });

  modelOptions(program
    .command("generate")
    .description("generate text after a prompt with a GGUF model (default: the embedded tiny model)")
    .argument("[prompt]", 'text to continue; "-" reads it from standard input')
    .option("-f, --file <path>", "read the prompt from a file (UTF-8), e.g. a long document")
    .option("-n, --max-tokens <n>", "tokens to generate at most", "200")
    .option("--stats", "print the context's KV statistics to stderr at the end")
    .option("--load-state <file>", "start from a context state saved with --save-state (same model and context options)")
    .option("--save-state <file>", "save the context state to this file at the end")
    .option("--no-progress", "no progress bar (it is shown only when stderr is a terminal)"))
    .action(async (promptArg: string | undefined, opts: Record<string, string | boolean>) => {
      const prompt = await readPrompt(promptArg, opts.file as string | undefined);
      const ac = new AbortController();
      const contextOptions = contextOptionsFrom(opts);
      const generateOptions = {
        ...samplingFrom(opts),
        signal: ac.signal,
        onPromptProgress: ({ done, total }: { done: number; total: number }) => progress.prompt(done, total),
      };
      process.once("SIGINT", () => ac.abort());
      const progress = new Progress(opts.progress !== false && process.stderr.isTTY === true);
      let model;
      try {
        model = await loadModel((opts.model as string | undefined) ?? defaultModelPath(), {
          ...gpuOptionsFrom(opts),
          signal: ac.signal,
          onProgress: (f) => progress.load(f),
        });
      } finally {
        progress.stop();
      }
      const ctx = await model.createContext(contextOptions);
      try {
        if (typeof opts.loadState === "string") await ctx.loadState(opts.loadState);
        // a prompt from the command line is echoed; a document from a file or stdin is not
        if (promptArg !== undefined && promptArg !== "-") process.stdout.write(prompt);
        let first = true;
        try {
          for await (const chunk of ctx.generate(prompt, generateOptions)) {
            if (first) progress.stop();
            first = false;
            process.stdout.write(chunk.text);
          }
        } finally {
          progress.stop();
        }
        process.stdout.write("\n");
        if (typeof opts.saveState === "string") await ctx.saveState(opts.saveState);
        if (opts.stats) {
          const st = ctx.stats();
          const layers = st.layers.map((l) => `${l.policy} ${l.held}/${l.capacity}`).join(", ");
          const gpu = model.gpu ? `; ${st.gpuLayers} layers on ${model.gpu.device} (${st.deviceBytes + model.gpu.bytes} device bytes)` : "";
          process.stderr.write(
            `tokens ${st.tokensProcessed}, KV ${st.kvBytes} bytes (${st.kvType}), repacked weights ${st.repackedBytes} bytes; layers: ${layers}${gpu}${st.gpuNote ? ` (${st.gpuNote})` : ""}\n`,
          );
        }
      } finally {
        await ctx.close();
        await model.close();
      }
    });

  modelOptions(program
    .command("chat")
    .description("chat with a model (default: the embedded model); interactive on a terminal, one message per line otherwise")
    .option("--system <text>", "system prompt")
    .option("--template <name|file>", "chat template: a built-in format (chatml, llama3, ...) or a Jinja file (default: the model's)")
    .option("--keep-system", "keep the system prompt in the cache for ever (sinks policy)")
    .option("-n, --max-tokens <n>", "tokens per reply at most", "256"))
    .action(async (opts: Record<string, string | boolean>) => {
      await runChat({
        model: opts.model as string | undefined,
        system: opts.system as string | undefined,
        template: opts.template as string | undefined,
        keepSystem: opts.keepSystem === true,
        context: contextOptionsFrom(opts),
        gpu: gpuOptionsFrom(opts),
        sampling: samplingFrom(opts),
      });
    });

  program
    .command("embed")
    .description("print embedding vectors of texts (one line per text; \"-\" reads one text per line from standard input)")
    .argument("<text...>", "texts to embed")
    .option("-m, --model <file>", "GGUF model file (default: the embedded model)")
    .option("--pooling <kind>", "mean, cls, last or none (default: the model's pooling type, else mean)")
    .option("--no-normalize", "keep the vectors' length (default: unit length)")
    .option("--json", "print JSON: { model, pooling, dimensions, embeddings }")
    .option("--threads <n>", "worker threads (default: physical cores)")
    .action(async (args: string[], opts: Record<string, string | boolean>) => {
      let texts = args;
      if (args.length === 1 && args[0] === "-") texts = (await readStdin()).split("\n").filter((l) => l.length > 0);
      const model = await loadModel((opts.model as string | undefined) ?? defaultModelPath());
      try {
        const pooling = opts.pooling as "mean" | "cls" | "last" | "none" | undefined;
        const vectors = await model.embed(texts, { pooling, normalize: opts.normalize !== false, threads: num("threads", opts.threads) });
        if (opts.json) {
          const name = model.metadata["general.name"];
          process.stdout.write(JSON.stringify({
            model: typeof name === "string" ? name : null,
            pooling: pooling ?? model.poolingType,
            dimensions: vectors[0]?.length ?? 0,
            embeddings: vectors.map((v) => Array.from(v)),
          }) + "\n");
        } else {
          for (const v of vectors) process.stdout.write(Array.from(v, (x) => x.toPrecision(7)).join(" ") + "\n");
        }
      } finally {
        await model.close();
      }
    });

  kvOptions(program
    .command("serve")
    .description("serve the OpenAI API (chat completions, completions, embeddings, models) over HTTP; SIGTERM drains and exits")
    .option("-m, --model <file>", "GGUF model file (default: the embedded model)")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--port <n>", "port (0: any free one)", "8080")
    .option("--parallel <n>", "sequences served at once, decoded in shared batched steps", "4")
    .option("--api-key <key>", "require Authorization: Bearer <key> on /v1 requests (default: none; env RINGLLM_API_KEY)")
    .option("-c, --context-size <n>", "tokens per sequence (default: the model's training context, at most 4096)"))
    .option("--queue <n>", "requests waiting for a sequence at most (more: 503)", "64")
    .option("--grace <s>", "seconds in-flight requests may finish after SIGTERM/SIGINT", "10")
    .action(async (opts: Record<string, string | boolean>) => {
      const ctxOpts = contextOptionsFrom(opts);
      const server = await createServer({
        model: opts.model as string | undefined,
        host: opts.host as string,
        port: num("port", opts.port),
        parallel: num("parallel", opts.parallel),
        apiKey: (opts.apiKey as string | undefined) ?? process.env.RINGLLM_API_KEY,
        contextSize: ctxOpts.contextSize === "auto" ? badAuto() : ctxOpts.contextSize,
        kv: ctxOpts.kv,
        threads: ctxOpts.threads,
        gpu: gpuOptionsFrom(opts),
        queueLimit: num("queue", opts.queue),
      });
      const grace = (num("grace", opts.grace) ?? 10) * 1000;
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        process.stderr.write(`ringllm: ${signal}: finishing requests in flight (up to ${grace / 1000} s)\n`);
        void server.close({ graceMs: grace }).then(() => process.exit(0));
      };
      process.on("SIGTERM", () => stop("SIGTERM"));
      process.on("SIGINT", () => stop("SIGINT"));
      const url = await server.listen();
      process.stderr.write(`ringllm: listening on ${url} (OpenAI API at ${url}/v1); loading the model...\n`);
      try {
        await server.ready;
      } catch (err) {
        await server.close({ graceMs: 0 });
        throw err;
      }
      process.stderr.write("ringllm: ready\n");
    });

  program
    .command("pull")
    .description("download a model into the cache folder (resumable, checked against the server's sha256); prints its path")
    .argument("<source>", "an http(s) URL, or hf:owner/repo/file.gguf[@revision] for a Hugging Face file")
    .option("--dir <folder>", "where models go (default: RINGLLM_MODELS_DIR, else ~/.cache/ringllm/models)")
    .option("--token <token>", "Hugging Face access token for gated or private repositories (default: HF_TOKEN)")
    .option("--no-progress", "no progress bar on stderr")
    .action(async (source: string, opts: Record<string, string | boolean>) => {
      const ac = new AbortController();
      process.once("SIGINT", () => ac.abort());
      let bar: SingleBar | null = null;
      const show = opts.progress !== false && process.stderr.isTTY === true;
      const mib = (n: number) => (n / 2 ** 20).toFixed(1);
      try {
        const res = await downloadModel(source, {
          dir: opts.dir as string | undefined,
          token: opts.token as string | undefined,
          signal: ac.signal,
          onProgress: (done, total) => {
            if (!show || total === null) return;
            if (!bar) {
              bar = new SingleBar({ format: "downloading {bar} {percentage}% | {doneMiB}/{totalMiB} MiB | ETA {eta_formatted}", clearOnComplete: true, hideCursor: true, stream: process.stderr });
              bar.start(total, done, { doneMiB: mib(done), totalMiB: mib(total) });
            }
            bar.update(done, { doneMiB: mib(done), totalMiB: mib(total) });
          },
        });
        (bar as SingleBar | null)?.stop();
        process.stderr.write(res.downloaded ? `downloaded ${mib(res.bytes)} MiB${res.sha256 ? ", sha256 verified" : ""}\n` : "already downloaded\n");
        process.stdout.write(res.path + "\n");
      } finally {
        (bar as SingleBar | null)?.stop();
      }
    });

  program
    .command("system")
    .description("print CPU features, the kernel tier in use and the GPUs found")
    .action(async () => {
      const { devices, errors } = await listGpus();
      process.stdout.write(JSON.stringify({ ...systemInfo(), gpus: devices, ...(errors ? { gpuErrors: errors } : {}) }, null, 2) + "\n");
    });
  return program;
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    if (err instanceof RingllmError) {
      process.stderr.write(`ringllm: ${err.message} [${err.code}]\n`);
      process.exitCode = 1;
      return;
    }
    throw err;
  }
}

if (require.main === module) void main();
