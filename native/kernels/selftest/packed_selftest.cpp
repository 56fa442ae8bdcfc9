// Standalone check of the packed 8-row kernels (packed.h): the generic reference against "dequantize
// the original rows, dot in double" (bound normalized by ||w|| ||a||), and every SIMD tier this CPU
// runs (avx2; avx512 when it has VNNI; neon on aarch64) against generic bit for bit, on ragged block and token counts,
// hostile weight bytes (Q8_0 -128) and scale regimes. Exit status 0 = pass.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "../../util/selftest.h"
#include "../../util/test_rng.h"
#include "../fp16.h"
#include "../packed.h"

using namespace rl;


struct Cpu {
    bool avx2 = false, vnni = false;
#if defined(__aarch64__)
    bool neon = true;  // mandatory on aarch64
#endif
};
static Cpu detect() {
    Cpu c;
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, cx, d;
    if (__get_cpuid_count(7, 0, &a, &b, &cx, &d)) {
        c.avx2 = (b >> 5) & 1;
        c.vnni = ((cx >> 11) & 1) && ((b >> 16) & 1) && ((b >> 31) & 1);  // VNNI, F, VL
    }
#endif
    return c;
}

struct PackedType {
    const char* name;
    int block;        // elements per block: 32 (Q8_0 activations) or 256 (Q8_K activations)
    int block_bytes;  // original block
    int n_scales;     // fp16 scale fields at the start of each original block (d, or d and dmin);
                      // 0: one at the end (Q6_K); -1: a float type (F16/F32, f32 activations)
    void (*pack)(const uint8_t*, size_t, int64_t, void*);
    size_t packed_bytes;
    PackedGemmFn gen, avx2, avx512;
    void (*dequant)(const void*, float*, int64_t);
};

static const PackedType kTypes[] = {
    {"Q4_0", 32, 18, 1, generic::pack_q4_0x8, sizeof(BlockQ4_0x8), generic::gemm_q4_0x8, avx2::gemm_q4_0x8,
     avx512::gemm_q4_0x8, generic::dequantize_row_q4_0},
    {"Q8_0", 32, 34, 1, generic::pack_q8_0x8, sizeof(BlockQ8_0x8), generic::gemm_q8_0x8, avx2::gemm_q8_0x8,
     avx512::gemm_q8_0x8, generic::dequantize_row_q8_0},
    {"Q4_K", 256, 144, 2, generic::pack_q4_Kx8, sizeof(BlockQ4_Kx8), generic::gemm_q4_Kx8, avx2::gemm_q4_Kx8,
     avx512::gemm_q4_Kx8, generic::dequantize_row_q4_K},
    {"Q5_K", 256, 176, 2, generic::pack_q5_Kx8, sizeof(BlockQ5_Kx8), generic::gemm_q5_Kx8, avx2::gemm_q5_Kx8,
     avx512::gemm_q5_Kx8, generic::dequantize_row_q5_K},
    {"F16", 8, 16, -1, generic::pack_f16x8, sizeof(BlockF16x8), generic::gemm_f16x8, avx2::gemm_f16x8,
     avx512::gemm_f16x8, generic::dequantize_row_f16},
    {"F32", 8, 32, -1, generic::pack_f32x8, sizeof(BlockF32x8), generic::gemm_f32x8, avx2::gemm_f32x8,
     avx512::gemm_f32x8, generic::dequantize_row_f32},
    {"Q6_K", 256, 210, 0, generic::pack_q6_Kx8, sizeof(BlockQ6_Kx8), generic::gemm_q6_Kx8, avx2::gemm_q6_Kx8,
     avx512::gemm_q6_Kx8, generic::dequantize_row_q6_K},
};

#if defined(__aarch64__)
static PackedGemmFn neon_gemm(const PackedType& ty) {
    if (std::strcmp(ty.name, "Q4_0") == 0) return neon::gemm_q4_0x8;
    if (std::strcmp(ty.name, "Q8_0") == 0) return neon::gemm_q8_0x8;
    if (std::strcmp(ty.name, "F16") == 0) return neon::gemm_f16x8;
    if (std::strcmp(ty.name, "Q5_K") == 0) return neon::gemm_q5_Kx8;
    if (std::strcmp(ty.name, "F32") == 0) return neon::gemm_f32x8;
    return std::strcmp(ty.name, "Q4_K") == 0 ? neon::gemm_q4_Kx8 : neon::gemm_q6_Kx8;
}
#endif

