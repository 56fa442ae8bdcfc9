// AVX-512 VNNI packed 8-row kernels (packed.h), on 256-bit registers: dpbusd multiplies unsigned
// weight bytes by signed activation bytes and adds groups of 4 straight into int32 lanes.
// Q4_0 nibbles are unsigned already; Q8_0 weights are made unsigned by + 128 (xor 0x80) and the
// 128 * (activation block sum) taken back. Bit-identical to generic:: like every tier.
// Only selected when the CPU reports AVX512_VNNI (see weight_types.cpp). The tier's flags do not
// include VNNI (the rest of the AVX-512 tier runs on CPUs without it): only the functions below
// that use dpbusd are compiled for it, through a target attribute.
#include "../packed.h"

#include <cstring>

#if defined(__AVX512F__) && defined(__AVX512VL__) && (defined(__GNUC__) || defined(__clang__))
#include "../packed_x86.h"

#define RL_VNNI __attribute__((target("avx512vnni")))

namespace rl {
namespace avx512 {

template <int NT, bool Q4>
RL_VNNI static void q_0_tile(const void* w, const PackedAct& a, int t0, float* y, int64_t y_stride) {
    const __m256i m4 = _mm256_set1_epi8(15), flip = _mm256_set1_epi8((char)0x80);
    const int64_t nb = a.nb;
    const BlockQ8_0* q[NT];
    act_rows(a, t0, q);
    __m256 acc[NT];
    RL_UNROLL for (int t = 0; t < NT; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i s32[NT];
        RL_UNROLL for (int t = 0; t < NT; t++) s32[t] = _mm256_setzero_si256();
        const uint16_t* d;
        if constexpr (Q4) {
            const BlockQ4_0x8& blk = ((const BlockQ4_0x8*)w)[b];
            prefetch_block<BlockQ4_0x8, 16>(&blk);
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
            prefetch_block<BlockQ8_0x8, 8>(&blk);
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

// Q4_K / Q5_K: dpbusd per sub-block, times the rows' scales (mullo), summed over the super-block.
template <int NT, typename B, bool Q5>
RL_VNNI static void k45_tile(const void* w, const PackedAct& a, int t0, float* y, int64_t y_stride) {
    const BlockQ8K* q[NT];
    act_rows(a, t0, q);
    __m256 acc[NT];
    RL_UNROLL for (int t = 0; t < NT; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < a.nb; b++) {
        const B& wb = ((const B*)w)[b];
        prefetch_block<B, 2>(&wb);
        __m256i isum[NT];
        RL_UNROLL for (int t = 0; t < NT; t++) isum[t] = _mm256_setzero_si256();
        for (int sb = 0; sb < 8; sb++) {
            const __m128i shift = _mm_cvtsi32_si128(sb);
            __m256i isub[NT];
            RL_UNROLL for (int t = 0; t < NT; t++) isub[t] = _mm256_setzero_si256();
            RL_UNROLL for (int c = 0; c < 8; c++) {
                const __m256i v = k45_values<B, Q5>(wb, sb, c, shift);
                RL_UNROLL for (int t = 0; t < NT; t++) isub[t] = _mm256_dpbusd_epi32(isub[t], v, bcast4(q[t][b].qs + 32 * sb + 4 * c));
            }
            const __m256i sc = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)wb.sc[sb]));
            RL_UNROLL for (int t = 0; t < NT; t++) isum[t] = _mm256_add_epi32(isum[t], _mm256_mullo_epi32(isub[t], sc));
        }
        k45_finish(wb, q, b, isum, acc);
    }
    RL_UNROLL for (int t = 0; t < NT; t++) _mm256_storeu_ps(y + (t0 + t) * y_stride, acc[t]);
}

// Q6_K: 4 dpbusd per group and token, times the group's scales (mullo).
template <int NT>
RL_VNNI static void q6_K_tile(const void* w, const PackedAct& a, int t0, float* y, int64_t y_stride) {
    const BlockQ8K* q[NT];
    act_rows(a, t0, q);
    __m256 acc[NT];
    RL_UNROLL for (int t = 0; t < NT; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < a.nb; b++) {
        const BlockQ6_Kx8& wb = ((const BlockQ6_Kx8*)w)[b];
        prefetch_block<BlockQ6_Kx8, 2>(&wb);
        __m256i isum[NT];
        RL_UNROLL for (int t = 0; t < NT; t++) isum[t] = _mm256_setzero_si256();
        for (int g = 0; g < 16; g++) {
            __m256i v[4];
            q6k_values(wb, g, v);
            const __m256i sc = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)wb.sc[g]));
            RL_UNROLL for (int t = 0; t < NT; t++) {
                const int8_t* aq = q[t][b].qs + 16 * g;
                __m256i d = _mm256_dpbusd_epi32(_mm256_setzero_si256(), v[0], bcast4(aq));
                d = _mm256_dpbusd_epi32(d, v[1], bcast4(aq + 4));
                d = _mm256_dpbusd_epi32(d, v[2], bcast4(aq + 8));
                d = _mm256_dpbusd_epi32(d, v[3], bcast4(aq + 12));
                isum[t] = _mm256_add_epi32(isum[t], _mm256_mullo_epi32(d, sc));
            }
        }
        q6k_finish(wb, q, b, isum, acc);
    }
    RL_UNROLL for (int t = 0; t < NT; t++) _mm256_storeu_ps(y + (t0 + t) * y_stride, acc[t]);
}

