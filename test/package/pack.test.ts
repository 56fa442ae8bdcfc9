// The published package: `npm pack`, install the tarball into an empty folder with no compiler on
// PATH, and load its prebuilt binary from CommonJS and from an ES module.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

import { IN_CI, ROOT, sharedTest, STORIES, tempDir } from "../helpers";

const PREBUILD = join(ROOT, "prebuilds", `${process.platform}-${process.arch}`, "ringllm.node");
const DIST = join(ROOT, "dist", "cjs", "index.js");
const ready = existsSync(PREBUILD) && existsSync(DIST);

function npmCli(): string {
  const candidates = [
    join(dirname(process.execPath), "..", "lib", "node_modules", "npm", "bin", "npm-cli.js"),
    join(execFileSync("npm", ["root", "-g"], { encoding: "utf8" }).trim(), "npm", "bin", "npm-cli.js"),
  ];
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error(`npm-cli.js not found in ${candidates.join(", ")}`);
  return found;
}

const maybe = ready ? describe : IN_CI ? describe : describe.skip;

maybe(`packed tarball${ready ? "" : " [needs `npm run prebuildify` and `npm run build:ts` first]"}`, () => {
  let dir: { path: string; cleanup(): void };
  let env: NodeJS.ProcessEnv;
  let app: string;

  beforeAll(() => {
    if (!ready) throw new Error(`missing ${PREBUILD} or ${DIST}: run npm run prebuildify && npm run build:ts`);
    dir = tempDir("ringllm-pack-");
    const out = execFileSync("npm", ["pack", "--silent", "--pack-destination", dir.path], { cwd: ROOT, encoding: "utf8" });
    const tarball = join(dir.path, out.trim().split("\n").pop()!);
    // PATH holds node and the shell npm runs scripts with, nothing else: no cc, c++, make, python, cmake.
    const bin = join(dir.path, "bin");
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, "node"));
    symlinkSync("/bin/sh", join(bin, "sh"));
    env = { PATH: bin, HOME: process.env.HOME, npm_config_cache: process.env.npm_config_cache ?? join(process.env.HOME ?? dir.path, ".npm") };
    app = join(dir.path, "app");
    mkdirSync(app);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true }));
    const r = spawnSync(process.execPath, [npmCli(), "install", tarball, "--no-audit", "--no-fund", "--prefer-offline", "--foreground-scripts"], {
      cwd: app, env, encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`npm install failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  }, 240000);

  afterAll(() => dir?.cleanup());

  test("no compiler is reachable on the install PATH", () => {
    for (const tool of ["cc", "c++", "g++", "make", "python3", "cmake"]) {
      const r = spawnSync(tool, ["--version"], { env });
      expect(r.error).toBeDefined();
    }
  });

  test("the installed package holds the prebuild and compiled nothing", () => {
    const pkg = join(app, "node_modules", "ringllm");
    expect(existsSync(join(pkg, "prebuilds", `${process.platform}-${process.arch}`, "ringllm.node"))).toBe(true);
    expect(existsSync(join(pkg, "build"))).toBe(false);
    expect(readdirSync(join(pkg, "dist", "esm"))).toEqual(expect.arrayContaining(["index.mjs", "index.d.mts"]));
  });

  test("require() loads the prebuild", () => {
    const out = execFileSync(process.execPath, ["-e", "const r = require('ringllm'); console.log(JSON.stringify(r.systemInfo()))"], {
      cwd: app, env, encoding: "utf8",
    });
    const info = JSON.parse(out);
    expect(info.addonPath).toContain(join("node_modules", "ringllm", "prebuilds"));
  });

  test("import loads the same API as an ES module", () => {
    const script = "import { systemInfo, loadModel, RingllmError } from 'ringllm'; import def from 'ringllm';" +
      "console.log(JSON.stringify({ kernels: systemInfo().kernels, fn: typeof loadModel, err: typeof RingllmError, same: def.loadModel === loadModel }));";
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: app, env, encoding: "utf8" });
    expect(JSON.parse(out)).toMatchObject({ fn: "function", err: "function", same: true });
  });

  sharedTest("the installed package loads a model", [STORIES], () => {
    const script = `require('ringllm').loadModel(${JSON.stringify(STORIES)}).then(async (m) => { console.log(m.hparams.blockCount); await m.close(); })`;
    expect(execFileSync(process.execPath, ["-e", script], { cwd: app, env, encoding: "utf8" }).trim()).toBe("5");
  });

  sharedTest("the ringllm bin runs inspect", [STORIES], () => {
    const cli = join(app, "node_modules", ".bin", "ringllm");
    const r = spawnSync(process.execPath, [cli, "inspect", STORIES], { cwd: app, env, encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/architecture:\s+llama/);
  });

  test("the installed package ships the embedded model and `ringllm generate` runs it without --model", () => {
    const pkg = join(app, "node_modules", "ringllm");
    expect(existsSync(join(pkg, "models", "ringllm-tiny-fortunes.gguf"))).toBe(true);
    const cli = join(app, "node_modules", ".bin", "ringllm");
    const r = spawnSync(process.execPath, [cli, "generate", "-t", "0", "-n", "20", "A man walks into a bar"], { cwd: app, env, encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout.startsWith("A man walks into a bar")).toBe(true);
    expect(r.stdout.trim().length).toBeGreaterThan("A man walks into a bar".length);
  });

  test("TypeScript resolves typings for both import (node16 ESM) and require (CommonJS) consumers", () => {
    writeFileSync(join(app, "esm.mts"),
      "import { loadModel, type Model } from 'ringllm';\nconst p: Promise<Model> = loadModel('x.gguf');\nvoid p;\n");
    writeFileSync(join(app, "cjs.cts"),
      "import ringllm = require('ringllm');\nconst p: Promise<ringllm.Model> = ringllm.loadModel('x.gguf');\nvoid p;\n");
    const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
    const r = spawnSync(process.execPath, [tsc, "--noEmit", "--strict", "--module", "node16", "--moduleResolution", "node16",
      "--target", "es2022", "--skipLibCheck", "--typeRoots", join(ROOT, "node_modules", "@types"), "--types", "node",
      "esm.mts", "cjs.cts"], { cwd: app, env, encoding: "utf8" });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});
