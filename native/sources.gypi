{
  "variables": {
    "ringllm_sources": [
      "native/addon/addon.cpp",
      "native/addon/context_handle.cpp",
      "native/addon/decoder_handle.cpp",
      "native/addon/gguf_js.cpp",
      "native/addon/gpu_binding.cpp",
      "native/addon/load_worker.cpp",
      "native/addon/model_handle.cpp",
      "native/addon/sampler_probe.cpp",
      "native/addon/system_info.cpp",
      "native/addon/tokenizer_binding.cpp",
      "native/backend/cuda/cuda_loader.cpp",
      "native/backend/gpu.cpp",
      "native/backend/vulkan/vk_backend.cpp",
      "native/engine/batcher.cpp",
      "native/engine/context.cpp",
      "native/engine/encoder.cpp",
      "native/engine/load_util.cpp",
      "native/engine/matmul.cpp",
      "native/engine/model.cpp",
      "native/engine/ops.cpp",
      "native/engine/repack.cpp",
      "native/engine/sampler.cpp",
      "native/engine/thread_pool.cpp",
      "native/engine/transformer.cpp",
      "native/engine/transformer_load.cpp",
      "native/engine/transformer_gpu.cpp",
      "native/engine/weight_types.cpp",
      "native/gguf/gguf.cpp",
      "native/gguf/gguf_file.cpp",
      "native/gguf/gguf_types.cpp",
      "native/kernels/dispatch.cpp",
      "native/kernels/generic/kernels_generic.cpp",
      "native/kernels/generic/packed_generic.cpp",
      "native/kernels/generic/quants_generic.cpp",
      "native/kv/attention.cpp",
      "native/kv/kv_cache.cpp",
      "native/tokenizer/bpe.cpp",
      "native/tokenizer/pretokenizer.cpp",
      "native/tokenizer/regex.cpp",
      "native/tokenizer/spm.cpp",
      "native/tokenizer/tokenizer.cpp",
      "native/tokenizer/unicode.cpp",
      "native/tokenizer/unicode_data.cpp",
      "native/tokenizer/vocab.cpp",
      "native/tokenizer/wpm.cpp",
      "native/util/cpu_features.cpp",
      "native/util/cpu_topology.cpp"
    ],
    "ringllm_sources_avx2": [
      "native/kernels/avx2/kernels_avx2.cpp",
      "native/kernels/avx2/packed_avx2.cpp",
      "native/kernels/avx2/quants_avx2.cpp"
    ],
    "ringllm_sources_avx512": [
      "native/kernels/avx512/kernels_avx512.cpp",
      "native/kernels/avx512/packed_avx512.cpp"
    ],
    "ringllm_sources_neon": [
      "native/kernels/neon/kernels_neon.cpp",
      "native/kernels/neon/packed_neon.cpp",
      "native/kernels/neon/quants_neon.cpp"
    ],
    "ringllm_flags_avx2": ["-mavx2", "-mfma", "-mf16c"],
    "ringllm_flags_avx512": ["-Wno-maybe-uninitialized", "-Wno-uninitialized", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx2", "-mfma", "-mf16c"]
  }
}
