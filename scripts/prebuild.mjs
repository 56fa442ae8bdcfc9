#!/usr/bin/env node
// Builds the prebuilt addons here, one per target, into prebuilds/<platform>-<arch>/ringllm.node:
//   linux-x64    g++ (this machine), static libstdc++, glibc symbols pinned to <= 2.28
//                (native/util/glibc_compat.cpp, checked by scripts/check-glibc.sh)
//   linux-arm64  aarch64-linux-gnu-g++, the same pinning (base glibc 2.17)
//   win32-x64    x86_64-w64-mingw32-g++-posix, linked against a delay-load import library for
//                node.exe made with dlltool from node-api-headers' node_api.def (bound to the host
//                executable by native/addon/win_delay_load.cpp); libstdc++/libgcc/winpthread static
// The sources and ISA flags come from native/sources.gypi (the list binding.gyp and CMakeLists.txt
// read). Objects go to build-prebuilds/<target>/ and are reused while the source and its headers are
// older (gcc -MMD). Usage: node scripts/prebuild.mjs [target ...] (default: all). Runs 2 compiles at
// a time (RINGLLM_PREBUILD_JOBS to change).
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, copyFileSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const req = createRequire(import.meta.url);
const gypi = JSON.parse(readFileSync(join(root, "native/sources.gypi"), "utf8")).variables;
const addonApi = req("node-addon-api").include_dir;
const napiHeaders = join(dirname(req.resolve("node-api-headers/package.json")), "include");
const napiDef = join(dirname(req.resolve("node-api-headers/package.json")), "def", "node_api.def");
const jobs = Number(process.env.RINGLLM_PREBUILD_JOBS || 2);

const COMMON = [
  "-std=c++17", "-O3", "-fexceptions", "-fvisibility=hidden", "-Wno-psabi",
  "-DNAPI_VERSION=8", "-DNODE_API_NO_EXTERNAL_BUFFERS_ALLOWED", "-DNAPI_CPP_EXCEPTIONS",
  "-DNODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS", "-DBUILDING_NODE_EXTENSION", "-DNDEBUG",
  `-I${addonApi}`, `-I${napiHeaders}`,
];
// Every symbol glibc_compat.cpp wraps (see there why).
const GLIBC_WRAPPED = [
  "pthread_create", "pthread_join", "pthread_detach", "pthread_once", "pthread_key_create",
  "__pthread_key_create", "pthread_key_delete", "pthread_getspecific", "pthread_setspecific",
  "pthread_cond_timedwait", "pthread_cond_clockwait", "dlopen", "dlsym", "dlerror", "dladdr", "dlclose",
  "exp", "log", "pow", "log2", "exp2", "expf", "logf", "powf", "log2f", "exp2f", "fstat64", "fstat",
  "getentropy", "arc4random", "__libc_single_threaded", "pthread_sigmask", "_dl_find_object",
];
const LINUX_LINK = [
  "-shared", "-s", "-static-libstdc++", "-static-libgcc", "-Wl,--as-needed", "-Wl,-z,noexecstack",
  ...GLIBC_WRAPPED.map((s) => `-Wl,--wrap=${s}`), "-ldl", "-lpthread", "-lm",
];

const TARGETS = {
  "linux-x64": {
    cxx: "g++", strip: "strip",
    cflags: ["-fPIC", "-pthread", "-DRINGLLM_GLIBC_COMPAT"],
    isa: { avx2: gypi.ringllm_flags_avx2, avx512: gypi.ringllm_flags_avx512 },
    extra: ["native/util/glibc_compat.cpp"],
    link: LINUX_LINK,
  },
  "linux-arm64": {
    cxx: "aarch64-linux-gnu-g++", strip: "aarch64-linux-gnu-strip", cross: true,
    cflags: ["-fPIC", "-pthread", "-DRINGLLM_GLIBC_COMPAT", "-march=armv8-a"],
    isa: {},
    extra: ["native/util/glibc_compat.cpp"],
    link: LINUX_LINK,
  },
  "win32-x64": {
    cxx: "x86_64-w64-mingw32-g++-posix", strip: "x86_64-w64-mingw32-strip", cross: true,
    cflags: ["-D_WIN32_WINNT=0x0A00", "-DUNICODE", "-D_UNICODE", "-DNOMINMAX", "-DRINGLLM_DELAY_LOAD_HOOK"],
    isa: { avx2: gypi.ringllm_flags_avx2, avx512: gypi.ringllm_flags_avx512 },
    extra: ["native/addon/win_delay_load.cpp"],
    link: ["-shared", "-s", "-static", "-static-libgcc", "-static-libstdc++"],
    importLib: true,
  },
};

