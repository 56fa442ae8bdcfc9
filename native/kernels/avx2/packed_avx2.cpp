// AVX2 packed 8-row kernels (packed.h): one register holds 4 consecutive bytes of each of the 8 rows,
// the activation's matching 4 bytes are broadcast, and maddubs gives each row its partial dot.
// Bit-identical to generic:: (exact integer block sums; one fmadd per block in block order).
#include "../packed.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

#include <cstring>

namespace rl {
namespace avx2 {

static inline __m256i bcast4(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

// NT tokens (t0..t0+NT-1) against one group. Q4_0 nibbles are unsigned (0..15) so maddubs takes them
// as is and the "- 8" becomes - 8 * (block sum of the activations); 8 maddubs pair sums of at most
// 2 * 15 * 127 fit an int16 lane (30480), so one madd per block finishes the integer sum.
template <int NT>
static void q4_0_tile(const BlockQ4_0x8* wb, const PackedAct& a, int t0, float* y, int64_t y_stride) {
    const __m256i m4 = _mm256_set1_epi8(15), ones16 = _mm256_set1_epi16(1);
    const int64_t nb = a.nb;
    const BlockQ8_0* q[NT];
    __m256 acc[NT];
    RL_UNROLL for (int t = 0; t < NT; t++) {
        q[t] = (const BlockQ8_0*)((const uint8_t*)a.q + (size_t)(t0 + t) * a.q_stride);
        acc[t] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        __m256i s16[NT];
        RL_UNROLL for (int t = 0; t < NT; t++) s16[t] = _mm256_setzero_si256();
        RL_UNROLL for (int c = 0; c < 4; c++) {
            const __m256i raw = _mm256_loadu_si256((const __m256i*)(wb[b].qs + 32 * c));
            const __m256i lo = _mm256_and_si256(raw, m4), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
            RL_UNROLL for (int t = 0; t < NT; t++) {
                s16[t] = _mm256_add_epi16(s16[t], _mm256_maddubs_epi16(lo, bcast4(q[t][b].qs + 4 * c)));
                s16[t] = _mm256_add_epi16(s16[t], _mm256_maddubs_epi16(hi, bcast4(q[t][b].qs + 16 + 4 * c)));
            }
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)wb[b].d));
        RL_UNROLL for (int t = 0; t < NT; t++) {
            const int64_t k = (int64_t)(t0 + t) * nb + b;
            const __m256i s = _mm256_sub_epi32(_mm256_madd_epi16(s16[t], ones16), _mm256_set1_epi32(8 * a.s[k]));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw, _mm256_set1_ps(a.d[k])), acc[t]);
        }
    }
    RL_UNROLL for (int t = 0; t < NT; t++) _mm256_storeu_ps(y + (t0 + t) * y_stride, acc[t]);
}

// Q8_0 weights are signed: maddubs gets |w| and the activation with w's sign (exact for w = -128
// too); a pair sum can reach 32512, so every chunk is widened to int32 at once.
template <int NT>
static void q8_0_tile(const BlockQ8_0x8* wb, const PackedAct& a, int t0, float* y, int64_t y_stride) {
    const __m256i ones16 = _mm256_set1_epi16(1);
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
        RL_UNROLL for (int c = 0; c < 8; c++) {
            const __m256i w = _mm256_loadu_si256((const __m256i*)(wb[b].qs + 32 * c));
            const __m256i wabs = _mm256_sign_epi8(w, w);
            RL_UNROLL for (int t = 0; t < NT; t++) {
                const __m256i p = _mm256_maddubs_epi16(wabs, _mm256_sign_epi8(bcast4(q[t][b].qs + 4 * c), w));
                s32[t] = _mm256_add_epi32(s32[t], _mm256_madd_epi16(p, ones16));
            }
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)wb[b].d));
        RL_UNROLL for (int t = 0; t < NT; t++) {
            const float da = a.d[(int64_t)(t0 + t) * nb + b];
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32[t]), _mm256_mul_ps(dw, _mm256_set1_ps(da)), acc[t]);
        }
    }
    RL_UNROLL for (int t = 0; t < NT; t++) _mm256_storeu_ps(y + (t0 + t) * y_stride, acc[t]);
}

