#include "cpu_features.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#define RL_X86 1
#if defined(_MSC_VER)
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#endif

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#ifndef HWCAP_ASIMDHP
#define HWCAP_ASIMDHP (1 << 10)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1 << 13)
#endif
#endif

#include <cstdint>

namespace rl {

#ifdef RL_X86
static void cpuid_query(uint32_t leaf, uint32_t subleaf, uint32_t r[4]) {
#if defined(_MSC_VER)
    int v[4];
    __cpuidex(v, (int)leaf, (int)subleaf);
    for (int i = 0; i < 4; i++) r[i] = (uint32_t)v[i];
#else
    __cpuid_count(leaf, subleaf, r[0], r[1], r[2], r[3]);
#endif
}

static uint64_t xgetbv0() {
#if defined(_MSC_VER)
    return _xgetbv(0);
#else
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
#endif
}
#endif

static CpuFeatures cpu_features_detect() {
    CpuFeatures f = {};
#ifdef RL_X86
    uint32_t r[4];
    cpuid_query(0, 0, r);
    uint32_t max_leaf = r[0];
    cpuid_query(1, 0, r);
    uint32_t ecx1 = r[2];
    f.sse3 = ecx1 & (1u << 0);
    f.ssse3 = ecx1 & (1u << 9);
    f.sse41 = ecx1 & (1u << 19);
    f.sse42 = ecx1 & (1u << 20);
    bool osxsave = ecx1 & (1u << 27);
    bool cpu_avx = ecx1 & (1u << 28);
    bool cpu_fma = ecx1 & (1u << 12);
    bool cpu_f16c = ecx1 & (1u << 29);
    // The OS must save YMM (bits 1,2) and, for AVX-512, opmask/ZMM state (bits 5,6,7).
    uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    bool os_ymm = (xcr0 & 0x6) == 0x6;
    bool os_zmm = os_ymm && (xcr0 & 0xE0) == 0xE0;
    f.avx = cpu_avx && os_ymm;
    f.fma = cpu_fma && f.avx;
    f.f16c = cpu_f16c && f.avx;
    if (max_leaf >= 7) {
        cpuid_query(7, 0, r);
        uint32_t ebx7 = r[1], ecx7 = r[2];
        f.avx2 = (ebx7 & (1u << 5)) && f.avx;
        f.bmi2 = ebx7 & (1u << 8);
        f.avx512f = (ebx7 & (1u << 16)) && os_zmm;
        f.avx512dq = (ebx7 & (1u << 17)) && f.avx512f;
        f.avx512bw = (ebx7 & (1u << 30)) && f.avx512f;
        f.avx512vl = (ebx7 & (1u << 31)) && f.avx512f;
        f.avx512vnni = (ecx7 & (1u << 11)) && f.avx512f;
        cpuid_query(7, 1, r);
        f.avxvnni = (r[0] & (1u << 4)) && f.avx;
        f.avx512bf16 = (r[0] & (1u << 5)) && f.avx512f;
    }
#endif
#if defined(__aarch64__)
    f.neon = true;  // mandatory on aarch64
#if defined(__linux__)
    unsigned long hw = getauxval(AT_HWCAP);
    unsigned long hw2 = getauxval(AT_HWCAP2);
    f.dotprod = hw & HWCAP_ASIMDDP;
    f.fp16 = hw & HWCAP_ASIMDHP;
    f.i8mm = hw2 & HWCAP2_I8MM;
#elif defined(__APPLE__)
    f.dotprod = true;
    f.fp16 = true;
#endif
#endif
    return f;
}

const CpuFeatures& cpu_features_get() {
    static const CpuFeatures features = cpu_features_detect();  // thread-safe static init
    return features;
}

}  // namespace rl
