// NEON packed 8-row kernels (packed.h): a 16-byte half of a packed chunk holds 4 consecutive bytes
// of rows 0-3 (or 4-7), so one SDOT by lane — or, without dotprod, vmull_s8 + vpadalq_s16 against
// the broadcast activation bytes — gives 4 rows' partial dots at once. Bit-identical to generic::
// (exact integer block sums; one fused multiply-add per block, in block order).
#include "../packed.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>

#include "../../util/cpu_features.h"

// The SDOT path is compiled for armv8.2-a+dotprod and only called when the CPU reports it.
// GCC takes a target attribute; clang's older arm_neon.h needs the feature at compile time.
#if defined(__ARM_FEATURE_DOTPROD)
#define RL_HAVE_SDOT 1
#define RL_SDOT
#elif defined(__GNUC__) && !defined(__clang__)
#define RL_HAVE_SDOT 1
#define RL_SDOT __attribute__((target("arch=armv8.2-a+dotprod")))
#else
#define RL_HAVE_SDOT 0
#endif

namespace rl {
namespace neon {

static inline const BlockQ8_0* act_row(const PackedAct& a, int t) {
    return (const BlockQ8_0*)((const uint8_t*)a.q + (size_t)t * a.q_stride);
}

// acc = fma(float(S), d_w * d_a, acc) for rows 0-3 (s0) and 4-7 (s1): generic's float step.
static inline void block_fma(const uint16_t* dw, float da, int32x4_t s0, int32x4_t s1, float32x4_t* acc) {
    const float32x4_t dw0 = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(dw)));
    const float32x4_t dw1 = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(dw + 4)));
    acc[0] = vfmaq_f32(acc[0], vcvtq_f32_s32(s0), vmulq_n_f32(dw0, da));
    acc[1] = vfmaq_f32(acc[1], vcvtq_f32_s32(s1), vmulq_n_f32(dw1, da));
}

// One Q4_0 or Q8_0 packed block as 8 weight registers per half ([k][0]: rows 0-3, [k][1]: rows
// 4-7), k in element order: k < 4 are elements 4k..4k+3 (activation bytes alo, lane k), k >= 4
// elements 16+4(k-4).. (ahi, lane k-4). Q4_0 nibbles become signed values (nibble - 8).
template <bool Q4>
static inline const uint16_t* load_block(const void* w, int64_t b, int8x16_t (&wr)[8][2]) {
    if constexpr (Q4) {
        const BlockQ4_0x8& blk = ((const BlockQ4_0x8*)w)[b];
        const int8x16_t k8 = vdupq_n_s8(8);
        for (int c = 0; c < 4; c++)
            for (int h = 0; h < 2; h++) {
                const uint8x16_t raw = vld1q_u8(blk.qs + 32 * c + 16 * h);
                wr[c][h] = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(raw, vdupq_n_u8(15))), k8);
                wr[c + 4][h] = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(raw, 4)), k8);
            }
        return blk.d;
    } else {
        const BlockQ8_0x8& blk = ((const BlockQ8_0x8*)w)[b];
        for (int c = 0; c < 8; c++)
            for (int h = 0; h < 2; h++) wr[c][h] = vld1q_s8(blk.qs + 32 * c + 16 * h);
        return blk.d;
    }
}