// Q8_0 on 512-bit registers: two consecutive groups (16 rows; group g in the low half, g+1 in the
// high half) per register, so each activation broadcast and each float step serves 16 rows: gemm
// 173 -> 251 GFLOP/s on one Zen 4 core. Per row the same integer sums and fused multiply-adds as
// q_0_tile. (Q4_0 gains nothing this way: its 8-row tiles already run at the same dpbusd rate.)
template <int NT>
RL_VNNI static void q8_0_tile16(const void* w, const PackedAct& a, int t0, float* y, int64_t y_stride) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const int64_t nb = a.nb;
    const BlockQ8_0x8* wa = (const BlockQ8_0x8*)w;
    const BlockQ8_0x8* wb = wa + nb;
    const BlockQ8_0* q[NT];
    act_rows(a, t0, q);
    __m512 acc[NT];
    RL_UNROLL for (int t = 0; t < NT; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const BlockQ8_0x8& A = wa[b];
        const BlockQ8_0x8& B = wb[b];
        prefetch_block<BlockQ8_0x8, 8>(&A);
        prefetch_block<BlockQ8_0x8, 8>(&B);
        __m512i s32[NT];
        RL_UNROLL for (int t = 0; t < NT; t++) s32[t] = _mm512_setzero_si512();
        RL_UNROLL for (int c = 0; c < 8; c++) {
            const __m512i wu = _mm512_xor_si512(
                _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i*)(A.qs + 32 * c))),
                                   _mm256_loadu_si256((const __m256i*)(B.qs + 32 * c)), 1),
                flip);
            RL_UNROLL for (int t = 0; t < NT; t++) {
                int32_t v;
                std::memcpy(&v, q[t][b].qs + 4 * c, 4);
                s32[t] = _mm512_dpbusd_epi32(s32[t], wu, _mm512_set1_epi32(v));
            }
        }
        const __m512 dw = _mm512_cvtph_ps(_mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128((const __m128i*)A.d)), _mm_loadu_si128((const __m128i*)B.d), 1));
        RL_UNROLL for (int t = 0; t < NT; t++) {
            const int64_t k = (int64_t)(t0 + t) * nb + b;
            const __m512i s = _mm512_sub_epi32(s32[t], _mm512_set1_epi32(128 * a.s[k]));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_set1_ps(a.d[k])), acc[t]);
        }
    }
    RL_UNROLL for (int t = 0; t < NT; t++) _mm512_storeu_ps(y + (t0 + t) * y_stride, acc[t]);
}
RL_TILE(Q8_0_16, q8_0_tile16<NT>)

// 32 registers: 8 tokens per tile (6 for the float types: 4 accumulators each)
RL_PACKED_X86_GEMMS(8, 6)
void gemm_q8_0x16(const void* w, const PackedAct& a, int n, float* y, int64_t s) { tiles<8, Q8_0_16>(w, a, n, y, s); }

}  // namespace avx512
}  // namespace rl

#undef RL_VNNI

#else  // built without AVX-512: the table never selects these

namespace rl {
namespace avx512 {
void gemm_q4_0x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_q4_0x8(w, a, n_tok, y, s); }
void gemm_q8_0x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_q8_0x8(w, a, n_tok, y, s); }
void gemm_q4_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_q4_Kx8(w, a, n_tok, y, s); }
void gemm_q5_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_q5_Kx8(w, a, n_tok, y, s); }
void gemm_q6_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_q6_Kx8(w, a, n_tok, y, s); }
void gemm_f16x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_f16x8(w, a, n_tok, y, s); }
void gemm_f32x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_f32x8(w, a, n_tok, y, s); }
void gemm_q8_0x16(const void*, const PackedAct&, int, float*, int64_t) {}
}  // namespace avx512
}  // namespace rl

#endif