function run(cmd, args, opts = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "inherit", "inherit"], cwd: root, ...opts });
    child.on("error", (err) => reject(new Error(`${cmd}: ${err.message}`)));
    child.on("exit", (code) => (code === 0 ? resolvePromise() : reject(new Error(`${cmd} ${args.slice(-3).join(" ")} exited with ${code}`))));
  });
}

function mtime(p) {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return Infinity;
  }
}

// An object is fresh when it is newer than every file its .d lists.
function fresh(obj, dep) {
  if (!existsSync(obj) || !existsSync(dep)) return false;
  const t = mtime(obj);
  const files = readFileSync(dep, "utf8").replace(/\\\n/g, " ").split(/:\s/).slice(1).join(" ").split(/\s+/).filter(Boolean);
  return files.every((f) => mtime(resolve(root, f)) < t);
}

async function pool(tasks) {
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) await tasks[next++]();
  };
  await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, worker));
}

// The Vulkan headers (Debian's libvulkan-dev) for the cross compilers (MinGW does not search
// /usr/include): a folder holding only them, so the GPU backend is in every prebuild (it loads the
// Vulkan loader at run time; without the headers it compiles to a stub).
function vulkanInclude() {
  if (!existsSync("/usr/include/vulkan/vulkan.h")) return [];
  const dir = join(root, "build-prebuilds", "vulkan-include");
  mkdirSync(dir, { recursive: true });
  for (const sub of ["vulkan", "vk_video"]) {
    if (existsSync(`/usr/include/${sub}`) && !existsSync(join(dir, sub))) symlinkSync(`/usr/include/${sub}`, join(dir, sub));
  }
  return [`-isystem${dir}`];
}

async function build(name) {
  const t = TARGETS[name];
  if (!t) throw new Error(`unknown target ${name} (known: ${Object.keys(TARGETS).join(", ")})`);
  const started = Date.now();
  const out = join(root, "build-prebuilds", name);
  mkdirSync(join(out, "obj"), { recursive: true });
  const units = [
    ...gypi.ringllm_sources.map((s) => [s, []]),
    ...gypi.ringllm_sources_avx2.map((s) => [s, t.isa.avx2 || []]),
    ...gypi.ringllm_sources_avx512.map((s) => [s, t.isa.avx512 || []]),
    ...gypi.ringllm_sources_neon.map((s) => [s, []]),
    ...t.extra.map((s) => [s, []]),
  ];
  const objs = [];
  let compiled = 0;
  await pool(units.map(([src, isa]) => {
    const obj = join(out, "obj", src.replace(/[/\\]/g, "_").replace(/\.cpp$/, ".o"));
    objs.push(obj);
    return async () => {
      if (fresh(obj, obj.replace(/\.o$/, ".d"))) return;
      await run(t.cxx, [...COMMON, ...t.cflags, ...(t.cross ? vulkanInclude() : []), ...isa, "-MMD", "-c", src, "-o", relative(root, obj)]);
      compiled++;
    };
  }));
  const link = [...objs];
  if (t.importLib) {
    // node.exe exports the Node-API functions; the addon imports them by this delay-load library,
    // bound on first use to the host executable (native/addon/win_delay_load.cpp: Electron too).
    const lib = join(out, "node.delay.a");
    await run("x86_64-w64-mingw32-dlltool", ["-d", napiDef, "-D", "node.exe", "-y", lib]);
    link.push(lib);
  }
  const addon = join(out, "ringllm.node");
  await run(t.cxx, ["-o", addon, ...link, ...t.link]);
  const dest = join(root, "prebuilds", name);
  mkdirSync(dest, { recursive: true });
  copyFileSync(addon, join(dest, "ringllm.node"));
  const size = statSync(addon).size;
  const secs = ((Date.now() - started) / 1000).toFixed(0);
  console.log(`prebuild ${name}: prebuilds/${name}/ringllm.node ${(size / 1048576).toFixed(2)} MiB (${compiled}/${units.length} compiled, ${secs} s)`);
  writeFileSync(join(out, "built.txt"), `${new Date().toISOString()} ${size}\n`);
}

const targets = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(TARGETS);
try {
  for (const t of targets) await build(t);
} catch (err) {
  console.error(`prebuild failed: ${err.message}`);
  process.exit(1);
}