// NT tokens against one group; plain (vmull/vpadal) or SDOT block dots, the same float steps.
#define RL_Q_0_TILE(name, ATTR, DOT)                                                                    \
    template <int NT, bool Q4>                                                                          \
    ATTR static void name(const void* w, const PackedAct& a, int t0, float* y, int64_t y_stride) {      \
        const BlockQ8_0* q[NT];                                                                         \
        float32x4_t acc[NT][2];                                                                         \
        for (int t = 0; t < NT; t++) {                                                                  \
            q[t] = act_row(a, t0 + t);                                                                  \
            acc[t][0] = acc[t][1] = vdupq_n_f32(0.0f);                                                  \
        }                                                                                               \
        for (int64_t b = 0; b < a.nb; b++) {                                                            \
            int8x16_t wr[8][2];                                                                         \
            const uint16_t* d = load_block<Q4>(w, b, wr);                                               \
            for (int t = 0; t < NT; t++) {                                                              \
                int32x4_t s0, s1;                                                                       \
                DOT(wr, vld1q_s8(q[t][b].qs), vld1q_s8(q[t][b].qs + 16), &s0, &s1);                     \
                block_fma(d, a.d[(int64_t)(t0 + t) * a.nb + b], s0, s1, acc[t]);                         \
            }                                                                                           \
        }                                                                                               \
        for (int t = 0; t < NT; t++) {                                                                  \
            vst1q_f32(y + (t0 + t) * y_stride, acc[t][0]);                                              \
            vst1q_f32(y + (t0 + t) * y_stride + 4, acc[t][1]);                                          \
        }                                                                                               \
    }                                                                                                   \
    template <bool Q4>                                                                                  \
    ATTR static void name##_gemm(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) {   \
        int t = 0;                                                                                      \
        for (; t + 4 <= n_tok; t += 4) name<4, Q4>(w, a, t, y, s);                                      \
        if (n_tok - t == 3) name<3, Q4>(w, a, t, y, s);                                                 \
        if (n_tok - t == 2) name<2, Q4>(w, a, t, y, s);                                                 \
        if (n_tok - t == 1) name<1, Q4>(w, a, t, y, s);                                                 \
    }

// ---------------------------------------------------------------- without dotprod

// 4 bytes of the activation (group L of a) in every 32-bit lane.
template <int L>
static inline int8x16_t bcast4(int8x16_t a) {
    return vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(a), L));
}

// Pair sums of w * b: lanes (r0, r0, r1, r1) into p01, (r2, r2, r3, r3) into p23; products fit int16.
static inline void mla_pairs(int32x4_t* p01, int32x4_t* p23, int8x16_t w, int8x16_t b) {
    *p01 = vpadalq_s16(*p01, vmull_s8(vget_low_s8(w), vget_low_s8(b)));
    *p23 = vpadalq_s16(*p23, vmull_high_s8(w, b));
}

// One chunk of a block for 8 rows: p[0..1] rows 0-3, p[2..3] rows 4-7.
template <int L>
static inline void mla_chunk(int32x4_t* p, int8x16_t w0, int8x16_t w1, int8x16_t a) {
    const int8x16_t b = bcast4<L>(a);
    mla_pairs(&p[0], &p[1], w0, b);
    mla_pairs(&p[2], &p[3], w1, b);
}

// Block dot of 8 rows (s0: rows 0-3, s1: rows 4-7) with the block's activations.
static inline void dot_plain(const int8x16_t (&wr)[8][2], int8x16_t alo, int8x16_t ahi, int32x4_t* s0, int32x4_t* s1) {
    int32x4_t p[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
    mla_chunk<0>(p, wr[0][0], wr[0][1], alo);
    mla_chunk<1>(p, wr[1][0], wr[1][1], alo);
    mla_chunk<2>(p, wr[2][0], wr[2][1], alo);
    mla_chunk<3>(p, wr[3][0], wr[3][1], alo);
    mla_chunk<0>(p, wr[4][0], wr[4][1], ahi);
    mla_chunk<1>(p, wr[5][0], wr[5][1], ahi);
    mla_chunk<2>(p, wr[6][0], wr[6][1], ahi);
    mla_chunk<3>(p, wr[7][0], wr[7][1], ahi);
    *s0 = vpaddq_s32(p[0], p[1]);
    *s1 = vpaddq_s32(p[2], p[3]);
}

RL_Q_0_TILE(q_0_tile_plain, , dot_plain)

// ---------------------------------------------------------------- with dotprod (SDOT by lane)

#if RL_HAVE_SDOT

RL_SDOT static inline void dot_sdot(const int8x16_t (&wr)[8][2], int8x16_t alo, int8x16_t ahi, int32x4_t* s0,
                                    int32x4_t* s1) {
    int32x4_t* s[2] = {s0, s1};
    for (int h = 0; h < 2; h++) {
        int32x4_t v = vdupq_n_s32(0);
        v = vdotq_laneq_s32(v, wr[0][h], alo, 0);
        v = vdotq_laneq_s32(v, wr[1][h], alo, 1);
        v = vdotq_laneq_s32(v, wr[2][h], alo, 2);
        v = vdotq_laneq_s32(v, wr[3][h], alo, 3);
        v = vdotq_laneq_s32(v, wr[4][h], ahi, 0);
        v = vdotq_laneq_s32(v, wr[5][h], ahi, 1);
        v = vdotq_laneq_s32(v, wr[6][h], ahi, 2);
        *s[h] = vdotq_laneq_s32(v, wr[7][h], ahi, 3);
    }
}

RL_Q_0_TILE(q_0_tile_sdot, RL_SDOT, dot_sdot)

#endif  // RL_HAVE_SDOT
#undef RL_Q_0_TILE

static bool use_sdot() {
#if RL_HAVE_SDOT
    static const bool dotprod = cpu_features_get().dotprod;
    return dotprod;
#else
    return false;
#endif
}

void gemm_q4_0x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
#if RL_HAVE_SDOT
    if (use_sdot()) return q_0_tile_sdot_gemm<true>(w, a, n_tok, y, y_stride);
#endif
    q_0_tile_plain_gemm<true>(w, a, n_tok, y, y_stride);
}

