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
    for (int t = 0; t < NT; t++) {
        q[t] = (const BlockQ8_0*)((const uint8_t*)a.q + (size_t)(t0 + t) * a.q_stride);
        acc[t] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        __m256i s16[NT];
        for (int t = 0; t < NT; t++) s16[t] = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i raw = _mm256_loadu_si256((const __m256i*)(wb[b].qs + 32 * c));
            const __m256i lo = _mm256_and_si256(raw, m4), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
            for (int t = 0; t < NT; t++) {
                s16[t] = _mm256_add_epi16(s16[t], _mm256_maddubs_epi16(lo, bcast4(q[t][b].qs + 4 * c)));
                s16[t] = _mm256_add_epi16(s16[t], _mm256_maddubs_epi16(hi, bcast4(q[t][b].qs + 16 + 4 * c)));
            }
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)wb[b].d));
        for (int t = 0; t < NT; t++) {
            const int64_t k = (int64_t)(t0 + t) * nb + b;
            const __m256i s = _mm256_sub_epi32(_mm256_madd_epi16(s16[t], ones16), _mm256_set1_epi32(8 * a.s[k]));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw, _mm256_set1_ps(a.d[k])), acc[t]);
        }
    }
    for (int t = 0; t < NT; t++) _mm256_storeu_ps(y + (t0 + t) * y_stride, acc[t]);
}

// Q8_0 weights are signed: maddubs gets |w| and the activation with w's sign (exact for w = -128
// too); a pair sum can reach 32512, so every chunk is widened to int32 at once.
template <int NT>
static void q8_0_tile(const BlockQ8_0x8* wb, const PackedAct& a, int t0, float* y, int64_t y_stride) {
    const __m256i ones16 = _mm256_set1_epi16(1);
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
        for (int c = 0; c < 8; c++) {
            const __m256i w = _mm256_loadu_si256((const __m256i*)(wb[b].qs + 32 * c));
            const __m256i wabs = _mm256_sign_epi8(w, w);
            for (int t = 0; t < NT; t++) {
                const __m256i p = _mm256_maddubs_epi16(wabs, _mm256_sign_epi8(bcast4(q[t][b].qs + 4 * c), w));
                s32[t] = _mm256_add_epi32(s32[t], _mm256_madd_epi16(p, ones16));
            }
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)wb[b].d));
        for (int t = 0; t < NT; t++) {
            const float da = a.d[(int64_t)(t0 + t) * nb + b];
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32[t]), _mm256_mul_ps(dw, _mm256_set1_ps(da)), acc[t]);
        }
    }
    for (int t = 0; t < NT; t++) _mm256_storeu_ps(y + (t0 + t) * y_stride, acc[t]);
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
}  // namespace avx2
}  // namespace rl

#endif
