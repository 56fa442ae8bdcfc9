// AVX2 packed 8-row kernels (packed.h): one register holds 4 consecutive bytes of each of the 8 rows,
// the activation's matching 4 bytes are broadcast, and maddubs gives each row its partial dot.
// Bit-identical to generic:: (exact integer block sums; one fmadd per block in block order).
#include "../packed.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include "../packed_x86.h"

namespace rl {
namespace avx2 {

// NT tokens (t0..t0+NT-1) against one group. Q4_0 nibbles are unsigned (0..15) so maddubs takes them
// as is and the "- 8" becomes - 8 * (block sum of the activations); 8 maddubs pair sums of at most
// 2 * 15 * 127 fit an int16 lane (30480), so one madd per block finishes the integer sum.
// Q8_0 weights are signed: maddubs gets |w| and the activation with w's sign (exact for w = -128
// too); a pair sum can reach 32512, so every chunk is widened to int32 at once.
template <int NT, bool Q4>
static void q_0_tile(const void* w, const PackedAct& a, int t0, float* y, int64_t y_stride) {
    const __m256i m4 = _mm256_set1_epi8(15), ones16 = _mm256_set1_epi16(1);
    const int64_t nb = a.nb;
    const BlockQ8_0* q[NT];
    act_rows(a, t0, q);
    __m256 acc[NT];
    RL_UNROLL for (int t = 0; t < NT; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i s[NT];
        RL_UNROLL for (int t = 0; t < NT; t++) s[t] = _mm256_setzero_si256();
        const uint16_t* d;
        if constexpr (Q4) {
            const BlockQ4_0x8& blk = ((const BlockQ4_0x8*)w)[b];
            prefetch_block<BlockQ4_0x8, 16>(&blk);
            d = blk.d;
            RL_UNROLL for (int c = 0; c < 4; c++) {
                const __m256i raw = _mm256_loadu_si256((const __m256i*)(blk.qs + 32 * c));
                const __m256i lo = _mm256_and_si256(raw, m4), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
                RL_UNROLL for (int t = 0; t < NT; t++) {
                    s[t] = _mm256_add_epi16(s[t], _mm256_maddubs_epi16(lo, bcast4(q[t][b].qs + 4 * c)));
                    s[t] = _mm256_add_epi16(s[t], _mm256_maddubs_epi16(hi, bcast4(q[t][b].qs + 16 + 4 * c)));
                }
            }
            RL_UNROLL for (int t = 0; t < NT; t++)
                s[t] = _mm256_sub_epi32(_mm256_madd_epi16(s[t], ones16), _mm256_set1_epi32(8 * a.s[(int64_t)(t0 + t) * nb + b]));
        } else {
            const BlockQ8_0x8& blk = ((const BlockQ8_0x8*)w)[b];
            prefetch_block<BlockQ8_0x8, 8>(&blk);
            d = blk.d;
            RL_UNROLL for (int c = 0; c < 8; c++) {
                const __m256i wq = _mm256_loadu_si256((const __m256i*)(blk.qs + 32 * c));
                const __m256i wabs = _mm256_sign_epi8(wq, wq);
                RL_UNROLL for (int t = 0; t < NT; t++) {
                    const __m256i p = _mm256_maddubs_epi16(wabs, _mm256_sign_epi8(bcast4(q[t][b].qs + 4 * c), wq));
                    s[t] = _mm256_add_epi32(s[t], _mm256_madd_epi16(p, ones16));
                }
            }
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)d));
        RL_UNROLL for (int t = 0; t < NT; t++) {
            const float da = a.d[(int64_t)(t0 + t) * nb + b];
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[t]), _mm256_mul_ps(dw, _mm256_set1_ps(da)), acc[t]);
        }
    }
    RL_UNROLL for (int t = 0; t < NT; t++) _mm256_storeu_ps(y + (t0 + t) * y_stride, acc[t]);
}

// Q4_K: per sub-block, 8 maddubs of unsigned nibbles (int16 lanes hold 8 pair sums, as in Q4_0), then
// one madd against the rows' scales doubled into int16 pairs gives scale * dot in int32.
// Q5_K adds each element's fifth bit; values up to 31 make the int16 lanes full after 4 chunks, so
// each sub-block is finished in two halves.
template <int NT, typename B, bool Q5>
static void k45_tile(const void* w, const PackedAct& a, int t0, float* y, int64_t y_stride) {
    constexpr int kHalf = Q5 ? 4 : 8;  // chunks per int16 accumulation
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
            __m256i sc = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)wb.sc[sb]));
            sc = _mm256_or_si256(sc, _mm256_slli_epi32(sc, 16));
            const __m128i shift = _mm_cvtsi32_si128(sb);
            RL_UNROLL for (int c0 = 0; c0 < 8; c0 += kHalf) {
                __m256i s16[NT];
                RL_UNROLL for (int t = 0; t < NT; t++) s16[t] = _mm256_setzero_si256();
                RL_UNROLL for (int c = c0; c < c0 + kHalf; c++) {
                    const __m256i v = k45_values<B, Q5>(wb, sb, c, shift);
                    RL_UNROLL for (int t = 0; t < NT; t++)
                        s16[t] = _mm256_add_epi16(s16[t], _mm256_maddubs_epi16(v, bcast4(q[t][b].qs + 32 * sb + 4 * c)));
                }
                RL_UNROLL for (int t = 0; t < NT; t++) isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(s16[t], sc));
            }
        }
        k45_finish(wb, q, b, isum, acc);
    }
    RL_UNROLL for (int t = 0; t < NT; t++) _mm256_storeu_ps(y + (t0 + t) * y_stride, acc[t]);
}

// Q6_K: maddubs pairs (at most 2 * 63 * 127) are added two at a time in int16, then madd with the
// group's scale doubled into int16 pairs.
template <int NT>
static void q6_K_tile(const void* w, const PackedAct& a, int t0, float* y, int64_t y_stride) {
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
            __m256i sc = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)wb.sc[g]));
            sc = _mm256_or_si256(_mm256_and_si256(sc, _mm256_set1_epi32(0xffff)), _mm256_slli_epi32(sc, 16));
            RL_UNROLL for (int t = 0; t < NT; t++) {
                const int8_t* aq = q[t][b].qs + 16 * g;
                const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(v[0], bcast4(aq)), _mm256_maddubs_epi16(v[1], bcast4(aq + 4)));
                const __m256i p2 =
                    _mm256_add_epi16(_mm256_maddubs_epi16(v[2], bcast4(aq + 8)), _mm256_maddubs_epi16(v[3], bcast4(aq + 12)));
                isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(_mm256_madd_epi16(p, sc), _mm256_madd_epi16(p2, sc)));
            }
        }
        q6k_finish(wb, q, b, isum, acc);
    }
    RL_UNROLL for (int t = 0; t < NT; t++) _mm256_storeu_ps(y + (t0 + t) * y_stride, acc[t]);
}

// 16 registers: 4 tokens per tile (3 for the float types: 4 accumulators each)
RL_PACKED_X86_GEMMS(4, 3)

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
