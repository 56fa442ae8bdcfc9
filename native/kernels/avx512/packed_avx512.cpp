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
    RL_UNROLL for (int t = 0; t < NT; t++) {
        q[t] = (const BlockQ8_0*)((const uint8_t*)a.q + (size_t)(t0 + t) * a.q_stride);
        acc[t] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        __m256i s32[NT];
        RL_UNROLL for (int t = 0; t < NT; t++) s32[t] = _mm256_setzero_si256();
        const uint16_t* d;
        if (Q4) {
            const BlockQ4_0x8& blk = ((const BlockQ4_0x8*)w)[b];
            d = blk.d;
            RL_UNROLL for (int c = 0; c < 4; c++) {
                const __m256i raw = _mm256_loadu_si256((const __m256i*)(blk.qs + 32 * c));
                const __m256i lo = _mm256_and_si256(raw, m4), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
                RL_UNROLL for (int t = 0; t < NT; t++) {
                    s32[t] = _mm256_dpbusd_epi32(s32[t], lo, bcast4(q[t][b].qs + 4 * c));
                    s32[t] = _mm256_dpbusd_epi32(s32[t], hi, bcast4(q[t][b].qs + 16 + 4 * c));
                }
            }
        } else {
            const BlockQ8_0x8& blk = ((const BlockQ8_0x8*)w)[b];
            d = blk.d;
            RL_UNROLL for (int c = 0; c < 8; c++) {
                const __m256i wu = _mm256_xor_si256(_mm256_loadu_si256((const __m256i*)(blk.qs + 32 * c)), flip);
                RL_UNROLL for (int t = 0; t < NT; t++) s32[t] = _mm256_dpbusd_epi32(s32[t], wu, bcast4(q[t][b].qs + 4 * c));
            }
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)d));
        RL_UNROLL for (int t = 0; t < NT; t++) {
            const int64_t k = (int64_t)(t0 + t) * nb + b;
            const __m256i s = _mm256_sub_epi32(s32[t], _mm256_set1_epi32((Q4 ? 8 : 128) * a.s[k]));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw, _mm256_set1_ps(a.d[k])), acc[t]);
        }
    }
    RL_UNROLL for (int t = 0; t < NT; t++) _mm256_storeu_ps(y + (t0 + t) * y_stride, acc[t]);
}

// Q4_K: dpbusd per sub-block, times the rows' scales (mullo), summed over the super-block; the mins
// term as in avx2 (madd of min pairs with activation sum pairs).
// (Q5_K: the fifth bit of each element, bit sb of its qh byte, or-ed in as bit 4.)
template <int NT, typename B, bool Q5>
static void tile_k45(const void* w, const PackedAct& a, int t0, float* y, int64_t y_stride) {
    const __m256i m4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
    const BlockQ8K* q[NT];
    __m256 acc[NT];
    RL_UNROLL for (int t = 0; t < NT; t++) {
        q[t] = (const BlockQ8K*)((const uint8_t*)a.q + (size_t)(t0 + t) * a.q_stride);
        acc[t] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < a.nb; b++) {
        const B& wb = ((const B*)w)[b];
        __m256i isum[NT];
        RL_UNROLL for (int t = 0; t < NT; t++) isum[t] = _mm256_setzero_si256();
        for (int sb = 0; sb < 8; sb++) {
            const uint8_t* chunk = wb.qs + 256 * (sb >> 1);
            const __m128i shift = _mm_cvtsi32_si128(sb);
            __m256i isub[NT];
            RL_UNROLL for (int t = 0; t < NT; t++) isub[t] = _mm256_setzero_si256();
            RL_UNROLL for (int c = 0; c < 8; c++) {
                const __m256i raw = _mm256_loadu_si256((const __m256i*)(chunk + 32 * c));
                __m256i v = (sb & 1) ? _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4) : _mm256_and_si256(raw, m4);
                if constexpr (Q5) {
                    const __m256i hb = _mm256_loadu_si256((const __m256i*)(wb.qh + 32 * c));
                    v = _mm256_or_si256(v, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(hb, shift), one), 4));
                }
                RL_UNROLL for (int t = 0; t < NT; t++) isub[t] = _mm256_dpbusd_epi32(isub[t], v, bcast4(q[t][b].qs + 32 * sb + 4 * c));
            }
            const __m256i sc = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)wb.sc[sb]));
            RL_UNROLL for (int t = 0; t < NT; t++) isum[t] = _mm256_add_epi32(isum[t], _mm256_mullo_epi32(isub[t], sc));
        }
        __m256i mp[4];
        RL_UNROLL for (int k = 0; k < 4; k++)
            mp[k] = _mm256_or_si256(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)wb.m[2 * k])),
                                    _mm256_slli_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)wb.m[2 * k + 1])), 16));
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)wb.d));
        const __m256 dm = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)wb.dmin));
        RL_UNROLL for (int t = 0; t < NT; t++) {
            const int16_t* bs = q[t][b].bsums;
            __m256i summ = _mm256_setzero_si256();
            RL_UNROLL for (int k = 0; k < 4; k++) {
                const uint32_t lo = (uint16_t)(bs[4 * k] + bs[4 * k + 1]), hi = (uint16_t)(bs[4 * k + 2] + bs[4 * k + 3]);
                summ = _mm256_add_epi32(summ, _mm256_madd_epi16(mp[k], _mm256_set1_epi32((int)(lo | hi << 16))));
            }
            const __m256 da = _mm256_set1_ps(q[t][b].d);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(dw, da), acc[t]);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_setzero_si256(), summ)),
                                     _mm256_mul_ps(dm, da), acc[t]);
        }
    }
    RL_UNROLL for (int t = 0; t < NT; t++) _mm256_storeu_ps(y + (t0 + t) * y_stride, acc[t]);
}