// Scale regimes for the weight fp16 scales: normal, tiny (subnormal halves), zero, negative, large.
static uint16_t weight_scale(int regime) {
    float u = std::fabs(rnd_uniform()) + 0.01f;
    switch (regime) {
        case 1: return (uint16_t)(1 + rnd_u32() % 1023);  // subnormal half
        case 2: return 0;
        case 3: return fp32_to_fp16(-u * 0.05f);
        case 4: return fp32_to_fp16(u * 6.0e4f);
        default: return fp32_to_fp16(u * 0.05f);
    }
}

static void run_case(const PackedType& ty, const Cpu& cpu, int64_t nb, int n_tok, int regime) {
    const int64_t n = nb * ty.block;
    const bool qk = ty.block == 256, fl = ty.n_scales < 0;
    const size_t row_bytes = (size_t)nb * ty.block_bytes;
    std::vector<uint8_t> rows(8 * row_bytes);
    for (uint8_t& b : rows) b = (uint8_t)rnd_u32();
    if (fl) {  // finite values, scaled by regime: normal, tiny (f16 subnormals), zero, negative, large
        const float mul[] = {1.0f, 1e-6f, 0.0f, -1.0f, 3e3f, 1.0f};
        for (size_t i = 0; i < rows.size() / ty.block_bytes * 8; i++) {
            const float v = rnd_uniform() * mul[regime];
            if (ty.block_bytes == 16) {
                const uint16_t h = fp32_to_fp16(v);
                std::memcpy(rows.data() + 2 * i, &h, 2);
            } else {
                std::memcpy(rows.data() + 4 * i, &v, 4);
            }
        }
    }
    if (regime == 5)  // Q8_0 extremes: every code -128 or 127
        for (uint8_t& b : rows) b = (rnd_u32() & 1) ? 0x80 : 0x7f;
    for (int r = 0; r < 8 && !fl; r++)
        for (int64_t b = 0; b < nb; b++)
            for (int k = 0; k < std::max(ty.n_scales, 1); k++) {
                uint16_t sc = weight_scale(regime == 5 ? 0 : regime);
                const int at = ty.n_scales == 0 ? ty.block_bytes - 2 : 2 * k;
                std::memcpy(rows.data() + r * row_bytes + b * ty.block_bytes + at, &sc, 2);
            }
    std::vector<uint8_t> packed((size_t)nb * ty.packed_bytes);
    ty.pack(rows.data(), row_bytes, nb, packed.data());

    const size_t q_stride = fl ? (size_t)n * 4 + 4 : (size_t)nb * (qk ? sizeof(BlockQ8K) : sizeof(BlockQ8_0)) + 4;
    std::vector<uint8_t> q(q_stride * n_tok);
    std::vector<float> x((size_t)n), d((size_t)nb * n_tok);
    std::vector<int32_t> s((size_t)nb * n_tok);
    for (int t = 0; t < n_tok; t++) {
        for (float& v : x) v = rnd_uniform() * (t % 3 == 0 ? 100.0f : 1.0f);
        if (fl) std::memcpy(q.data() + t * q_stride, x.data(), (size_t)n * 4);
        else if (qk) generic::quantize_row_q8_K(x.data(), q.data() + t * q_stride, n);
        else generic::quantize_row_q8_0(x.data(), q.data() + t * q_stride, n);
    }
    if (!qk && !fl) generic::packed_act_sums((const BlockQ8_0*)q.data(), q_stride, nb, n_tok, d.data(), s.data());
    const bool sums = !qk && !fl;
    const PackedAct a{q.data(), q_stride, sums ? d.data() : nullptr, sums ? s.data() : nullptr, nb};

    const int64_t y_stride = 8 + 3;
    std::vector<float> y_gen((size_t)y_stride * n_tok, -1.0f), y_simd(y_gen.size(), -1.0f);
    ty.gen(packed.data(), a, n_tok, y_gen.data(), y_stride);

    // generic vs the double dot of dequantized rows
    std::vector<float> wr((size_t)n), ar((size_t)n);
    double worst = 0;
    for (int t = 0; t < n_tok; t++) {
        if (fl) {
            std::memcpy(ar.data(), q.data() + t * q_stride, (size_t)n * 4);
        } else if (qk) {
            BlockQ8K blk;
            for (int64_t b = 0; b < nb; b++) {
                std::memcpy(&blk, q.data() + t * q_stride + b * sizeof(BlockQ8K), sizeof blk);
                for (int i = 0; i < 256; i++) ar[b * 256 + i] = blk.d * blk.qs[i];
            }
        } else {
            generic::dequantize_row_q8_0(q.data() + t * q_stride, ar.data(), n);
        }
        for (int r = 0; r < 8; r++) {
            ty.dequant(rows.data() + r * row_bytes, wr.data(), n);
            double dot = 0, nw = 0, na = 0;
            for (int64_t i = 0; i < n; i++) {
                dot += (double)wr[i] * ar[i];
                nw += (double)wr[i] * wr[i];
                na += (double)ar[i] * ar[i];
            }
            const double scale = std::sqrt(nw * na);
            const double err = std::fabs(y_gen[t * y_stride + r] - dot);
            if (scale > 0) worst = std::fmax(worst, err / scale);
            else CHECK(err == 0, "%s zero row gives %g", ty.name, err);
        }
    }
    CHECK(worst <= 2e-6, "%s nb=%lld tok=%d regime=%d: generic vs double reference %.3g", ty.name, (long long)nb,
          n_tok, regime, worst);

    struct Tier {
        const char* name;
        bool on;
        PackedGemmFn fn;
#if defined(__aarch64__)
    } tiers[] = {{"neon", cpu.neon, neon_gemm(ty)}};
#else
    } tiers[] = {{"avx2", cpu.avx2, ty.avx2}, {"avx512", cpu.vnni, ty.avx512}};
