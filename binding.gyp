# node-gyp build of the CPU engine (prebuildify and the install fallback use it).
# The source lists and ISA flags come from native/sources.gypi, which CMakeLists.txt also reads.
# Every ISA file is compiled on every architecture: off its own ISA it reduces to a stub that
# reports the tier as absent, so the lists need no per-architecture conditions.
{
  "includes": ["native/sources.gypi"],
  "target_defaults": {
    "defines": ["NAPI_VERSION=8", "NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED", "NAPI_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
    "cflags": ["-O3", "-fPIC", "-fvisibility=hidden"],
    "cflags_cc": ["-std=c++17", "-fexceptions", "-O3", "-fPIC"],
    "xcode_settings": {
      "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
      "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
      "MACOSX_DEPLOYMENT_TARGET": "11.0"
    },
    "msvs_settings": {"VCCLCompilerTool": {"ExceptionHandling": 1}},
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"]
  },
  "targets": [
    {
      "target_name": "ringllm",
      "sources": ["<@(ringllm_sources)"],
      "dependencies": ["ringllm_avx2", "ringllm_avx512", "ringllm_neon"],
      "conditions": [["OS=='linux'", {"ldflags": ["-static-libstdc++", "-static-libgcc"], "libraries": ["-ldl"]}]]
    },
    {
      "target_name": "ringllm_avx2",
      "type": "static_library",
      "sources": ["<@(ringllm_sources_avx2)"],
      "conditions": [["target_arch=='x64'", {
        "cflags": ["<@(ringllm_flags_avx2)"],
        "xcode_settings": {"OTHER_CFLAGS": ["<@(ringllm_flags_avx2)"]}
      }]]
    },
    {
      "target_name": "ringllm_avx512",
      "type": "static_library",
      "sources": ["<@(ringllm_sources_avx512)"],
      "conditions": [["target_arch=='x64'", {
        "cflags": ["<@(ringllm_flags_avx512)"],
        "xcode_settings": {"OTHER_CFLAGS": ["<@(ringllm_flags_avx512)"]}
      }]]
    },
    {
      "target_name": "ringllm_neon",
      "type": "static_library",
      "sources": ["<@(ringllm_sources_neon)"]
    }
  ]
}
