// CPU feature detection (cpuid + xgetbv on x86, hwcaps on aarch64).
#pragma once

namespace rl {

struct CpuFeatures {
    // x86: instruction set present *and* register state enabled by the OS (xgetbv)
    bool sse3, ssse3, sse41, sse42, avx, avx2, fma, f16c, bmi2;
    bool avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16, avxvnni;
    // aarch64
    bool neon, dotprod, i8mm, fp16;
};

// Reads the features once; cheap to call again.
const CpuFeatures& cpu_features_get();

}  // namespace rl
