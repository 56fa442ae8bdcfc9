// The CUDA plugin ships as an optional package (@ringllm/<platform>-<arch>-cuda, scripts/pack-cuda.sh):
// the loader resolves it from ringllm's folder. scripts/test-prebuilds.sh checks that an installed
// package's plugin is then loaded by the addon; this checks the lookup itself.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { CUDA_PACKAGE, cudaPackagePlugin } from "../../lib/native";

const PLUGIN = process.platform === "win32" ? "ringllm_cuda.dll" : "libringllm_cuda.so";

// An installed ringllm in a fresh project; `cuda`: none, the package without its library, or whole.
function project(cuda: "none" | "empty" | "whole"): { root: string; app: string; file: string } {
  const root = mkdtempSync(join(tmpdir(), "ringllm-cuda-pkg-"));
  const app = join(root, "node_modules", "ringllm");
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "ringllm" }));
  const pkg = join(root, "node_modules", ...CUDA_PACKAGE.split("/"));
  if (cuda !== "none") {
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, "package.json"), JSON.stringify({ name: CUDA_PACKAGE, version: "0.0.0" }));
  }
  if (cuda === "whole") writeFileSync(join(pkg, PLUGIN), "");
  return { root, app, file: join(pkg, PLUGIN) };
}

test.each([
  ["none", false],
  ["empty", false],
  ["whole", true],
] as const)("the CUDA package's plugin beside ringllm (package: %s) is found: %s", (cuda, found) => {
  const p = project(cuda);
  try {
    expect(cudaPackagePlugin(p.app)).toBe(found ? p.file : undefined);
  } finally {
    rmSync(p.root, { recursive: true, force: true });
  }
});