// Q4_K: per sub-block, 8 maddubs of unsigned nibbles (int16 lanes hold 8 pair sums, as in Q4_0), then
// one madd against the rows' scales doubled into int16 pairs gives scale * dot in int32. The mins
// term pairs sub-blocks: madd of (m[2k], m[2k+1]) with the activation's (sum[2k], sum[2k+1]).
// Q5_K adds each element's fifth bit (bit sb of its qh byte, moved to bit 4); values up to 31 make
// the int16 lanes full after 4 chunks, so each sub-block is finished in two halves.
template <int NT, typename B, bool Q5>
static void k45_tile(const B* wb, const PackedAct& a, int t0, float* y, int64_t y_stride) {
    const __m256i m4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
    constexpr int kHalf = Q5 ? 4 : 8;  // chunks per int16 accumulation
    const BlockQ8K* q[NT];
    __m256 acc[NT];
    RL_UNROLL for (int t = 0; t < NT; t++) {
        q[t] = (const BlockQ8K*)((const uint8_t*)a.q + (size_t)(t0 + t) * a.q_stride);
        acc[t] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < a.nb; b++) {
        const B& w = wb[b];
        __m256i isum[NT];
        RL_UNROLL for (int t = 0; t < NT; t++) isum[t] = _mm256_setzero_si256();
        for (int sb = 0; sb < 8; sb++) {
            const uint8_t* chunk = w.qs + 256 * (sb >> 1);
            __m256i sc = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)w.sc[sb]));
            sc = _mm256_or_si256(sc, _mm256_slli_epi32(sc, 16));
            const __m128i shift = _mm_cvtsi32_si128(sb);
            RL_UNROLL for (int c0 = 0; c0 < 8; c0 += kHalf) {
                __m256i s16[NT];
                RL_UNROLL for (int t = 0; t < NT; t++) s16[t] = _mm256_setzero_si256();
                RL_UNROLL for (int c = c0; c < c0 + kHalf; c++) {
                    const __m256i raw = _mm256_loadu_si256((const __m256i*)(chunk + 32 * c));
                    __m256i v = (sb & 1) ? _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4) : _mm256_and_si256(raw, m4);
                    if constexpr (Q5) {
                        const __m256i hb = _mm256_loadu_si256((const __m256i*)(w.qh + 32 * c));
                        v = _mm256_or_si256(v, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(hb, shift), one), 4));
                    }
                    RL_UNROLL for (int t = 0; t < NT; t++)
                        s16[t] = _mm256_add_epi16(s16[t], _mm256_maddubs_epi16(v, bcast4(q[t][b].qs + 32 * sb + 4 * c)));
                }
                RL_UNROLL for (int t = 0; t < NT; t++) isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(s16[t], sc));
            }
        }
        __m256i mp[4];
        RL_UNROLL for (int k = 0; k < 4; k++)
            mp[k] = _mm256_or_si256(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)w.m[2 * k])),
                                    _mm256_slli_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)w.m[2 * k + 1])), 16));
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)w.d));
        const __m256 dm = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)w.dmin));
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

// Q6_K: the 6-bit values are rebuilt from a low-nibble and a top-bits register (shared by the tokens),
// maddubs pairs (at most 2 * 63 * 127) are added two at a time in int16, then madd with the group's
// scale doubled into int16 pairs. The - 32 becomes - 32 * sum_g sc[g] * (activation sum of group g).
template <int NT>
static void q6_K_tile(const BlockQ6_Kx8* wb, const PackedAct& a, int t0, float* y, int64_t y_stride) {
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
            __m256i sc = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)w.sc[g]));
            sc = _mm256_or_si256(_mm256_and_si256(sc, _mm256_set1_epi32(0xffff)), _mm256_slli_epi32(sc, 16));
            RL_UNROLL for (int t = 0; t < NT; t++) {
                const int8_t* aq = q[t][b].qs + 16 * g;
                const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(v0, bcast4(aq)), _mm256_maddubs_epi16(v1, bcast4(aq + 4)));
                const __m256i p2 =
                    _mm256_add_epi16(_mm256_maddubs_epi16(v2, bcast4(aq + 8)), _mm256_maddubs_epi16(v3, bcast4(aq + 12)));
                isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(_mm256_madd_epi16(p, sc), _mm256_madd_epi16(p2, sc)));
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