void gemm_q8_0x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
#if RL_HAVE_SDOT
    if (use_sdot()) return q_0_tile_sdot_gemm<false>(w, a, n_tok, y, y_stride);
#endif
    q_0_tile_plain_gemm<false>(w, a, n_tok, y, y_stride);
}

// ---------------------------------------------------------------- K-quants (Q8_K activations)
// SDOT here is chosen at compile time (as in quants_neon.cpp): a build for dotprod CPUs uses it.

// Dots of 4 rows (one 16-byte half of a chunk) with 4-element runs of the activations.
struct RowDot4 {
    int32x4_t p01, p23;  // SDOT: p01 = the 4 row sums; otherwise pair sums of rows 0-1 and 2-3
};
static inline RowDot4 rowdot_zero() { return RowDot4{vdupq_n_s32(0), vdupq_n_s32(0)}; }
// d += w (4 bytes per row) . run L of a (bytes 4L..4L+3).
template <int L>
static inline void rowdot_add(RowDot4* d, int8x16_t w, int8x16_t a) {
#if defined(__ARM_FEATURE_DOTPROD)
    d->p01 = vdotq_laneq_s32(d->p01, w, a, L);
#else
    mla_pairs(&d->p01, &d->p23, w, bcast4<L>(a));
#endif
}
static inline int32x4_t rowdot_sum(const RowDot4& d) {
#if defined(__ARM_FEATURE_DOTPROD)
    return d.p01;
#else
    return vpaddq_s32(d.p01, d.p23);
#endif
}

// 8 bytes (one per row) widened to int32: rows 0-3 in lo, 4-7 in hi.
static inline void widen_u8(const uint8_t* p, int32x4_t* lo, int32x4_t* hi) {
    const uint16x8_t v = vmovl_u8(vld1_u8(p));
    *lo = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(v)));
    *hi = vreinterpretq_s32_u32(vmovl_u16(vget_high_u16(v)));
}
static inline void widen_s8(const int8_t* p, int32x4_t* lo, int32x4_t* hi) {
    const int16x8_t v = vmovl_s8(vld1_s8(p));
    *lo = vmovl_s16(vget_low_s16(v));
    *hi = vmovl_s16(vget_high_s16(v));
}

// Q4_K / Q5_K chunk (j, C) of rows 4h..4h+3: low nibbles feed sub-block 2j (activations lo), high
// 2j+1 (hi); Q5_K or-s in each element's fifth bit (bit 2j / 2j+1 of its qh byte; the shifts are
// -2j and -(2j+1)) as bit 4.
template <int C, bool Q5>
static inline void k45_chunk(const uint8_t* qs, const uint8_t* qh, int8x16_t sh_lo, int8x16_t sh_hi, int8x16_t alo,
                             int8x16_t ahi, RowDot4* dlo, RowDot4* dhi) {
    const uint8x16_t raw = vld1q_u8(qs + 32 * C);
    uint8x16_t lo = vandq_u8(raw, vdupq_n_u8(15)), hi = vshrq_n_u8(raw, 4);
    if constexpr (Q5) {
        const uint8x16_t hb = vld1q_u8(qh + 32 * C), one = vdupq_n_u8(1);
        lo = vorrq_u8(lo, vshlq_n_u8(vandq_u8(vshlq_u8(hb, sh_lo), one), 4));
        hi = vorrq_u8(hi, vshlq_n_u8(vandq_u8(vshlq_u8(hb, sh_hi), one), 4));
    }
    rowdot_add<C % 4>(dlo, vreinterpretq_s8_u8(lo), alo);
    rowdot_add<C % 4>(dhi, vreinterpretq_s8_u8(hi), ahi);
}

