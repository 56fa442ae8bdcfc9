#!/usr/bin/env bash
# Packs the CUDA plugin as its own npm package, @ringllm/linux-x64-cuda (the main tarball stays small:
# the plugin carries the static CUDA runtime). ringllm's loader (lib/native.ts) resolves the package
# from ringllm's folder and hands its libringllm_cuda.so to the addon, which uses it when no plugin
# lies beside the addon. To ship it, publish the package and list it in ringllm's
# optionalDependencies with the same version.
# The plugin: $1, else build-cmake/Release or build-native-tests (scripts/test-cuda.sh), else built
# here with nvcc (sm_75 + PTX, RINGLLM_CUDA_ARCHS to change). Prints the tarball's path last.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=build-prebuilds/cuda-package
plugin=${1:-}
if [ -z "$plugin" ]; then
  for p in build-cmake/Release/libringllm_cuda.so build-native-tests/libringllm_cuda.so build-prebuilds/cuda/libringllm_cuda.so; do
    if [ -f "$p" ] && [ "$p" -nt native/backend/cuda/cuda_backend.cu ] && [ "$p" -nt native/backend/cuda/cuda_plugin.h ]; then
      plugin=$p
      break
    fi
  done
fi
if [ -z "$plugin" ]; then
  command -v nvcc >/dev/null || { echo "pack-cuda: nvcc not found (install the CUDA toolkit) and no plugin built" >&2; exit 1; }
  ARCHS="${RINGLLM_CUDA_ARCHS:-75}"
  mkdir -p build-prebuilds/cuda
  plugin=build-prebuilds/cuda/libringllm_cuda.so
  echo "pack-cuda: building $plugin with nvcc (sm_$ARCHS + PTX)" >&2
  nvcc -O3 -std=c++17 -Xcompiler -fPIC,-fvisibility=hidden -Xlinker -s -shared -cudart static \
    -gencode "arch=compute_${ARCHS},code=sm_${ARCHS}" -gencode "arch=compute_${ARCHS},code=compute_${ARCHS}" \
    native/backend/cuda/cuda_backend.cu -o "$plugin" >&2
fi
version=$(node -p 'require("./package.json").version')
rm -rf "$OUT" && mkdir -p "$OUT"
cp "$plugin" "$OUT/libringllm_cuda.so"
cat > "$OUT/package.json" <<EOF
{
  "name": "@ringllm/linux-x64-cuda",
  "version": "$version",
  "description": "The CUDA plugin of ringllm for linux-x64 (NVIDIA GPUs); ringllm loads it when installed.",
  "license": "MIT",
  "os": ["linux"],
  "cpu": ["x64"],
  "files": ["libringllm_cuda.so", "README.md"]
}
EOF
cat > "$OUT/README.md" <<EOF
# @ringllm/linux-x64-cuda

The CUDA backend of [ringllm](https://www.npmjs.com/package/ringllm) $version for linux-x64: a plugin
library with the CUDA runtime linked in (it needs the NVIDIA driver only). Install it beside ringllm
(\`npm install @ringllm/linux-x64-cuda\`) and load a model with \`{ gpu: "cuda" }\` or \`{ gpu: "auto" }\`.
The version must equal ringllm's.
EOF
tgz=$(cd "$OUT" && npm pack --silent --pack-destination .. | tail -1)
echo "pack-cuda: build-prebuilds/$tgz ($(stat -c %s "build-prebuilds/$tgz") bytes, plugin $plugin)" >&2
echo "$PWD/build-prebuilds/$tgz"
