import { type GpuDevice, native, nativePath } from "./native";

export type { GpuDevice } from "./native";

export type KernelTier = "avx512" | "avx2" | "neon" | "generic";

export interface SystemInfo {
  /** CPU features usable by this process (instruction set present and enabled by the OS). */
  cpu: {
    sse3: boolean; ssse3: boolean; sse41: boolean; sse42: boolean; avx: boolean; avx2: boolean; fma: boolean;
    f16c: boolean; bmi2: boolean; avx512f: boolean; avx512bw: boolean; avx512vl: boolean; avx512dq: boolean;
    avx512vnni: boolean; avx512bf16: boolean; avxvnni: boolean; neon: boolean; dotprod: boolean; i8mm: boolean;
    fp16: boolean;
  };
  /** Kernel tier in use: the best this CPU supports, or the one forced by RINGLLM_KERNELS. */
  kernels: KernelTier;
  /** Every tier this binary and CPU can run, best first. */
  kernelTiers: KernelTier[];
  /** Default thread count: physical cores available to this process. */
  threads: number;
  logicalCores: number;
  /** The native addon file that was loaded (prebuild or local build). */
  addonPath: string;
}

/**
 * What this machine offers and which kernels ringllm chose.
 *
 * @example
 * console.log(systemInfo().kernels); // "avx2"
 */
export function systemInfo(): SystemInfo {
  return { ...(native().systemInfo() as Omit<SystemInfo, "addonPath">), addonPath: nativePath() };
}

/**
 * The GPUs ringllm can use, found without blocking the event loop (loading a driver can take a
 * while). `errors` says why a backend found nothing (no Vulkan loader, no device).
 *
 * @example
 * const { devices } = await listGpus();
 * for (const d of devices) console.log(d.backend, d.name, d.type, Math.round(d.memory / 2 ** 30), "GiB");
 */
export async function listGpus(): Promise<{ devices: GpuDevice[]; errors: string }> {
  return native().listGpus();
}