// F16 / F32: one register per element holds the 8 rows' weights; each token keeps 4 accumulators
// (element index mod 4) so the fused multiply-adds of one token do not wait on each other.
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
    for (; t + 3 <= n_tok; t += 3) float_tile<3, F16>(w, a, t, y, y_stride);
    if (n_tok - t == 2) float_tile<2, F16>(w, a, t, y, y_stride);
    if (n_tok - t == 1) float_tile<1, F16>(w, a, t, y, y_stride);
}

void gemm_f16x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    gemm_float<true>(w, a, n_tok, y, y_stride);
}

void gemm_f32x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    gemm_float<false>(w, a, n_tok, y, y_stride);
}

template <typename Block, template <int> class Tile>
static void gemm_tiles(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    const Block* wb = (const Block*)w;
    int t = 0;
    for (; t + 4 <= n_tok; t += 4) Tile<4>::run(wb, a, t, y, y_stride);
    switch (n_tok - t) {
        case 3: Tile<3>::run(wb, a, t, y, y_stride); break;
        case 2: Tile<2>::run(wb, a, t, y, y_stride); break;
        case 1: Tile<1>::run(wb, a, t, y, y_stride); break;
        default: break;
    }
}

template <int NT>
struct Q4Tile {
    static void run(const BlockQ4_0x8* w, const PackedAct& a, int t0, float* y, int64_t s) { q4_0_tile<NT>(w, a, t0, y, s); }
};
template <int NT>
struct Q8Tile {
    static void run(const BlockQ8_0x8* w, const PackedAct& a, int t0, float* y, int64_t s) { q8_0_tile<NT>(w, a, t0, y, s); }
};

template <int NT>
struct Q4KTile {
    static void run(const BlockQ4_Kx8* w, const PackedAct& a, int t0, float* y, int64_t s) {
        k45_tile<NT, BlockQ4_Kx8, false>(w, a, t0, y, s);
    }
};
template <int NT>
struct Q5KTile {
    static void run(const BlockQ5_Kx8* w, const PackedAct& a, int t0, float* y, int64_t s) {
        k45_tile<NT, BlockQ5_Kx8, true>(w, a, t0, y, s);
    }
};

void gemm_q4_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    gemm_tiles<BlockQ4_Kx8, Q4KTile>(w, a, n_tok, y, y_stride);
}

void gemm_q5_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    gemm_tiles<BlockQ5_Kx8, Q5KTile>(w, a, n_tok, y, y_stride);
}

template <int NT>
struct Q6KTile {
    static void run(const BlockQ6_Kx8* w, const PackedAct& a, int t0, float* y, int64_t s) { q6_K_tile<NT>(w, a, t0, y, s); }
};

void gemm_q6_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    gemm_tiles<BlockQ6_Kx8, Q6KTile>(w, a, n_tok, y, y_stride);
}

void gemm_q4_0x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    gemm_tiles<BlockQ4_0x8, Q4Tile>(w, a, n_tok, y, y_stride);
}

void gemm_q8_0x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    gemm_tiles<BlockQ8_0x8, Q8Tile>(w, a, n_tok, y, y_stride);
}

}  // namespace avx2
}  // namespace rl

#else  // built without AVX2: the table never selects these

namespace rl {
namespace avx2 {
void gemm_q4_0x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_q4_0x8(w, a, n_tok, y, s); }
void gemm_q8_0x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_q8_0x8(w, a, n_tok, y, s); }
void gemm_q4_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_q4_Kx8(w, a, n_tok, y, s); }
void gemm_q5_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_q5_Kx8(w, a, n_tok, y, s); }
void gemm_q6_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_q6_Kx8(w, a, n_tok, y, s); }
void gemm_f16x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_f16x8(w, a, n_tok, y, s); }
void gemm_f32x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_f32x8(w, a, n_tok, y, s); }
}  // namespace avx2
}  // namespace rl

#endif