// Q6_K: values rebuilt as in avx2; 4 dpbusd per group and token, times the group's scales (mullo);
// the - 32 taken back as - 32 * sum_g sc[g] * (activation sum of group g).
template <int NT>
static void tile_q6_K(const void* wv, const PackedAct& a, int t0, float* y, int64_t y_stride) {
    const BlockQ6_Kx8* wb = (const BlockQ6_Kx8*)wv;
    const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30);
    const BlockQ8K* q[NT];
    __m256 acc[NT];
    RL_UNROLL for (int t = 0; t < NT; t++) {
        q[t] = (const BlockQ8K*)((const uint8_t*)a.q + (size_t)(t0 + t) * a.q_stride);
        acc[t] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < a.nb; b++) {
        const BlockQ6_Kx8& w = wb[b];
        __m256i isum[NT];
        RL_UNROLL for (int t = 0; t < NT; t++) isum[t] = _mm256_setzero_si256();
        for (int g = 0; g < 16; g++) {
            const __m256i L1 = _mm256_loadu_si256((const __m256i*)(w.grp[g].ql));
            const __m256i L2 = _mm256_loadu_si256((const __m256i*)(w.grp[g].ql + 32));
            const __m256i H = _mm256_loadu_si256((const __m256i*)(w.grp[g].qh));
            const __m256i v0 = _mm256_or_si256(_mm256_and_si256(L1, m4), _mm256_and_si256(_mm256_slli_epi16(H, 4), m30));
            const __m256i v1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L1, 4), m4),
                                               _mm256_and_si256(_mm256_slli_epi16(H, 2), m30));
            const __m256i v2 = _mm256_or_si256(_mm256_and_si256(L2, m4), _mm256_and_si256(H, m30));
            const __m256i v3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L2, 4), m4),
                                               _mm256_and_si256(_mm256_srli_epi16(H, 2), m30));
            const __m256i sc = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)w.sc[g]));
            RL_UNROLL for (int t = 0; t < NT; t++) {
                const int8_t* aq = q[t][b].qs + 16 * g;
                __m256i d = _mm256_dpbusd_epi32(_mm256_setzero_si256(), v0, bcast4(aq));
                d = _mm256_dpbusd_epi32(d, v1, bcast4(aq + 4));
                d = _mm256_dpbusd_epi32(d, v2, bcast4(aq + 8));
                d = _mm256_dpbusd_epi32(d, v3, bcast4(aq + 12));
                isum[t] = _mm256_add_epi32(isum[t], _mm256_mullo_epi32(d, sc));
            }
        }
        // 32 * sum_g sc[g] * (activation sum of group g), scale pairs against activation sum pairs
        __m256i scp[8];
        for (int k = 0; k < 8; k++)
            scp[k] = _mm256_or_si256(
                _mm256_and_si256(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)w.sc[2 * k])), _mm256_set1_epi32(0xffff)),
                _mm256_slli_epi32(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)w.sc[2 * k + 1])), 16));
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)w.d));
        RL_UNROLL for (int t = 0; t < NT; t++) {
            __m256i bias = _mm256_setzero_si256();
            for (int k = 0; k < 8; k++) {
                int32_t pair;
                std::memcpy(&pair, q[t][b].bsums + 2 * k, 4);
                bias = _mm256_add_epi32(bias, _mm256_madd_epi16(scp[k], _mm256_set1_epi32(pair)));
            }
            const __m256i s = _mm256_sub_epi32(isum[t], _mm256_slli_epi32(bias, 5));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw, _mm256_set1_ps(q[t][b].d)), acc[t]);
        }
    }
    RL_UNROLL for (int t = 0; t < NT; t++) _mm256_storeu_ps(y + (t0 + t) * y_stride, acc[t]);
}

