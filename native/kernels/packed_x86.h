// Pieces shared by the AVX2 and AVX-512 packed kernels (packed_avx2.cpp, packed_avx512.cpp): only
// the integer dot of a chunk differs between them (maddubs vs dpbusd). Everything here has internal
// linkage, so each tier's translation unit compiles its own copy with its own flags (nothing
// compiled for AVX-512 can be picked by the linker for an AVX2 caller).
#pragma once

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

#include <cstring>

#include "packed.h"

namespace rl {
namespace {

// The 4 activation bytes at p in every 32-bit lane.
// Fetches the block `ahead` blocks past blk into L1: a gemm on a few tokens (batched decode) reads
// each weight block once, as fast as the tiles consume it, so the loads must be in flight early
// (the hardware prefetcher alone left the 8-token tiles a third slower than long-prompt tiles).
template <typename Block, int Ahead>
inline void prefetch_block(const Block* blk) {
    const char* p = (const char*)(blk + Ahead);
    for (size_t off = 0; off < sizeof(Block); off += 64) _mm_prefetch(p + off, _MM_HINT_T0);
}

inline __m256i bcast4(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

template <typename Act, int NT>
inline void act_rows(const PackedAct& a, int t0, const Act* (&q)[NT]) {
    RL_UNROLL for (int t = 0; t < NT; t++) q[t] = (const Act*)((const uint8_t*)a.q + (size_t)(t0 + t) * a.q_stride);
}

// Unsigned 8-bit lanes a (0..15) and b (0..15) of 8 rows x 4 elements as int16 pairs (a, b) per row.
inline __m256i u8_pairs(const uint8_t* lo, const uint8_t* hi) {
    return _mm256_or_si256(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)lo)),
                           _mm256_slli_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)hi)), 16));
}

// Q4_K / Q5_K chunk c of sub-block sb: the 4-bit values (plus, for Q5_K, bit sb of the qh chunk as
// bit 4), 8 rows x 4 elements, unsigned bytes.
template <typename B, bool Q5>
inline __m256i k45_values(const B& w, int sb, int c, __m128i shift) {
    const __m256i m4 = _mm256_set1_epi8(15);
    const __m256i raw = _mm256_loadu_si256((const __m256i*)(w.qs + 256 * (sb >> 1) + 32 * c));
    __m256i v = (sb & 1) ? _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4) : _mm256_and_si256(raw, m4);
    if constexpr (Q5) {
        const __m256i hb = _mm256_loadu_si256((const __m256i*)(w.qh + 32 * c));
        v = _mm256_or_si256(v, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(hb, shift), _mm256_set1_epi8(1)), 4));
    }
    return v;
}

// Q4_K / Q5_K end of a super-block: the mins term (madd of min pairs with the activation's pairs of
// 32-sums) and the two fused multiply-adds of the reference.
template <typename B, int NT>
inline void k45_finish(const B& w, const BlockQ8K* const (&q)[NT], int64_t b, const __m256i (&isum)[NT], __m256 (&acc)[NT]) {
    __m256i mp[4];
    RL_UNROLL for (int k = 0; k < 4; k++) mp[k] = u8_pairs(w.m[2 * k], w.m[2 * k + 1]);
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
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_setzero_si256(), summ)), _mm256_mul_ps(dm, da),
                                 acc[t]);
    }
}

// Q6_K group g: the 6-bit values of its 4 runs (8 rows x 4 elements each) from the low-nibble and
// top-bits registers.
inline void q6k_values(const BlockQ6_Kx8& w, int g, __m256i (&v)[4]) {
    const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30);
    const __m256i L1 = _mm256_loadu_si256((const __m256i*)(w.grp[g].ql));
    const __m256i L2 = _mm256_loadu_si256((const __m256i*)(w.grp[g].ql + 32));
    const __m256i H = _mm256_loadu_si256((const __m256i*)(w.grp[g].qh));
    v[0] = _mm256_or_si256(_mm256_and_si256(L1, m4), _mm256_and_si256(_mm256_slli_epi16(H, 4), m30));
    v[1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L1, 4), m4), _mm256_and_si256(_mm256_slli_epi16(H, 2), m30));
    v[2] = _mm256_or_si256(_mm256_and_si256(L2, m4), _mm256_and_si256(H, m30));
    v[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L2, 4), m4), _mm256_and_si256(_mm256_srli_epi16(H, 2), m30));
}