// Super-block b of the group times one token: sumi and summ of rows 0-3 ([0]) and 4-7 ([1]).
template <typename B, bool Q5>
static inline void k45_block(const B& w, const BlockQ8K& q, int32x4_t* sumi, int32x4_t* summ) {
    for (int h = 0; h < 2; h++) sumi[h] = summ[h] = vdupq_n_s32(0);
    for (int j = 0; j < 4; j++) {
        const int8_t* a = q.qs + 64 * j;
        const int8x16_t a0 = vld1q_s8(a), a1 = vld1q_s8(a + 16), a2 = vld1q_s8(a + 32), a3 = vld1q_s8(a + 48);
        const int8x16_t sl = vdupq_n_s8((int8_t)(-2 * j)), sh = vdupq_n_s8((int8_t)(-2 * j - 1));
        for (int h = 0; h < 2; h++) {
            const uint8_t* qs = w.qs + 256 * j + 16 * h;
            const uint8_t* qh = nullptr;
            if constexpr (Q5) qh = w.qh + 16 * h;
            RowDot4 dlo = rowdot_zero(), dhi = rowdot_zero();
            k45_chunk<0, Q5>(qs, qh, sl, sh, a0, a2, &dlo, &dhi);
            k45_chunk<1, Q5>(qs, qh, sl, sh, a0, a2, &dlo, &dhi);
            k45_chunk<2, Q5>(qs, qh, sl, sh, a0, a2, &dlo, &dhi);
            k45_chunk<3, Q5>(qs, qh, sl, sh, a0, a2, &dlo, &dhi);
            k45_chunk<4, Q5>(qs, qh, sl, sh, a1, a3, &dlo, &dhi);
            k45_chunk<5, Q5>(qs, qh, sl, sh, a1, a3, &dlo, &dhi);
            k45_chunk<6, Q5>(qs, qh, sl, sh, a1, a3, &dlo, &dhi);
            k45_chunk<7, Q5>(qs, qh, sl, sh, a1, a3, &dlo, &dhi);
            int32x4_t sc[2][2], m[2][2];  // [sub-block 2j / 2j+1][rows 0-3 / 4-7]
            widen_u8(w.sc[2 * j], &sc[0][0], &sc[0][1]);
            widen_u8(w.sc[2 * j + 1], &sc[1][0], &sc[1][1]);
            widen_u8(w.m[2 * j], &m[0][0], &m[0][1]);
            widen_u8(w.m[2 * j + 1], &m[1][0], &m[1][1]);
            sumi[h] = vmlaq_s32(vmlaq_s32(sumi[h], rowdot_sum(dlo), sc[0][h]), rowdot_sum(dhi), sc[1][h]);
            summ[h] = vmlaq_n_s32(summ[h], m[0][h], q.bsums[4 * j] + q.bsums[4 * j + 1]);
            summ[h] = vmlaq_n_s32(summ[h], m[1][h], q.bsums[4 * j + 2] + q.bsums[4 * j + 3]);
        }
    }
}