#endif
    for (const Tier& tier : tiers) {
        if (!tier.on) continue;
        std::fill(y_simd.begin(), y_simd.end(), -1.0f);
        tier.fn(packed.data(), a, n_tok, y_simd.data(), y_stride);
        CHECK(std::memcmp(y_gen.data(), y_simd.data(), y_gen.size() * sizeof(float)) == 0,
              "%s %s nb=%lld tok=%d regime=%d differs from generic", tier.name, ty.name, (long long)nb, n_tok, regime);
    }
#if !defined(__aarch64__)
    // 16-row tiles (AVX-512 VNNI, Q8_0): two groups, the second the rows rotated by 3, equal
    // generic on each group
    const PackedGemmFn x16 = std::strcmp(ty.name, "Q8_0") == 0 ? avx512::gemm_q8_0x16 : nullptr;
    if (x16 && cpu.vnni) {
        std::vector<uint8_t> rot(rows.size()), two(2 * packed.size());
        for (int r = 0; r < 8; r++) std::memcpy(rot.data() + r * row_bytes, rows.data() + ((r + 3) % 8) * row_bytes, row_bytes);
        std::memcpy(two.data(), packed.data(), packed.size());
        ty.pack(rot.data(), row_bytes, nb, two.data() + packed.size());
        std::vector<float> y_hi(y_gen.size(), -1.0f), y16((size_t)(16 + 3) * n_tok, -1.0f);
        ty.gen(two.data() + packed.size(), a, n_tok, y_hi.data(), y_stride);
        x16(two.data(), a, n_tok, y16.data(), 16 + 3);
        bool same = true;
        for (int t = 0; t < n_tok; t++)
            same &= std::memcmp(y16.data() + t * 19, y_gen.data() + t * y_stride, 8 * sizeof(float)) == 0 &&
                    std::memcmp(y16.data() + t * 19 + 8, y_hi.data() + t * y_stride, 8 * sizeof(float)) == 0 &&
                    y16[t * 19 + 16] == -1.0f;
        CHECK(same, "avx512 16-row %s nb=%lld tok=%d regime=%d differs from generic", ty.name, (long long)nb, n_tok, regime);
    }
#endif
}

int main() {
    const Cpu cpu = detect();
#if defined(__aarch64__)
    std::printf("tiers checked against generic: neon (%s path)\n", neon::packed_uses_sdot() ? "sdot" : "vmull/vpadal");
#else
    std::printf("tiers checked against generic: %s%s\n", cpu.avx2 ? "avx2 " : "", cpu.vnni ? "avx512-vnni" : "");
#endif
    const int64_t nbs[] = {1, 2, 3, 7, 22, 64, 88, 176};
    const int toks[] = {1, 2, 3, 4, 5, 7, 8, 9, 12, 17, 67};
    for (const PackedType& ty : kTypes)
        for (int64_t nb : nbs)
            for (int n_tok : toks)
                for (int regime = 0; regime < 6; regime++) {
                    if (regime == 5 && std::strcmp(ty.name, "Q8_0") != 0) continue;
                    if (nb == 176 && n_tok > 9) continue;
                    if (ty.block == 256 && nb > 22) continue;  // same row lengths: 256 .. 5632
                    if (ty.block == 8 && nb > 88) continue;
                    run_case(ty, cpu, nb, n_tok, regime);
                }
    std::printf("packed kernels: %d checks, %d failures\n", g_checks, g_failures);
    return g_failures != 0;
}