// Q6_K end of a super-block: - 32 * sum_g sc[g] * (activation sum of group g), from scale pairs
// against activation sum pairs, then the reference's fused multiply-add.
template <int NT>
inline void q6k_finish(const BlockQ6_Kx8& w, const BlockQ8K* const (&q)[NT], int64_t b, const __m256i (&isum)[NT],
                       __m256 (&acc)[NT]) {
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

// F16 / F32: one register per element holds the 8 rows' weights; each token keeps 4 accumulators
// (element index mod 4) so the fused multiply-adds of one token do not wait on each other.
template <int NT, bool F16>
inline void float_tile(const void* w, const PackedAct& a, int t0, float* y, int64_t y_stride) {
    const float* x[NT];
    act_rows(a, t0, x);
    __m256 acc[NT][4];
    RL_UNROLL for (int t = 0; t < NT; t++) RL_UNROLL for (int k = 0; k < 4; k++) acc[t][k] = _mm256_setzero_ps();
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

// Tiles of Max tokens, then one tile of the remaining 1..Max-1. T<NT>::run(w, a, t0, y, y_stride).
template <template <int> class T, int N>
inline void tail_tile(int rest, const void* w, const PackedAct& a, int t0, float* y, int64_t y_stride) {
    if constexpr (N > 0) {
        if (rest == N) T<N>::run(w, a, t0, y, y_stride);
        else tail_tile<T, N - 1>(rest, w, a, t0, y, y_stride);
    }
}
template <int Max, template <int> class T>
inline void tiles(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    int t = 0;
    for (; t + Max <= n_tok; t += Max) T<Max>::run(w, a, t, y, y_stride);
    tail_tile<T, Max - 1>(n_tok - t, w, a, t, y, y_stride);
}
// RL_TILE(Name, kernel<NT, ...>) names a tile kernel for tiles<>.
#define RL_TILE(Name, ...)                                                                     \
    template <int NT>                                                                          \
    struct Name {                                                                              \
        static void run(const void* w, const PackedAct& a, int t0, float* y, int64_t stride) { \
            __VA_ARGS__(w, a, t0, y, stride);                                                  \
        }                                                                                      \
    };

// The tier's gemm_* entry points (packed.h) from its q_0_tile, k45_tile and q6_K_tile kernels and
// the shared float_tile: MaxInt tokens per tile for the integer types, MaxFloat for F16/F32.
#define RL_PACKED_X86_GEMMS(MaxInt, MaxFloat)                                                                      \
    RL_TILE(Q4_0, q_0_tile<NT, true>)                                                                             \
    RL_TILE(Q8_0, q_0_tile<NT, false>)                                                                            \
    RL_TILE(Q4_K, k45_tile<NT, BlockQ4_Kx8, false>)                                                               \
    RL_TILE(Q5_K, k45_tile<NT, BlockQ5_Kx8, true>)                                                                \
    RL_TILE(Q6_K, q6_K_tile<NT>)                                                                                  \
    RL_TILE(F16, float_tile<NT, true>)                                                                            \
    RL_TILE(F32, float_tile<NT, false>)                                                                           \
    void gemm_q4_0x8(const void* w, const PackedAct& a, int n, float* y, int64_t s) { tiles<MaxInt, Q4_0>(w, a, n, y, s); } \
    void gemm_q8_0x8(const void* w, const PackedAct& a, int n, float* y, int64_t s) { tiles<MaxInt, Q8_0>(w, a, n, y, s); } \
    void gemm_q4_Kx8(const void* w, const PackedAct& a, int n, float* y, int64_t s) { tiles<MaxInt, Q4_K>(w, a, n, y, s); } \
    void gemm_q5_Kx8(const void* w, const PackedAct& a, int n, float* y, int64_t s) { tiles<MaxInt, Q5_K>(w, a, n, y, s); } \
    void gemm_q6_Kx8(const void* w, const PackedAct& a, int n, float* y, int64_t s) { tiles<MaxInt, Q6_K>(w, a, n, y, s); } \
    void gemm_f16x8(const void* w, const PackedAct& a, int n, float* y, int64_t s) { tiles<MaxFloat, F16>(w, a, n, y, s); } \
    void gemm_f32x8(const void* w, const PackedAct& a, int n, float* y, int64_t s) { tiles<MaxFloat, F32>(w, a, n, y, s); }

}  // namespace
}  // namespace rl

#endif
