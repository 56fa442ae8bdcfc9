// systemInfo and the RINGLLM_KERNELS override (checked in child processes: the choice is per process).
import { execFileSync, spawnSync } from "node:child_process";

import { ggmlTypes, systemInfo } from "../../lib";
import { nativePath } from "../../lib/native";

function infoWith(env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const script = `const b = require(${JSON.stringify(nativePath())});
    try { console.log(JSON.stringify(b.systemInfo())); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
  const r = spawnSync(process.execPath, ["-e", script], { env: { ...process.env, ...env }, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("systemInfo reports CPU features, the kernel tier in use and a thread count", () => {
  const info = systemInfo();
  expect(typeof info.cpu.avx2).toBe("boolean");
  expect(typeof info.cpu.neon).toBe("boolean");
  expect(info.kernelTiers).toContain(info.kernels);
  expect(info.threads).toBeGreaterThanOrEqual(1);
  expect(info.threads).toBeLessThanOrEqual(info.logicalCores);
  expect(info.addonPath).toMatch(/ringllm\.node$/);
  if (process.arch === "x64") {
    expect(info.cpu.neon).toBe(false);
    // the tier follows the features: avx2 needs avx2+fma+f16c
    if (info.kernels === "avx2") expect(info.cpu.avx2 && info.cpu.fma && info.cpu.f16c).toBe(true);
    if (info.kernels === "avx512") expect(info.cpu.avx512f && info.cpu.avx512bw && info.cpu.avx512vl).toBe(true);
  }
  if (!process.env.RINGLLM_KERNELS) expect(info.kernels).toBe(info.kernelTiers[0]);
});

test("RINGLLM_KERNELS=generic forces the scalar tier", () => {
  const r = infoWith({ RINGLLM_KERNELS: "generic" });
  expect(JSON.parse(r.stdout).kernels).toBe("generic");
});

test("RINGLLM_KERNELS naming a tier this CPU lacks is a clear error, not a crash", () => {
  const bogus = process.arch === "x64" ? "neon" : "avx2";
  const r = infoWith({ RINGLLM_KERNELS: bogus });
  expect(r.status).toBe(0);
  const out = JSON.parse(r.stdout);
  expect(out.code).toBe("INVALID_ARGUMENT");
  expect(out.message).toContain("generic");
});

test("every tier this CPU supports can be forced", () => {
  for (const tier of systemInfo().kernelTiers) {
    expect(JSON.parse(infoWith({ RINGLLM_KERNELS: tier }).stdout).kernels).toBe(tier);
  }
});

test("the ggml type table covers every type id in use, with ggml block layouts", () => {
  const types = new Map(ggmlTypes().map((t) => [t.name, t]));
  const expected: [string, number, number, number][] = [
    ["F32", 0, 1, 4], ["F16", 1, 1, 2], ["Q4_0", 2, 32, 18], ["Q4_1", 3, 32, 20], ["Q5_0", 6, 32, 22],
    ["Q5_1", 7, 32, 24], ["Q8_0", 8, 32, 34], ["Q8_1", 9, 32, 36], ["Q2_K", 10, 256, 84], ["Q3_K", 11, 256, 110],
    ["Q4_K", 12, 256, 144], ["Q5_K", 13, 256, 176], ["Q6_K", 14, 256, 210], ["Q8_K", 15, 256, 292],
    ["IQ2_XXS", 16, 256, 66], ["IQ2_XS", 17, 256, 74], ["IQ3_XXS", 18, 256, 98], ["IQ1_S", 19, 256, 50],
    ["IQ4_NL", 20, 32, 18], ["IQ3_S", 21, 256, 110], ["IQ2_S", 22, 256, 82], ["IQ4_XS", 23, 256, 136],
    ["I8", 24, 1, 1], ["I16", 25, 1, 2], ["I32", 26, 1, 4], ["I64", 27, 1, 8], ["F64", 28, 1, 8],
    ["IQ1_M", 29, 256, 56], ["BF16", 30, 1, 2], ["TQ1_0", 34, 256, 54], ["TQ2_0", 35, 256, 66], ["MXFP4", 39, 32, 17],
  ];
  for (const [name, id, blockSize, blockBytes] of expected) {
    expect(types.get(name)).toMatchObject({ id, blockSize, blockBytes });
  }
  expect(types.size).toBe(expected.length);
});

test("the CLI prints systemInfo as JSON", () => {
  const out = execFileSync(process.execPath, [require.resolve("../../dist/cjs/cli.js"), "system"], { encoding: "utf8" });
  expect(JSON.parse(out).kernels).toBe(systemInfo().kernels);
});
