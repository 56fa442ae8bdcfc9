// AVX-512 VNNI packed 8-row kernels (packed.h), on 256-bit registers: dpbusd multiplies unsigned
// weight bytes by signed activation bytes and adds groups of 4 straight into int32 lanes.
// Q4_0 nibbles are unsigned already; Q8_0 weights are made unsigned by + 128 (xor 0x80) and the
// 128 * (activation block sum) taken back. Bit-identical to generic:: like every tier.
// Only selected when the CPU reports AVX512_VNNI (see weight_types.cpp).
#include "../packed.h"

#if defined(__AVX512F__) && defined(__AVX512VL__) && defined(__AVX512VNNI__)
#include <immintrin.h>

#include <cstring>

namespace rl {
namespace avx512 {

static inline __m256i bcast4(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

template <int NT, bool Q4>
static void tile(const void* w, const PackedAct& a, int t0, float* y, int64_t y_stride) {
    const __m256i m4 = _mm256_set1_epi8(15), flip = _mm256_set1_epi8((char)0x80);
    const int64_t nb = a.nb;
    const BlockQ8_0* q[NT];
    __m256 acc[NT];
    for (int t = 0; t < NT; t++) {
        q[t] = (const BlockQ8_0*)((const uint8_t*)a.q + (size_t)(t0 + t) * a.q_stride);
        acc[t] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        __m256i s32[NT];
        for (int t = 0; t < NT; t++) s32[t] = _mm256_setzero_si256();
        const uint16_t* d;
        if (Q4) {
            const BlockQ4_0x8& blk = ((const BlockQ4_0x8*)w)[b];
            d = blk.d;
            for (int c = 0; c < 4; c++) {
                const __m256i raw = _mm256_loadu_si256((const __m256i*)(blk.qs + 32 * c));
                const __m256i lo = _mm256_and_si256(raw, m4), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
                for (int t = 0; t < NT; t++) {
                    s32[t] = _mm256_dpbusd_epi32(s32[t], lo, bcast4(q[t][b].qs + 4 * c));
                    s32[t] = _mm256_dpbusd_epi32(s32[t], hi, bcast4(q[t][b].qs + 16 + 4 * c));
                }
            }
        } else {
            const BlockQ8_0x8& blk = ((const BlockQ8_0x8*)w)[b];
            d = blk.d;
            for (int c = 0; c < 8; c++) {
                const __m256i wu = _mm256_xor_si256(_mm256_loadu_si256((const __m256i*)(blk.qs + 32 * c)), flip);
                for (int t = 0; t < NT; t++) s32[t] = _mm256_dpbusd_epi32(s32[t], wu, bcast4(q[t][b].qs + 4 * c));
            }
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)d));
        for (int t = 0; t < NT; t++) {
            const int64_t k = (int64_t)(t0 + t) * nb + b;
            const __m256i s = _mm256_sub_epi32(s32[t], _mm256_set1_epi32((Q4 ? 8 : 128) * a.s[k]));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw, _mm256_set1_ps(a.d[k])), acc[t]);
        }
    }
    for (int t = 0; t < NT; t++) _mm256_storeu_ps(y + (t0 + t) * y_stride, acc[t]);
}

template <bool Q4>
static void gemm_tiles(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    int t = 0;
    for (; t + 8 <= n_tok; t += 8) tile<8, Q4>(w, a, t, y, y_stride);
    if (t + 4 <= n_tok) {
        tile<4, Q4>(w, a, t, y, y_stride);
        t += 4;
    }
    switch (n_tok - t) {
        case 3: tile<3, Q4>(w, a, t, y, y_stride); break;
        case 2: tile<2, Q4>(w, a, t, y, y_stride); break;
        case 1: tile<1, Q4>(w, a, t, y, y_stride); break;
        default: break;
    }
}

void gemm_q4_0x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    gemm_tiles<true>(w, a, n_tok, y, y_stride);
}

void gemm_q8_0x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    gemm_tiles<false>(w, a, n_tok, y, y_stride);
}

}  // namespace avx512
}  // namespace rl

#else  // built without AVX-512 VNNI: the table never selects these

namespace rl {
namespace avx512 {
void gemm_q4_0x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_q4_0x8(w, a, n_tok, y, s); }
void gemm_q8_0x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_q8_0x8(w, a, n_tok, y, s); }
}  // namespace avx512
}  // namespace rl

#endif
