// Locates and loads the native addon, explaining every path tried when none loads.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

import { RingllmError } from "./errors";
import type { TensorInfo } from "./gguf";
import type { NativeDecoder, NativeVocabInfo } from "./vocab";

/** Raw GGUF header as the addon returns it (see native/addon/gguf_js.h). */
export interface NativeGgufInfo {
  version: number;
  alignment: number;
  headerBytes: number;
  dataOffset: number;
  fileSize: number;
  metadata: Record<string, unknown>;
  metadataTypes: Record<string, string>;
  tensors: TensorInfo[];
}

export interface NativeModelHandle {
  info(maxArrayLength?: number): NativeGgufInfo & { vocabOnly: boolean; mapped: boolean; gpu: import("./model").ModelGpu | null; gpuNote: string | null };
  metadataArray(key: string): unknown;
  close(): Promise<void>;
  isClosed(): boolean;
  checkComputable(): void;
  tokenize(text: string, addSpecial: boolean, parseSpecial: boolean): Uint32Array;
  tokenizeAsync(text: string, addSpecial: boolean, parseSpecial: boolean): Promise<Uint32Array>;
  detokenize(tokens: Uint32Array | Int32Array | number[], removeSpecial: boolean, unparseSpecial: boolean): string;
  tokenToPiece(id: number, unparseSpecial: boolean): string;
  tokenPieces(): { bytes: Buffer; offsets: Uint32Array };
  vocabInfo(): NativeVocabInfo;
  tokenId(text: string): number;
  createDecoder(removeSpecial: boolean, unparseSpecial: boolean, after?: number): NativeDecoder;
  createContext(options: Record<string, unknown>): Promise<unknown>;
  batchStats(): (import("./context").BatchStats & { threads: number })[];
  estimateMemory(options: Record<string, unknown>): { weights: number; kv: number; compute: number; contextSize: number };
}

export interface NativeSystemInfo {
  cpu: Record<string, boolean>;
  kernels: string;
  kernelTiers: string[];
  threads: number;
  logicalCores: number;
}

export interface GpuDevice {
  backend: "vulkan" | "cuda";
  /** the driver's name for it, e.g. "NVIDIA GeForce RTX 4090" or "llvmpipe (LLVM 15.0.6, 256 bits)" */
  name: string;
  /** "cpu" devices (lavapipe, SwiftShader) are never picked by gpu: "auto" */
  type: "discrete" | "integrated" | "virtual" | "cpu" | "other";
  /** bytes of its largest device-local memory heap */
  memory: number;
  /** its position in the backend's list */
  index: number;
}

export interface NativeBinding {
  systemInfo(): NativeSystemInfo;
  readGgufInfo(path: string, maxArrayLength?: number): Promise<NativeGgufInfo>;
  loadModel(
    path: string,
    options: { vocabOnly: boolean; useMmap: boolean; gpu: string; gpuDevice: string; gpuLayers: number },
    onProgress?: (fraction: number) => void,
  ): { promise: Promise<NativeModelHandle>; cancel(): void };
  listGpus(): Promise<{ devices: GpuDevice[]; errors: string }>;
  ggmlTypes(): { id: number; name: string; blockSize: number; blockBytes: number; computable: boolean }[];
  kernelRun(tier: string, op: string, ...arrays: (Float32Array | Uint16Array)[]): unknown;
  samplerRun(logits: Float32Array, params: Record<string, unknown>, seed: number, draws: number, history: Uint32Array): Uint32Array;
  setCudaPluginPath?(path: string): void;
}

const ADDON_FILE = "ringllm.node";

/** The package root: the nearest folder above this file with ringllm's package.json. */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if (JSON.parse(readFileSync(pkg, "utf8")).name === "ringllm") return dir;
      } catch {
        // unreadable package.json: keep looking upward
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return resolve(__dirname, "..");
    dir = parent;
  }
}

/** Candidate addon paths in the order they are tried. */
export function addonCandidates(root = packageRoot()): string[] {
  const out: string[] = [];
  if (process.env.RINGLLM_NATIVE) out.push(resolve(process.env.RINGLLM_NATIVE));
  // A local build wins over a prebuild (as with node-gyp-build): a developer's fresh build is used.
  out.push(join(root, "build", "Release", ADDON_FILE));
  out.push(join(root, "build-cmake", "Release", ADDON_FILE));
  out.push(join(root, "build", "Debug", ADDON_FILE));
  out.push(join(root, "prebuilds", `${process.platform}-${process.arch}`, ADDON_FILE));
  return out;
}

/** The optional package that carries the CUDA plugin for this platform (installed beside ringllm). */
export const CUDA_PACKAGE = `@ringllm/${process.platform}-${process.arch}-cuda`;
const CUDA_PLUGIN_FILE = process.platform === "win32" ? "ringllm_cuda.dll" : "libringllm_cuda.so";

/** The CUDA plugin file of an installed @ringllm/<platform>-<arch>-cuda package, or undefined. */
export function cudaPackagePlugin(root = packageRoot()): string | undefined {
  let pkg: string;
  try {
    pkg = require.resolve(`${CUDA_PACKAGE}/package.json`, { paths: [root] });
  } catch {
    return undefined;
  }
  const file = join(dirname(pkg), CUDA_PLUGIN_FILE);
  return existsSync(file) ? file : undefined;
}

let cached: { binding: NativeBinding; path: string } | undefined;

/** Loads the addon once per JS environment (each worker thread gets its own instance). */
export function native(): NativeBinding {
  return loadNative().binding;
}

export function nativePath(): string {
  return loadNative().path;
}

function loadNative(): { binding: NativeBinding; path: string } {
  if (cached) return cached;
  const tried: string[] = [];
  const explicit = process.env.RINGLLM_NATIVE;
  for (const candidate of addonCandidates()) {
    if (!existsSync(candidate)) {
      tried.push(`  ${candidate}: not found`);
      if (explicit && candidate === resolve(explicit)) break;  // an explicit path must load
      continue;
    }
    try {
      const binding = require(candidate) as NativeBinding;
      // the CUDA package's plugin, used when none lies beside the addon (only a path: nothing loads now)
      const cuda = cudaPackagePlugin();
      if (cuda && binding.setCudaPluginPath) binding.setCudaPluginPath(cuda);
      cached = { binding, path: candidate };
      return cached;
    } catch (err) {
      tried.push(`  ${candidate}: ${(err as Error).message.split("\n")[0]}`);
      if (explicit && candidate === resolve(explicit)) break;
    }
  }
  throw new RingllmError(
    "NATIVE_LOAD_FAILED",
    `ringllm could not load its native addon for ${process.platform}-${process.arch} (Node ${process.version}). ` +
      `Tried:\n${tried.join("\n")}\n` +
      "Reinstall with `npm rebuild ringllm` (needs a C++ compiler, Python and make/cmake when no prebuilt " +
      "binary matches this platform), or set RINGLLM_NATIVE to the path of a ringllm.node.",
  );
}