// Q6_K group g of rows 4h..4h+3 against activations a (16 bytes): runs 4g..4g+3.
static inline int32x4_t q6_K_group(const uint8_t* ql, const uint8_t* qh, int8x16_t a) {
    const uint8x16_t l0 = vld1q_u8(ql), l1 = vld1q_u8(ql + 32), hb = vld1q_u8(qh);
    const uint8x16_t m4 = vdupq_n_u8(15), m3 = vdupq_n_u8(3);
    const int8x16_t k32 = vdupq_n_s8(32);
    const uint8x16_t v0 = vorrq_u8(vandq_u8(l0, m4), vshlq_n_u8(vandq_u8(hb, m3), 4));
    const uint8x16_t v1 = vorrq_u8(vshrq_n_u8(l0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 2), m3), 4));
    const uint8x16_t v2 = vorrq_u8(vandq_u8(l1, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 4), m3), 4));
    const uint8x16_t v3 = vorrq_u8(vshrq_n_u8(l1, 4), vshlq_n_u8(vshrq_n_u8(hb, 6), 4));
    RowDot4 d = rowdot_zero();
    rowdot_add<0>(&d, vsubq_s8(vreinterpretq_s8_u8(v0), k32), a);
    rowdot_add<1>(&d, vsubq_s8(vreinterpretq_s8_u8(v1), k32), a);
    rowdot_add<2>(&d, vsubq_s8(vreinterpretq_s8_u8(v2), k32), a);
    rowdot_add<3>(&d, vsubq_s8(vreinterpretq_s8_u8(v3), k32), a);
    return rowdot_sum(d);
}

static inline void q6_K_block(const BlockQ6_Kx8& w, const BlockQ8K& q, int32x4_t* sumi) {
    sumi[0] = sumi[1] = vdupq_n_s32(0);
    for (int g = 0; g < 16; g++) {
        const int8x16_t a = vld1q_s8(q.qs + 16 * g);
        int32x4_t sc[2];
        widen_s8(w.sc[g], &sc[0], &sc[1]);
        for (int h = 0; h < 2; h++)
            sumi[h] = vmlaq_s32(sumi[h], q6_K_group(w.grp[g].ql + 16 * h, w.grp[g].qh + 16 * h, a), sc[h]);
    }
}

// NT tokens against one group; the group's super-block stays in L1 while the NT tokens read it.
template <int NT, typename B, bool Q5>
static void k45_tile(const B* wb, const PackedAct& a, int t0, float* y, int64_t y_stride) {
    float32x4_t acc[NT][2];
    for (int t = 0; t < NT; t++) acc[t][0] = acc[t][1] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < a.nb; b++) {
        const float32x4_t dw[2] = {vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(wb[b].d))),
                                   vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(wb[b].d + 4)))};
        const float32x4_t dm[2] = {vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(wb[b].dmin))),
                                   vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(wb[b].dmin + 4)))};
        for (int t = 0; t < NT; t++) {
            const BlockQ8K& q = ((const BlockQ8K*)((const uint8_t*)a.q + (size_t)(t0 + t) * a.q_stride))[b];
            int32x4_t sumi[2], summ[2];
            k45_block<B, Q5>(wb[b], q, sumi, summ);
            for (int h = 0; h < 2; h++) {
                acc[t][h] = vfmaq_f32(acc[t][h], vcvtq_f32_s32(sumi[h]), vmulq_n_f32(dw[h], q.d));
                acc[t][h] = vfmaq_f32(acc[t][h], vcvtq_f32_s32(vnegq_s32(summ[h])), vmulq_n_f32(dm[h], q.d));
            }
        }
    }
    for (int t = 0; t < NT; t++) {
        vst1q_f32(y + (t0 + t) * y_stride, acc[t][0]);
        vst1q_f32(y + (t0 + t) * y_stride + 4, acc[t][1]);
    }
}

template <int NT>
static void q6_K_tile(const BlockQ6_Kx8* wb, const PackedAct& a, int t0, float* y, int64_t y_stride) {
    float32x4_t acc[NT][2];
    for (int t = 0; t < NT; t++) acc[t][0] = acc[t][1] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < a.nb; b++) {
        const float32x4_t dw[2] = {vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(wb[b].d))),
                                   vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(wb[b].d + 4)))};
        for (int t = 0; t < NT; t++) {
            const BlockQ8K& q = ((const BlockQ8K*)((const uint8_t*)a.q + (size_t)(t0 + t) * a.q_stride))[b];
            int32x4_t sumi[2];
            q6_K_block(wb[b], q, sumi);
            for (int h = 0; h < 2; h++)
                acc[t][h] = vfmaq_f32(acc[t][h], vcvtq_f32_s32(sumi[h]), vmulq_n_f32(dw[h], q.d));
        }
    }
    for (int t = 0; t < NT; t++) {
        vst1q_f32(y + (t0 + t) * y_stride, acc[t][0]);
        vst1q_f32(y + (t0 + t) * y_stride + 4, acc[t][1]);
    }
}