// F16 / F32 as in avx2, with 32 registers: up to 6 tokens x 4 accumulators.
template <int NT, bool F16>
static void float_tile(const void* w, const PackedAct& a, int t0, float* y, int64_t y_stride) {
    const float* x[NT];
    __m256 acc[NT][4];
    RL_UNROLL for (int t = 0; t < NT; t++) {
        x[t] = (const float*)((const uint8_t*)a.q + (size_t)(t0 + t) * a.q_stride);
        RL_UNROLL for (int k = 0; k < 4; k++) acc[t][k] = _mm256_setzero_ps();
    }
    const int64_t n = a.nb * 8;
    for (int64_t i = 0; i < n; i += 4) {  // n is a multiple of 8; k = element index mod 4
        RL_UNROLL for (int k = 0; k < 4; k++) {
            const __m256 wv = F16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)((const uint16_t*)w + (i + k) * 8)))
                                  : _mm256_loadu_ps((const float*)w + (i + k) * 8);
            RL_UNROLL for (int t = 0; t < NT; t++) acc[t][k] = _mm256_fmadd_ps(wv, _mm256_broadcast_ss(x[t] + i + k), acc[t][k]);
        }
    }
    RL_UNROLL for (int t = 0; t < NT; t++)
        _mm256_storeu_ps(y + (t0 + t) * y_stride,
                         _mm256_add_ps(_mm256_add_ps(acc[t][0], acc[t][1]), _mm256_add_ps(acc[t][2], acc[t][3])));
}

template <bool F16>
static void gemm_float(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    int t = 0;
    for (; t + 6 <= n_tok; t += 6) float_tile<6, F16>(w, a, t, y, y_stride);
    switch (n_tok - t) {
        case 5: float_tile<5, F16>(w, a, t, y, y_stride); break;
        case 4: float_tile<4, F16>(w, a, t, y, y_stride); break;
        case 3: float_tile<3, F16>(w, a, t, y, y_stride); break;
        case 2: float_tile<2, F16>(w, a, t, y, y_stride); break;
        case 1: float_tile<1, F16>(w, a, t, y, y_stride); break;
        default: break;
    }
}

void gemm_f16x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    gemm_float<true>(w, a, n_tok, y, y_stride);
}

void gemm_f32x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    gemm_float<false>(w, a, n_tok, y, y_stride);
}

template <int NT>
static void tile_q4_K(const void* w, const PackedAct& a, int t0, float* y, int64_t s) {
    tile_k45<NT, BlockQ4_Kx8, false>(w, a, t0, y, s);
}
template <int NT>
static void tile_q5_K(const void* w, const PackedAct& a, int t0, float* y, int64_t s) {
    tile_k45<NT, BlockQ5_Kx8, true>(w, a, t0, y, s);
}

template <int NT>
static void tile_q4_0(const void* w, const PackedAct& a, int t0, float* y, int64_t s) { tile<NT, true>(w, a, t0, y, s); }
template <int NT>
static void tile_q8_0(const void* w, const PackedAct& a, int t0, float* y, int64_t s) { tile<NT, false>(w, a, t0, y, s); }

// Tiles of 8 tokens, then 4, then the rest one size at a time.
#define RL_TILES(name, fn)                                                                          \
    static void name(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {   \
        int t = 0;                                                                                  \
        for (; t + 8 <= n_tok; t += 8) fn<8>(w, a, t, y, y_stride);                                 \
        if (t + 4 <= n_tok) {                                                                       \
            fn<4>(w, a, t, y, y_stride);                                                            \
            t += 4;                                                                                 \
        }                                                                                           \
        switch (n_tok - t) {                                                                        \
            case 3: fn<3>(w, a, t, y, y_stride); break;                                             \
            case 2: fn<2>(w, a, t, y, y_stride); break;                                             \
            case 1: fn<1>(w, a, t, y, y_stride); break;                                             \
            default: break;                                                                         \
        }                                                                                           \
    }
RL_TILES(tiles_q4_0, tile_q4_0)
RL_TILES(tiles_q8_0, tile_q8_0)
RL_TILES(tiles_q4_K, tile_q4_K)
RL_TILES(tiles_q5_K, tile_q5_K)
RL_TILES(tiles_q6_K, tile_q6_K)
#undef RL_TILES

void gemm_q4_0x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    tiles_q4_0(w, a, n_tok, y, y_stride);
}

void gemm_q8_0x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    tiles_q8_0(w, a, n_tok, y, y_stride);
}

void gemm_q4_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    tiles_q4_K(w, a, n_tok, y, y_stride);
}

void gemm_q5_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    tiles_q5_K(w, a, n_tok, y, y_stride);
}

void gemm_q6_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    tiles_q6_K(w, a, n_tok, y, y_stride);
}

}  // namespace avx512
}  // namespace rl

#else  // built without AVX-512 VNNI: the table never selects these

namespace rl {
namespace avx512 {
void gemm_q4_0x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_q4_0x8(w, a, n_tok, y, s); }
void gemm_q8_0x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_q8_0x8(w, a, n_tok, y, s); }
void gemm_q4_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_q4_Kx8(w, a, n_tok, y, s); }
void gemm_q5_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_q5_Kx8(w, a, n_tok, y, s); }
void gemm_q6_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_q6_Kx8(w, a, n_tok, y, s); }
void gemm_f16x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_f16x8(w, a, n_tok, y, s); }
void gemm_f32x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_f32x8(w, a, n_tok, y, s); }
}  // namespace avx512
}  // namespace rl

#endif