void gemm_q4_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) {
    const BlockQ4_Kx8* wb = (const BlockQ4_Kx8*)w;
    int t = 0;
    for (; t + 4 <= n_tok; t += 4) k45_tile<4, BlockQ4_Kx8, false>(wb, a, t, y, s);
    for (; t < n_tok; t++) k45_tile<1, BlockQ4_Kx8, false>(wb, a, t, y, s);
}

void gemm_q5_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) {
    const BlockQ5_Kx8* wb = (const BlockQ5_Kx8*)w;
    int t = 0;
    for (; t + 4 <= n_tok; t += 4) k45_tile<4, BlockQ5_Kx8, true>(wb, a, t, y, s);
    for (; t < n_tok; t++) k45_tile<1, BlockQ5_Kx8, true>(wb, a, t, y, s);
}

void gemm_q6_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) {
    const BlockQ6_Kx8* wb = (const BlockQ6_Kx8*)w;
    int t = 0;
    for (; t + 4 <= n_tok; t += 4) q6_K_tile<4>(wb, a, t, y, s);
    for (; t < n_tok; t++) q6_K_tile<1>(wb, a, t, y, s);
}

// F16 / F32: the 8 rows of an element in two registers; 4 partial sums (element index mod 4), each a
// fused multiply-add per element like fmaf, combined as (p0 + p1) + (p2 + p3).
template <bool F16>
static void gemm_float(const void* w, const PackedAct& a, int n_tok, float* y, int64_t y_stride) {
    const int64_t n = a.nb * 8;
    for (int t = 0; t < n_tok; t++) {
        const float* x = (const float*)((const uint8_t*)a.q + (size_t)t * a.q_stride);
        float32x4_t acc[4][2];
        for (int k = 0; k < 4; k++) acc[k][0] = acc[k][1] = vdupq_n_f32(0.0f);
        for (int64_t i = 0; i < n; i += 4) {
            for (int k = 0; k < 4; k++) {
                float32x4_t lo, hi;
                if (F16) {
                    const float16_t* p = (const float16_t*)((const uint16_t*)w + (i + k) * 8);
                    lo = vcvt_f32_f16(vld1_f16(p));
                    hi = vcvt_f32_f16(vld1_f16(p + 4));
                } else {
                    lo = vld1q_f32((const float*)w + (i + k) * 8);
                    hi = vld1q_f32((const float*)w + (i + k) * 8 + 4);
                }
                acc[k][0] = vfmaq_n_f32(acc[k][0], lo, x[i + k]);
                acc[k][1] = vfmaq_n_f32(acc[k][1], hi, x[i + k]);
            }
        }
        for (int h = 0; h < 2; h++)
            vst1q_f32(y + t * y_stride + 4 * h,
                      vaddq_f32(vaddq_f32(acc[0][h], acc[1][h]), vaddq_f32(acc[2][h], acc[3][h])));
    }
}

void gemm_f16x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { gemm_float<true>(w, a, n_tok, y, s); }
void gemm_f32x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { gemm_float<false>(w, a, n_tok, y, s); }

bool packed_uses_sdot() { return use_sdot(); }

}  // namespace neon
}  // namespace rl

#else  // not aarch64: the table never selects these

namespace rl {
namespace neon {
void gemm_q4_0x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_q4_0x8(w, a, n_tok, y, s); }
void gemm_q8_0x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_q8_0x8(w, a, n_tok, y, s); }
void gemm_q4_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_q4_Kx8(w, a, n_tok, y, s); }
void gemm_q6_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_q6_Kx8(w, a, n_tok, y, s); }
void gemm_f16x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_f16x8(w, a, n_tok, y, s); }
void gemm_q5_Kx8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_q5_Kx8(w, a, n_tok, y, s); }
void gemm_f32x8(const void* w, const PackedAct& a, int n_tok, float* y, int64_t s) { generic::gemm_f32x8(w, a, n_tok, y, s); }
bool packed_uses_sdot() { return false; }
}  // namespace neon
}  // namespace rl

#endif
